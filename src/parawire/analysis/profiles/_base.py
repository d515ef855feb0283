"""Contract of a device profile: how long one vertex computes and one tensor travels.

A ``Profile`` is plain data: a ``DeviceProfile`` (effective FLOP/s, optionally per operation
kind, plus a fixed per-vertex overhead) and a ``LinkProfile`` (bandwidth and latency of the link
between two devices of that kind). Every profile, built in, loaded from TOML or registered at
run time, must satisfy the same contract, checked in ``__post_init__`` and by the contract test
suite over the registry (``tests/test_profiles.py``):

* every rate is finite and positive, every latency and overhead finite and non-negative;
* ``DeviceProfile.seconds(vertex)`` = ``overhead_s + 2 * macs / rate(op)``: non-negative and
  non-decreasing in the vertex's MACs (1 MAC = 2 FLOPs, as ``torch.utils.flop_counter``); a
  calibrated profile (``kind_rates``) instead sums ``call_s + amount / rate`` over the vertex's
  work list (``parawire.analysis.work``; module-call glue is in the list as ``call`` entries,
  so ``overhead_s`` is not added), non-decreasing in every amount; either way plus
  ``dispatch_s``, the cost of running a network vertex by vertex (0 unless calibrated);
* ``LinkProfile.seconds(nbytes)`` = ``latency_s + nbytes / bandwidth``: non-decreasing in bytes;
* a profile written to TOML and read back is equal to itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from parawire.analysis.graph import Vertex
from parawire.analysis.work import KINDS
from parawire.errors import ConfigError


def _check_rate(owner: str, key: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{owner}: {key} must be a finite number > 0, got {value!r}")


def _check_delay(owner: str, key: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ConfigError(f"{owner}: {key} must be a finite number >= 0 seconds, got {value!r}")


@dataclass(frozen=True)
class DeviceProfile:
    """Compute speed of one device, as seen by one inference."""

    name: str  # label of the device kind, e.g. "rpi4"
    flops_per_s: float  # effective FLOP/s (1 MAC = 2 FLOPs) for ops without their own rate
    op_flops_per_s: Mapping[str, float] = field(default_factory=dict)  # Vertex.op -> FLOP/s
    overhead_s: float = 0.0  # fixed cost of running any vertex (dispatch, memory-bound layers)
    # Per work kind (``parawire.analysis.work.KINDS``), measured by ``parawire calibrate``:
    # rate in FLOP/s (convolutions, linear) or elements/s (bn, pool, elementwise), and the
    # fixed cost of one operator call. With them, vertices that carry a work list are priced
    # operator by operator; without them (the literature profiles), by MACs and ``rate(op)``.
    kind_rates: Mapping[str, float] = field(default_factory=dict)
    kind_call_s: Mapping[str, float] = field(default_factory=dict)
    # per vertex, beyond its operators: what running a network vertex by vertex costs (the
    # Python loop, argument lists, freeing tensors), measured in context by `calibrate`
    dispatch_s: float = 0.0

    def __post_init__(self) -> None:
        owner = f"device profile {self.name!r}"
        _check_rate(owner, "flops_per_s", self.flops_per_s)
        for op, rate in self.op_flops_per_s.items():
            _check_rate(owner, f"op_flops_per_s.{op}", rate)
        _check_delay(owner, "overhead_s", self.overhead_s)
        _check_delay(owner, "dispatch_s", self.dispatch_s)
        for table in ("kind_rates", "kind_call_s"):
            unknown = sorted(set(getattr(self, table)) - set(KINDS))
            if unknown:
                raise ConfigError(
                    f"{owner}: unknown work kind(s) {', '.join(unknown)} in {table}; "
                    f"known: {', '.join(KINDS)}"
                )
        for kind, rate in self.kind_rates.items():
            _check_rate(owner, f"kind_rates.{kind}", rate)
        for kind, delay in self.kind_call_s.items():
            _check_delay(owner, f"kind_call_s.{kind}", delay)
        missing = sorted(set(KINDS) - {"call"} - set(self.kind_rates)) if self.kind_rates else []
        if missing:
            raise ConfigError(
                f"{owner}: kind_rates lacks {', '.join(missing)}; give every work kind a rate "
                "(re-run `parawire calibrate`) or none"
            )
        for table in ("op_flops_per_s", "kind_rates", "kind_call_s"):
            object.__setattr__(self, table, MappingProxyType(dict(getattr(self, table))))

    def __hash__(self) -> int:
        tables = (self.op_flops_per_s, self.kind_rates, self.kind_call_s)
        items = tuple(tuple(sorted(t.items())) for t in tables)
        return hash((self.name, self.flops_per_s, self.overhead_s, self.dispatch_s, items))

    def rate(self, op: str) -> float:
        """FLOP/s for vertices of operation kind ``op``."""
        return self.op_flops_per_s.get(op, self.flops_per_s)

    @property
    def prices_work(self) -> bool:
        """Whether this profile prices vertices operator by operator (a calibrated one)."""
        return bool(self.kind_rates)

    def seconds(self, vertex: Vertex) -> float:
        """Compute time of one ``CostGraph`` vertex on this device."""
        if self.kind_rates and (vertex.work or not vertex.macs):
            return self.dispatch_s + sum(
                self.kind_call_s.get(kind, 0.0)
                + (amount / self.kind_rates[kind] if amount else 0.0)
                for kind, amount in vertex.work
            )
        return self.dispatch_s + self.overhead_s + 2.0 * vertex.macs / self.rate(vertex.op)


@dataclass(frozen=True)
class LinkProfile:
    """The network between two devices: one transfer costs latency + bytes / bandwidth."""

    name: str  # label of the link kind, e.g. "wifi"
    bandwidth_bytes_per_s: float  # sustained payload throughput of one transfer
    latency_s: float  # fixed cost of one transfer (one-way delay plus software overhead)

    def __post_init__(self) -> None:
        owner = f"link profile {self.name!r}"
        _check_rate(owner, "bandwidth_bytes_per_s", self.bandwidth_bytes_per_s)
        _check_delay(owner, "latency_s", self.latency_s)

    def seconds(self, nbytes: int) -> float:
        """Time to move one tensor of ``nbytes`` bytes to another device."""
        return self.latency_s + nbytes / self.bandwidth_bytes_per_s


@dataclass(frozen=True)
class Profile:
    """A kind of device plus the link between devices of that kind (a homogeneous cluster)."""

    name: str  # registry name, e.g. "rpi4-wifi"
    device: DeviceProfile
    link: LinkProfile
    description: str = ""  # one line for `list_profiles` tables
    source: str = ""  # where the figures come from (publications, measurements)
    # How far the real times may lie from the profile's: a vertex's true compute time is within
    # compute_range x its priced time, a transfer's within link_range x (1.0, 1.0: exact, as
    # ``ideal`` by definition). `calibrate` measures them (residuals of its fit over whole
    # networks in fresh processes; the spread of its link probe); for literature figures they
    # are judged, and ``estimate`` says the figures were not measured on the device itself.
    compute_range: tuple[float, float] = (1.0, 1.0)
    link_range: tuple[float, float] = (1.0, 1.0)
    estimate: bool = False
    # Largest over smallest time of one network between fresh processes (or devices) of this
    # kind: each device's own luck, independent between the one device and the split's (>= 1)
    spread: float = 1.0
    # The TOML file the profile was read from ("" when made in code): what outputs that name
    # the profile show, since a user file may hold a profile named like a built-in one
    file: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"a profile needs a non-empty name, got {self.name!r}")
        for key in ("compute_range", "link_range"):
            value = tuple(getattr(self, key))
            ok = len(value) == 2 and all(isinstance(x, (int, float)) for x in value)
            if not (ok and math.isfinite(value[1]) and 0 < value[0] <= 1 <= value[1]):
                raise ConfigError(
                    f"profile {self.name!r}: {key} must be [low, high] with 0 < low <= 1 <= "
                    f"high (factors on the profile's times), got {list(value)!r}"
                )
            object.__setattr__(self, key, (float(value[0]), float(value[1])))
        if not (isinstance(self.spread, (int, float)) and 1 <= self.spread < math.inf):
            raise ConfigError(
                f"profile {self.name!r}: spread must be a finite number >= 1, got {self.spread!r}"
            )

    @property
    def exact(self) -> bool:
        """Whether the profile claims its times exactly (no range to report)."""
        return (
            self.compute_range == (1.0, 1.0)
            and self.link_range == (1.0, 1.0)
            and (self.spread == 1.0)
        )

    def scaled(self, compute: float, link: float, suffix: str = "") -> Profile:
        """This profile with every compute time ``compute`` times and every transfer time
        ``link`` times as long (a corner of its ranges, for the speedup's range); ``suffix``
        is appended to the profile's, device's and link's names."""
        if compute == 1 and link == 1:
            return self
        d = self.device
        device = DeviceProfile(
            name=f"{d.name}{suffix}",
            flops_per_s=d.flops_per_s / compute,
            op_flops_per_s={op: r / compute for op, r in d.op_flops_per_s.items()},
            overhead_s=d.overhead_s * compute,
            kind_rates={k: r / compute for k, r in d.kind_rates.items()},
            kind_call_s={k: s * compute for k, s in d.kind_call_s.items()},
            dispatch_s=d.dispatch_s * compute,
        )
        net = LinkProfile(
            f"{self.link.name}{suffix}",
            self.link.bandwidth_bytes_per_s / link,
            self.link.latency_s * link,
        )
        return replace(self, name=f"{self.name}{suffix}", device=device, link=net)

    def dilated(self, factor: float) -> Profile:
        """This profile with every duration ``factor`` times longer (time dilation).

        Device emulation on fewer cores than emulated devices is faithful only while each
        vertex computes for real within its emulated time; running the whole emulation
        ``factor`` times slower (every compute and transfer time scaled alike) restores that,
        and dividing what is measured by ``factor`` gives the undilated figures: every ratio
        (speedup, measured over simulated) is unchanged by the scaling itself. As in
        time-dilated network emulation (Gupta et al., NSDI 2006).
        """
        if not (math.isfinite(factor) and factor >= 1):
            raise ConfigError(f"a time dilation must be a finite number >= 1, got {factor!r}")
        if factor == 1:
            return self
        slowed = self.scaled(factor, factor, suffix=f"x{factor:g}")
        return replace(
            slowed,
            name=f"{self.name}-x{factor:g}",
            description=f"{self.description} (time dilated {factor:g}x)",
        )
