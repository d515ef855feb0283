"""Contract of a latency predictor, and the registry every predictor is created through.

A ``Predictor`` maps one deployment, a :class:`Sample` (spec, k devices, placement, wire dtype,
measurement profile), to a latency in seconds. Every registered predictor, learned or baseline,
must satisfy the same contract, checked by the contract suite over the registry
(``tests/test_latency_predictors.py``):

* ``fit(samples)`` learns from samples whose ``latency_s`` is set (on log-latency); it is
  seeded: the same samples and seed give the same predictions; it records the digests it saw
  (``trained``);
* ``adapt(samples)`` transfers a fitted predictor to another measurement profile (a device)
  from a few of its rows (LitePred, HELP): it then predicts that profile;
* ``predict(samples)`` returns one positive, finite latency per sample (a NumPy array), batched;
* ``relaxed(spec, edge_weights, query)`` (``query``: a ``RelaxedQuery``, the deployment)
  returns a scalar tensor that autograd differentiates with
  respect to the edge weights (finite gradients), equal to ``predict`` at all-one weights up to
  the smoothing of the relaxation;
* ``state()`` / ``from_state(state, meta)`` round-trip the fitted predictor through tensors and
  plain JSON (no pickle): a predictor file is exactly that (``parawire.latency.files``);
* a sample a predictor cannot featurize (a spec over its padded size, a measurement profile it
  was not fitted on) is a one-line ``ConfigError``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from parawire.analysis.profiles import Profile
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError
from parawire.latency.store import REAL, REAL_CPU
from parawire.registry import Registry

if TYPE_CHECKING:
    from parawire.latency.differentiable import RelaxedQuery

REAL_PRIOR = "local-cpu"  # the simulation profile of real runs (parawire calibrate writes it)


@dataclass(frozen=True)
class Sample:
    """One deployment to predict (and, for fitting, its measured latency)."""

    spec: ArchSpec
    devices: int  # k: devices offered
    placement: Mapping[int, int]  # vertex id -> device
    wire_dtype: str = "float32"
    profile: str = REAL  # REAL (measured on this machine) or the emulated device profile
    latency_s: float | None = None  # measured median (fitting and evaluation)
    generator: str = ""  # the spec's generator (held-out-generator splits)

    @property
    def digest(self) -> str:
        """The architecture's digest: splits keep every digest on one side."""
        return self.spec.digest()


def prior_profile(profile: str) -> str:
    """The simulation profile that models measurements of ``profile``."""
    return REAL_PRIOR if profile in (REAL, REAL_CPU) else profile


def target_profile(samples: Sequence[Sample]) -> str:
    """The one measurement profile of ``samples`` (``adapt``); ``ConfigError`` otherwise."""
    profiles = sorted({s.profile for s in samples})
    if len(profiles) != 1:
        raise ConfigError(
            f"adapting needs rows of one measurement profile, got {', '.join(profiles) or 'none'}"
            "; select one with --measured-on"
        )
    return profiles[0]


def measured(samples: Sequence[Sample]) -> np.ndarray:
    """The samples' latencies (seconds); ``ConfigError`` when one is missing or not positive."""
    values = [s.latency_s for s in samples]
    if not values or any(v is None or not (v > 0 and math.isfinite(v)) for v in values):
        raise ConfigError("fitting needs at least one sample, each with a positive latency_s")
    return np.asarray(values, dtype=np.float64)


class Predictor(abc.ABC):
    """A latency model (module docstring). Subclasses are registered by name."""

    name: ClassVar[str] = ""  # set by the registry
    learned: ClassVar[bool] = True  # False for the reference baselines

    def __init__(self, seed: int = 0, **config: Any) -> None:
        self.seed = seed
        self.config = {**self.defaults(), **config}
        unknown = set(self.config) - set(self.defaults())
        if unknown:
            raise ConfigError(
                f"predictor {self.name!r} has no option {sorted(unknown)[0]!r}; its options are "
                f"{', '.join(sorted(self.defaults())) or 'none'}"
            )
        self.profiles: list[str] = []  # measurement profiles it was fitted on
        self.trained: list[str] = []  # digests of the architectures it was fitted on (sorted)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Options and their default values (JSON values)."""
        return {}

    def record_training(self, samples: Sequence[Sample]) -> None:
        """Remember which architectures ``fit`` saw, so that ``latency report`` can leave them
        out of a test set."""
        self.trained = sorted({s.digest for s in samples})

    @abc.abstractmethod
    def fit(self, samples: Sequence[Sample]) -> Predictor:
        """Learn from ``samples`` (each with ``latency_s``); returns ``self``."""

    @abc.abstractmethod
    def adapt(self, samples: Sequence[Sample]) -> Predictor:
        """Transfer to a new measurement profile (a device) from a few of its samples (all of
        one profile, each with ``latency_s``); returns ``self``, now predicting that profile."""

    @abc.abstractmethod
    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """Latency in seconds of each sample."""

    @abc.abstractmethod
    def relaxed(
        self, spec: ArchSpec, edge_weights: torch.Tensor, query: RelaxedQuery
    ) -> torch.Tensor:
        """Differentiable latency (seconds, scalar) of ``spec`` with relaxed edge weights,
        deployed as ``query`` says (its profile: one this predictor was fitted on)."""

    @abc.abstractmethod
    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(tensors, JSON metadata) from which :meth:`from_state` rebuilds the fitted model."""

    @classmethod
    @abc.abstractmethod
    def from_state(
        cls, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any], seed: int, **config: Any
    ) -> Predictor:
        """The fitted predictor :meth:`state` describes; ``ConfigError`` if they disagree."""

    def check_profile(self, profile: str | Profile) -> str:
        """``profile`` as a name this predictor was fitted on; ``ConfigError`` otherwise."""
        name = profile.name if isinstance(profile, Profile) else str(profile)
        if self.profiles and name not in self.profiles:
            raise ConfigError(
                f"predictor {self.name!r} was fitted on measurements of {', '.join(self.profiles)}"
                f", not {name!r}; pass one of those as the profile"
            )
        return name


_PREDICTORS: Registry[type[Predictor]] = Registry("latency predictor")


def register_predictor(name: str):
    """Class decorator adding a predictor to the registry under ``name``."""
    return _PREDICTORS.register(name)


def list_predictors(pattern: str = "*") -> list[str]:
    """Registered predictor names matching a glob pattern, sorted."""
    _load_builtin()
    return _PREDICTORS.names(pattern)


def predictor_class(name: str) -> type[Predictor]:
    """The class registered as ``name``; ``ConfigError`` listing the choices otherwise."""
    _load_builtin()
    return _PREDICTORS.get(name)


def create_predictor(name: str, seed: int = 0, **config: Any) -> Predictor:
    """A new, unfitted predictor ``name`` with ``config`` options."""
    return predictor_class(name)(seed=seed, **config)


def _load_builtin() -> None:
    """Import the modules that register the built-in predictors (once)."""
    from parawire.latency import _baselines, _neural  # noqa: F401
