"""One side of the gloo ping-pong that ``parawire calibrate`` runs between two processes.

Run as a script (so the child imports only torch, not parawire), e.g.::

    python _gloo_probe.py --rank 0 --port 29500 --small 256 --large 4194304 --repeats 10

Rank 0 prints one JSON line: the fastest one-way seconds of the small and large messages.

Both ranks listen on loopback only: rank 0 serves the rendezvous (a TCPStore) on a socket it
binds to 127.0.0.1 itself (a plain ``init_method="tcp://..."`` store listens on every
interface), and gloo is pinned to the loopback interface (``GLOO_SOCKET_IFNAME``), whatever
the environment says. torch.distributed has no authentication: nothing else may connect.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time
from datetime import timedelta

import torch
import torch.distributed as dist

LOOPBACK = "127.0.0.1"


def pin_gloo_to_loopback() -> None:
    """Make gloo's own listeners use the loopback interface (Linux ``lo``, macOS ``lo0``)."""
    names = [name for _, name in socket.if_nameindex() if name.startswith("lo")]
    if names:
        os.environ["GLOO_SOCKET_IFNAME"] = names[0]


def open_store(rank: int, port: int, timeout: float) -> dist.TCPStore:
    """The rendezvous: rank 0 serves it on ``LOOPBACK:port`` only, rank 1 connects to it."""
    wait = timedelta(seconds=timeout)
    if rank != 0:
        return dist.TCPStore(LOOPBACK, port, is_master=False, timeout=wait)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOOPBACK, port))
    listener.listen(8)
    store = dist.TCPStore(
        LOOPBACK,
        port,
        2,
        is_master=True,
        timeout=wait,
        wait_for_workers=False,
        master_listen_fd=listener.fileno(),
    )
    listener.detach()  # the store owns the listening descriptor now
    return store


def ping_pong(nbytes: int, repeats: int, rank: int) -> float:
    """Fastest one-way time of a message (half a round trip), after 2 warm-up rounds.

    The minimum, not the median: on a shared machine other processes delay wake-ups by whole
    scheduler slices, which says nothing about the link.
    """
    buf = torch.zeros(max(nbytes // 4, 1), dtype=torch.float32)
    times = []
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        if rank == 0:
            dist.send(buf, 1)
            dist.recv(buf, 1)
        else:
            dist.recv(buf, 0)
            dist.send(buf, 0)
        if i >= 2:
            times.append((time.perf_counter() - t0) / 2)
    return min(times), statistics.median(times)


def main() -> None:
    """Join a 2-rank gloo group on loopback only, measure, print (rank 0), leave cleanly."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--small", type=int, required=True)
    parser.add_argument("--large", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pin_gloo_to_loopback()
    dist.init_process_group(
        "gloo",
        store=open_store(args.rank, args.port, args.timeout),
        rank=args.rank,
        world_size=2,
        timeout=timedelta(seconds=args.timeout),
    )
    try:
        small, small_median = ping_pong(args.small, args.repeats * 10, args.rank)
        large, large_median = ping_pong(args.large, args.repeats, args.rank)
        if args.rank == 0:
            figures = {"small_s": small, "large_s": large, "small_median_s": small_median}
            print(json.dumps({**figures, "large_median_s": large_median}), flush=True)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
