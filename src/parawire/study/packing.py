"""Several networks on one GPU: how many train at once, and how busy the GPU was meanwhile.

A study's networks (0.1-3 M parameters, batch 128 of 32x32 images) each fill a small part of an
H100/H200, so a study trains several at once, one process each (:func:`networks_per_device`).
The count is the smallest of three limits, each a named constant below:

* streaming multiprocessors: one network per ``SMS_PER_NETWORK`` SMs (8 on an H200's 132), so
  that the compiled steps' kernels of the networks still run side by side;
* memory: one network per ``BYTES_PER_NETWORK`` of the free memory (a CUDA context, the uint8
  data set, activations, CUDA-graph pools);
* CPU cores: one network per ``CORES_PER_NETWORK`` cores, since each process compiles its
  network (inductor) and feeds its GPU work from Python.

On a CPU the auto count is 1: the cores go to one network's intra-op threads.

:class:`UtilisationSampler` samples the GPU's utilisation (NVML, through
``torch.cuda.utilization``; needs ``pynvml``, from the ``nvidia-ml-py`` package) once a second
while a study trains, and says so when it cannot measure it.
"""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass
from typing import Any

from parawire.measure import available_cores

SMS_PER_NETWORK = 16  # streaming multiprocessors per concurrently trained network
BYTES_PER_NETWORK = 8 << 30  # GPU memory budgeted per network (context, data, activations)
CORES_PER_NETWORK = 2  # CPU cores per training process (compilation, Python dispatch)
SAMPLE_EVERY_S = 1.0  # utilisation sampling period


@dataclass(frozen=True)
class Packing:
    """How many networks train at once on a device, and what limited the number."""

    workers: int  # processes training at once
    reason: str  # why this many, for the log and the results


def networks_per_device(device: str | None, jobs: int, requested: int = 0) -> Packing:
    """Workers for ``jobs`` networks on ``device``: ``requested`` when > 0, else the auto count
    (see the module docstring); never more than ``jobs``."""
    import torch

    from parawire.train.models import pick_device

    jobs = max(1, jobs)
    if requested > 0:
        return Packing(min(requested, jobs), f"{requested} requested (--workers)")
    dev = pick_device(device)
    if dev.type != "cuda":
        return Packing(1, f"auto on {dev.type}: one network uses every core")
    props = torch.cuda.get_device_properties(dev)
    cores = len(available_cores())  # those this process may use (taskset), not the machine's
    free, _ = torch.cuda.mem_get_info(dev)
    limits = {
        f"{props.multi_processor_count} SMs / {SMS_PER_NETWORK}": props.multi_processor_count
        // SMS_PER_NETWORK,
        f"{free / 2**30:.0f} GiB free / {BYTES_PER_NETWORK >> 30} GiB": free // BYTES_PER_NETWORK,
        f"{cores} cores / {CORES_PER_NETWORK}": cores // CORES_PER_NETWORK,
        f"{jobs} networks to train": jobs,
    }
    name, count = min(limits.items(), key=lambda kv: kv[1])
    return Packing(max(1, int(count)), f"auto on {props.name}: limited by {name}")


class UtilisationSampler:
    """Samples the GPU's utilisation in a background thread (a context manager); see
    :meth:`summary`."""

    def __init__(self, device: str | None, period_s: float = SAMPLE_EVERY_S) -> None:
        self.device, self.period_s = device, period_s
        self.samples: list[int] = []
        self._dev: Any = None  # the resolved torch device (set by _why_not)
        self.unavailable = self._why_not()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _why_not(self) -> str | None:
        import torch

        from parawire.train.models import pick_device

        dev = self._dev = pick_device(self.device)
        if dev.type != "cuda":
            return f"not measured: training ran on {dev.type}, not a GPU"
        try:
            torch.cuda.utilization(dev)
        except (ModuleNotFoundError, ImportError):
            return "not measurable: pynvml (pip install nvidia-ml-py) is not installed"
        except RuntimeError as exc:
            return f"not measurable: NVML failed ({str(exc).splitlines()[0]})"
        return None

    def _run(self) -> None:
        import torch

        while not self._stop.wait(self.period_s):
            try:
                self.samples.append(int(torch.cuda.utilization(self._dev)))
            except RuntimeError:  # NVML went away: keep what was sampled
                return

    def __enter__(self) -> UtilisationSampler:
        if self.unavailable is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5 * self.period_s)

    def summary(self) -> dict[str, Any]:
        """``{"mean_pct", "max_pct", "samples"}`` over the run, or ``{"note": why not}``."""
        if self.unavailable is not None:
            return {"note": self.unavailable}
        if not self.samples:
            return {"note": "no sample: training ended within the first sampling period"}
        return {
            "mean_pct": statistics.fmean(self.samples),
            "max_pct": max(self.samples),
            "samples": len(self.samples),
            "period_s": self.period_s,
        }
