"""One side of the gloo ping-pong that ``parawire calibrate`` runs between two processes.

Run as a script (so the child imports only torch, not parawire), e.g.::

    python _gloo_probe.py --rank 0 --port 29500 --small 256 --large 4194304 --repeats 10

Rank 0 prints one JSON line: the fastest one-way seconds of the small and large messages.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta

import torch
import torch.distributed as dist


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
    return min(times)


def main() -> None:
    """Join a 2-rank gloo group on 127.0.0.1, measure, print (rank 0), leave cleanly."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--small", type=int, required=True)
    parser.add_argument("--large", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{args.port}",
        rank=args.rank,
        world_size=2,
        timeout=timedelta(seconds=args.timeout),
    )
    try:
        small = ping_pong(args.small, args.repeats * 10, args.rank)
        large = ping_pong(args.large, args.repeats, args.rank)
        if args.rank == 0:
            print(json.dumps({"small_s": small, "large_s": large}), flush=True)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
