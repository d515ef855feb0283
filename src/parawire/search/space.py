"""The search space: which architectures a search may propose, and one proposal as data.

A :class:`SearchSpace` is a dataclass of ranges and choices (every field commented); a
:class:`Choice` is one point in it (generator family and parameters, vertex count, stem width,
staging mode and probability, ``c_max``, merge mode, wire dtype, graph seed). ``suggest`` draws
a choice through an Optuna trial (define-by-run: a family's own parameters are only drawn for
that family); ``Choice.spec`` generates the architecture with ``parawire.arch.generate``.

Named spaces (``SPACES``): ``tiny`` for tests and smoke runs (4-8 vertices, 4-8 channels),
``cpu`` (default: 8-32 vertices, 8-32 channels, sized for CPU proxy training) and ``paper``
(EDGE'23's 40 vertices and 32..256 channels). ``--space FILE.json`` reads any other one.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parawire._io import read_json
from parawire.analysis.costs import WIRE_DTYPES
from parawire.arch.generate import StagingConfig, generate
from parawire.arch.spec import MERGES, ArchSpec
from parawire.errors import ConfigError
from parawire.registry import Registry

FAMILIES = ("er", "ba", "ws", "dp")  # generator families a space may draw from
STAGING_MODES = ("probabilistic", "greedy", "uniform")  # fb fixes its own stages: not searched
MAX_SPACE_BYTES = 2**20  # a search space file is a few hundred bytes; larger ones are refused
MAX_ARCH_SEED = 2**31 - 1  # graph seeds are drawn from 0..MAX_ARCH_SEED


@dataclass(frozen=True)
class SearchSpace:
    """Ranges (inclusive ``(low, high)`` pairs) and choices of every searched setting."""

    families: tuple[str, ...] = FAMILIES  # generator families (FAMILIES)
    vertices: tuple[int, int] = (8, 32)  # vertices of the sampled graph
    channels: tuple[int, ...] = (8, 16, 32)  # stem width choices
    stagings: tuple[str, ...] = STAGING_MODES  # staging modes
    stage_prob: tuple[float, float] = (0.1, 0.9)  # probabilistic staging: chance to stage
    c_max: tuple[int, ...] = (32, 64, 128)  # staging channel limits (raised to the width)
    merges: tuple[str, ...] = MERGES  # merge modes of the output vertex
    wire_dtypes: tuple[str, ...] = ("float32", "float16", "int8")  # dtypes on the wire
    er_p: tuple[float, float] = (0.05, 0.5)  # er: edge probability
    ba_m: tuple[int, int] = (1, 4)  # ba: edges per new vertex (below the fewest vertices)
    ws_k: tuple[int, ...] = (2, 4)  # ws: ring-lattice degrees (even, below the fewest vertices)
    ws_p: tuple[float, float] = (0.0, 1.0)  # ws: rewiring probability
    dp_alpha: tuple[float, float] = (0.2, 2.0)  # dp: scale of the edge probability
    dp_beta: tuple[float, float] = (0.5, 3.0)  # dp: steepness of the decay with ring distance
    dp_p: tuple[float, float] = (0.1, 0.9)  # dp: base probability P
    stem_stride: int | None = None  # stem downsampling (None: the generator's default)

    def check(self) -> SearchSpace:
        """Raise ``ConfigError`` on an unknown name or an empty or impossible range."""
        _subset("families", self.families, FAMILIES)
        _subset("stagings", self.stagings, STAGING_MODES)
        _subset("merges", self.merges, MERGES)
        _subset("wire_dtypes", self.wire_dtypes, WIRE_DTYPES)
        for name in ("vertices", "stage_prob", "er_p", "ba_m", "ws_p", "dp_alpha", "dp_beta"):
            _range(name, getattr(self, name))
        _range("dp_p", self.dp_p)
        low_n = self.vertices[0]
        if low_n < 2:
            raise ConfigError(f"search space: vertices must start at 2 or more, got {low_n}")
        if not self.channels or min(self.channels) < 1 or not self.c_max:
            raise ConfigError("search space: channels and c_max need positive choices")
        if "ba" in self.families and not 1 <= self.ba_m[0] <= self.ba_m[1] < low_n:
            raise ConfigError(f"search space: ba_m must lie in [1, {low_n}) (the fewest vertices)")
        if "ws" in self.families and any(k % 2 or not 2 <= k < low_n for k in self.ws_k):
            raise ConfigError(f"search space: ws_k must be even and in [2, {low_n})")
        for name in ("stage_prob", "er_p", "ws_p", "dp_p"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high <= 1.0:
                raise ConfigError(f"search space: {name} must lie in [0, 1], got {low}..{high}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON dictionary (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpace:
        """The inverse of :meth:`to_dict`; unknown fields are a ``ConfigError``."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(
                f"search space: unknown fields {unknown}; the fields are {sorted(known)}"
            )
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**values).check()
        except TypeError as exc:
            raise ConfigError(f"search space: {exc}") from None


