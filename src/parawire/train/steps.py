"""One training step and one evaluation batch, eager or compiled with ``torch.compile``.

Why compile: a 40-vertex dp network runs hundreds of small kernels per step, and in eager mode
each costs a Python dispatch and a kernel launch, so an epoch of CIFAR-10 took about 19 s on an
H100 while the GPU idled (BENCHMARKS.md). Compiled, the forward pass, the loss and their
backward become a few fused kernels, and on CUDA the ``reduce-overhead`` mode replays them as
one CUDA graph per step (the shapes are static: training drops a last partial batch).

Mode chosen deliberately (:data:`DEFAULT_MODES`):

* CUDA: ``reduce-overhead`` (inductor + CUDA graphs). The step is launch-bound, which only CUDA
  graphs remove; ``max-autotune-no-cudagraphs`` benchmarks kernel variants for every shape,
  minutes of compile per architecture that a study of 20-30 different networks in a 10-minute
  session cannot pay, and leaves the launches.
* CPU: ``default`` (inductor, C++ kernels; needs a C compiler). Off unless asked for: compiling
  a network on 2 cores takes 10-60 s, more than a short CPU run saves.

What the compiled path keeps from the eager one: the same seeds, batches, recipe and schedule
(the learning rate and momentum stay Python numbers written into the optimiser's groups, which
runs eagerly), so it trains the same network to the same accuracy within noise; the rounding
differs (fused kernels sum in another order), so the weights are not bit-identical.

No host synchronisation: the loss sum and the number of correct predictions are accumulated in
device tensors that the loop reads once per epoch (:class:`Tally`).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass

import torch
from torch import nn

from parawire.errors import ConfigError

DEFAULT_MODES = {"cuda": "reduce-overhead", "cpu": "default"}  # see the module docstring
MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
BACKENDS = ("inductor", "aot_eager", "eager")  # aot_eager: no C compiler needed (tests)
C_COMPILERS = ("cc", "gcc", "clang")  # inductor's CPU kernels are C++ built at run time


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA (tensor cores, half the activation memory); off elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@dataclass(frozen=True)
class Compilation:
    """How the steps run: eagerly (``mode`` None) or compiled."""

    mode: str | None = None  # torch.compile mode (MODES); None: eager
    backend: str = "inductor"  # torch.compile backend (BACKENDS)

    @property
    def compiled(self) -> bool:
        """True when the steps go through ``torch.compile``."""
        return self.mode is not None

    @property
    def cuda_graphs(self) -> bool:
        """True when the compiled steps replay CUDA graphs (they need a step marker)."""
        return self.compiled and self.backend == "inductor" and "reduce-overhead" in str(self.mode)

    def describe(self) -> str:
        """``eager`` or ``compiled (mode, backend)``, for logs and metrics."""
        return "eager" if self.mode is None else f"compiled ({self.mode}, {self.backend})"


def compile_unavailable(device: torch.device, backend: str = "inductor") -> str | None:
    """Why ``torch.compile`` cannot run here with ``backend``, or None when it can."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile (2.0 or newer needed)"
    if sys.platform == "win32":
        return "torch.compile is not supported on Windows"
    if backend != "inductor":
        return None
    if device.type == "cuda":
        try:
            import triton  # noqa: F401  (inductor's CUDA kernels)
        except ImportError:
            return "inductor needs triton on CUDA and it is not installed"
        return None
    if device.type != "cpu":
        return f"inductor does not compile for {device.type}"
    if not any(shutil.which(c) for c in (os.environ.get("CXX", ""), *C_COMPILERS) if c):
        return "inductor's CPU backend needs a C compiler (cc, gcc or clang) and none is on PATH"
    return None


