"""How parawire runs torch when it times or executes inferences: threads and subnormals.

Subnormal floats (|x| < 1.2e-38 in float32) are what untrained networks compute: with their
seeded weights and batch-norm statistics at their defaults, activations shrink a little at every
vertex, and after a few dozen vertices (a 40-vertex chain, the deep paths of any generator) they
fall below the normal range. x86 cores compute on subnormals through microcode assists, tens of
times slower: a seeded 40-vertex chain ran 2.3x slower than with them flushed to zero (36 ms
against 15 ms on the 2-core development machine, the sum of its vertices timed alone 17 ms).
Such time is an artifact of the random weights, not a property of the architecture (a trained
network's activations stay normal, and Arm cores such as a Raspberry Pi's handle subnormals in
hardware), so every timing and every execution of an inference in parawire flushes them to zero
(FTZ/DAZ, ``torch.set_flush_denormal``), the single-process reference included: results differ
from IEEE float32 only where a value was below 1.2e-38.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def flush_subnormals() -> bool:
    """Flush float32 subnormals to zero in this process from now on; False where the CPU
    cannot (then timings of untrained networks may include subnormal arithmetic)."""
    return bool(torch.set_flush_denormal(True))


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Within the block, ``threads`` torch threads; the process's own number restored after
    (a library call must not change its caller's threads for good)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def inference_settings(threads: int) -> Iterator[None]:
    """Within the block: ``threads`` torch threads and subnormals flushed; both restored after
    (torch's default is not to flush, and it has no getter for the current setting)."""
    with torch_threads(threads):
        flushed = flush_subnormals()
        try:
            yield
        finally:
            if flushed:
                torch.set_flush_denormal(False)