def _subset(name: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise ConfigError(
            f"search space: {name} must be a non-empty choice of {', '.join(allowed)}, got {values}"
        )


def _range(name: str, pair: tuple[float, float]) -> None:
    if len(pair) != 2 or not pair[0] <= pair[1]:
        raise ConfigError(f"search space: {name} must be a (low, high) pair, got {pair}")


# The registry of named spaces: a space is a SearchSpace, its contract ``check()`` (every
# range ordered and every choice allowed) and ``suggest`` drawing specs that validate
# (tests/test_search.py runs the contract over every registered space).
_SPACES: Registry[SearchSpace] = Registry("search space")
list_spaces = _SPACES.names  # sorted names matching a glob pattern


def register_space(name: str, space: SearchSpace) -> SearchSpace:
    """Add ``space`` (checked) under ``name``; a duplicate name is a bug."""
    return _SPACES.register(name)(space.check())


register_space(
    "tiny", SearchSpace(vertices=(5, 8), channels=(4, 8), c_max=(8, 16), ba_m=(1, 3), ws_k=(2, 4))
)
register_space("cpu", SearchSpace())
register_space(
    "paper", SearchSpace(vertices=(40, 40), channels=(32,), c_max=(64, 128, 256), ba_m=(1, 5))
)
SPACES: dict[str, SearchSpace] = {name: _SPACES.get(name) for name in list_spaces()}


def create_space(name_or_path: str) -> SearchSpace:
    """A registered space by name, or a space read from a JSON file of its fields."""
    path = Path(name_or_path)
    if name_or_path in _SPACES or not path.exists():
        return _SPACES.get(name_or_path, ", or give a JSON file of SearchSpace fields")
    data = read_json(path, what="search space", limit=MAX_SPACE_BYTES, error=ConfigError)
    if not isinstance(data, dict):
        raise ConfigError(f"the search space {path} must be a JSON object of SearchSpace fields")
    return SearchSpace.from_dict(data)


@dataclass(frozen=True)
class Choice:
    """One architecture proposed by a search: everything ``generate`` needs, and the wire."""

    family: str  # generator family
    params: dict[str, Any] = field(default_factory=dict)  # generator parameters, n included
    channels: int = 16  # stem width
    staging: str = "probabilistic"  # staging mode
    stage_prob: float = 0.5  # probabilistic staging: chance to stage
    c_max: int = 64  # staging channel limit (>= channels)
    merge: str = "pooled"  # merge mode
    wire_dtype: str = "float32"  # dtype of the tensors sent between devices
    arch_seed: int = 0  # seed of the sampled graph and the staging draws
    stem_stride: int | None = None  # stem downsampling (None: the default for the input)

    def spec(self, input_shape: tuple[int, int, int], num_classes: int) -> ArchSpec:
        """The validated architecture of this choice for images of ``input_shape``."""
        staging = StagingConfig(
            self.staging,
            channels=self.channels,
            c_max=max(self.c_max, self.channels),
            stage_prob=self.stage_prob,
        )
        return generate(
            self.family,
            seed=self.arch_seed,
            staging=staging,
            input_shape=input_shape,
            num_classes=num_classes,
            merge=self.merge,
            stem_stride=self.stem_stride,
            **self.params,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON dictionary."""
        return dataclasses.asdict(self)


def suggest(trial: Any, space: SearchSpace) -> Choice:
    """Draw one :class:`Choice` through ``trial`` (an ``optuna.Trial``)."""
    family = trial.suggest_categorical("family", list(space.families))
    n = trial.suggest_int("n", *space.vertices)
    params: dict[str, Any] = {"n": n}
    if family == "er":
        params["p"] = trial.suggest_float("er_p", *space.er_p)
    elif family == "ba":
        params["m"] = min(trial.suggest_int("ba_m", *space.ba_m), n - 1)
    elif family == "ws":
        params["k"] = trial.suggest_categorical("ws_k", list(space.ws_k))
        params["p"] = trial.suggest_float("ws_p", *space.ws_p)
    else:  # dp: the paper's Eq. 1
        params["alpha"] = trial.suggest_float("dp_alpha", *space.dp_alpha)
        params["beta"] = trial.suggest_float("dp_beta", *space.dp_beta)
        params["p"] = trial.suggest_float("dp_p", *space.dp_p)
    staging = trial.suggest_categorical("staging", list(space.stagings))
    stage_prob = (
        trial.suggest_float("stage_prob", *space.stage_prob) if staging == "probabilistic" else 0.5
    )
    return Choice(
        family=family,
        params=params,
        channels=trial.suggest_categorical("channels", list(space.channels)),
        staging=staging,
        stage_prob=stage_prob,
        c_max=trial.suggest_categorical("c_max", list(space.c_max)),
        merge=trial.suggest_categorical("merge", list(space.merges)),
        wire_dtype=trial.suggest_categorical("wire_dtype", list(space.wire_dtypes)),
        arch_seed=trial.suggest_int("arch_seed", 0, MAX_ARCH_SEED),
        stem_stride=space.stem_stride,
    )


def smallest_corner(space: SearchSpace) -> list[Choice]:
    """Choices at the space's cheap corner: fewest vertices, narrowest stem, no staging, the
    sparsest parameters of each family, every merge mode, a few graph seeds.

    Their parameter counts tell, before any training, whether a budget can be met at all.
    """
    n = space.vertices[0]
    sparse = {
        "er": {"n": n, "p": space.er_p[0]},
        "ba": {"n": n, "m": space.ba_m[0]},
        "ws": {"n": n, "k": min(space.ws_k), "p": space.ws_p[0]},
        "dp": {"n": n, "alpha": space.dp_alpha[0], "beta": space.dp_beta[1], "p": space.dp_p[0]},
    }
    staging = "uniform" if "uniform" in space.stagings else space.stagings[0]
    return [
        Choice(
            family=family,
            params=sparse[family],
            channels=min(space.channels),
            staging=staging,
            stage_prob=space.stage_prob[0],
            c_max=min(space.c_max),
            merge=merge,
            arch_seed=seed,
            stem_stride=space.stem_stride,
        )
        for family in space.families
        for merge in space.merges
        for seed in range(4)
    ]