def choose_compilation(
    compile: bool | None,
    device: torch.device,
    *,
    mode: str | None = None,
    backend: str = "inductor",
) -> Compilation:
    """The steps' compilation for a request: ``True`` compile (``ConfigError`` saying why not
    when this machine cannot), ``False`` eager, ``None`` compile on CUDA when it can."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown compile backend {backend!r}; choose one of {BACKENDS}")
    if mode is not None and mode not in MODES:
        raise ConfigError(f"unknown compile mode {mode!r}; choose one of {', '.join(MODES)}")
    if compile is False or (compile is None and device.type != "cuda"):
        return Compilation()
    reason = compile_unavailable(device, backend)
    if reason is not None:
        if compile is None:
            return Compilation()
        raise ConfigError(f"cannot compile the training step: {reason}; use --no-compile")
    return Compilation(mode or DEFAULT_MODES.get(device.type, "default"), backend)


class ModelLoss(nn.Module):
    """``model`` with its cross-entropy: (x, y) -> (loss, number correct), the loss the mean
    over the batch (training, with ``label_smoothing``) or its sum (evaluation: a
    :class:`Tally` adds batches of any size)."""

    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        *,
        label_smoothing: float = 0.0,
        reduction: str = "mean",  # "mean" (training) or "sum" (evaluation)
    ) -> None:
        super().__init__()
        self.model = model
        self.device = device
        self.label_smoothing = label_smoothing
        self.reduction = reduction

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(self.device):
            logits = self.model(x)  # (B, classes)
        logits = logits.float()
        loss = nn.functional.cross_entropy(
            logits, y, label_smoothing=self.label_smoothing, reduction=self.reduction
        )
        return loss, (logits.argmax(1) == y).sum()


class Tally:
    """Loss and correct predictions summed on the device; read (one sync) by :meth:`read`."""

    def __init__(self, device: torch.device) -> None:
        self.loss = torch.zeros((), device=device, dtype=torch.float64)
        self.correct = torch.zeros((), device=device, dtype=torch.int64)
        self.seen = 0  # images counted (known on the host: no device read)

    def add(self, loss_sum: torch.Tensor, correct: torch.Tensor, n: int) -> None:
        """Add a batch of ``n`` images: its summed loss and its number correct."""
        self.loss += loss_sum.detach()
        self.correct += correct
        self.seen += n

    def read(self) -> tuple[float, float]:
        """(mean loss, accuracy in %) so far; waits for the device."""
        return float(self.loss) / max(1, self.seen), 100.0 * float(self.correct) / max(1, self.seen)


class Steps:
    """The training step and the evaluation batch of one model, eager or compiled
    (``optimizer`` None: evaluation only)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None,
        label_smoothing: float,
        device: torch.device,
        compilation: Compilation,
    ) -> None:
        self.model, self.optimizer, self.device = model, optimizer, device
        self.compilation = compilation
        train = ModelLoss(model, device, label_smoothing=label_smoothing)
        test = ModelLoss(model, device, reduction="sum")
        self._train, self._eval = train, test
        if compilation.compiled:
            kw = {"backend": compilation.backend, "dynamic": False}
            if compilation.backend == "inductor":
                kw["mode"] = compilation.mode
            self._train = torch.compile(train, **kw)  # type: ignore[assignment]
            self._eval = torch.compile(test, **kw)  # type: ignore[assignment]

    def _mark_step(self) -> None:
        if self.compilation.cuda_graphs:  # a new iteration: earlier graph outputs may be reused
            torch.compiler.cudagraph_mark_step_begin()

    def train(self, x: torch.Tensor, y: torch.Tensor, tally: Tally) -> torch.Tensor:
        """Forward, backward and one optimiser step on (x, y); returns the (device) loss."""
        if self.optimizer is None:
            raise TypeError("these steps evaluate only: they were made without an optimiser")
        self._mark_step()
        loss, correct = self._train(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        tally.add(loss.detach() * len(y), correct, len(y))
        return loss

    def evaluate(self, x: torch.Tensor, y: torch.Tensor, tally: Tally) -> None:
        """Add one test batch's summed loss and correct predictions to ``tally``."""
        self._mark_step()
        loss, correct = self._eval(x, y)
        tally.add(loss, correct, len(y))
