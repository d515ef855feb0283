"""The execution plan: a network, where each vertex runs, and (optionally) the trained weights.

A plan is a folder holding ``plan.json`` (the network, the placement vertex -> rank, the world
size, a seed, the wire dtype and the scatter mode) and, when weights are given,
``weights.safetensors`` (the full state dict of the network). The network is either a spec
(``"spec"``: a generated architecture; weights keyed ``vertices.<id>.*`` and ``head.*`` as
``build_model(spec)`` has them) or a named model traced with torch.fx (``"model"``: a baseline
such as ``cifarnet`` or ``torchvision:NAME``, with its input shape and class count; weights as
the model's own ``state_dict()``); ``parawire.runtime.graph`` gives both one face. The same
folder is copied to every device; each rank reads only the tensors of its own vertices from the
weights file.

Rank 0 is the driver: it holds the image and gets the logits; the input vertex is placed on it.
With image scatter (``scatter="image"``) every rank that hosts a consumer of the input vertex
runs the input vertex (the stem) itself, from the image rank 0 sends it.

    plan.save("plan/")            # plan/plan.json (+ plan/weights.safetensors)
    plan = Plan.load("plan/")

``parawire.runtime.planner`` makes plans (``make_plan``: the fastest simulated deployment of a
spec or a named model) and reads a plan, a spec or a model name as one (``load_plan_or_spec``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from parawire._io import (
    atomic_write_text,
    check_inside,
    read_json,
    safetensors_shapes,
    staged_folder,
)
from parawire.analysis.costs import DEFAULT_SCATTER, check_scatter
from parawire.arch import spec as spec_module
from parawire.arch.spec import ArchSpec
from parawire.errors import ConfigError, DataError
from parawire.filenames import PLAN_FILE, WEIGHTS_FILE
from parawire.nn.model_ref import ModelRef
from parawire.runtime.graph import RunGraph, SpecGraph, graph_of
from parawire.runtime.secret import SECRET_FILE, write_secret

PLAN_VERSION = 2
REMAKE = "copy the plan folder again or remake it with `parawire plan`"  # fix of bad weights
READABLE_PLAN_VERSIONS = (1, 2)  # version 1: no wire dtype or scatter (float32, stem output)
MAX_WORLD = 256  # ranks of one plan: far beyond any edge deployment, small enough to spawn


@dataclass(frozen=True)
class Plan:
    """Everything a rank needs to run its part of one inference."""

    spec: ArchSpec | None  # the network, a generated spec; None for a traced model
    placement: dict[int, int]  # vertex id -> rank in 0..world-1
    world: int  # number of ranks (devices)
    weights: Path | None = None  # safetensors file of the full state dict; None: seeded init
    seed: int = 0  # initialises the weights when there is no weights file
    info: dict[str, Any] = field(default_factory=dict)  # partitioner, eps... (JSON-ready)
    wire_dtype: str = "float32"  # dtype of every tensor sent between ranks
    scatter: str = DEFAULT_SCATTER  # "image": ranks run the stem; "stem": they get its output
    schedule: dict[str, Any] | None = None  # simulated order and sends (``schedule_doc``)
    model: ModelRef | None = None  # the network, a traced model (when ``spec`` is None)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError`` unless every vertex is placed on a rank in 0..world-1."""
        from parawire.runtime.wire import check_wire_dtype

        if (self.spec is None) == (self.model is None):
            raise ConfigError("a plan runs either a spec or a model (exactly one of them)")
        if isinstance(self.world, bool) or not isinstance(self.world, int) or self.world < 1:
            raise ConfigError(f"a plan needs at least one rank, got world={self.world!r}")
        if self.world > MAX_WORLD:  # before tracing a model: a tampered world fails at once
            raise ConfigError(f"the plan asks for {self.world} ranks; the cap is {MAX_WORLD}")
        vertices = len(self.graph.vertex_ids)
        if self.world > vertices:
            raise ConfigError(
                f"the plan asks for {self.world} ranks; at most {vertices} make sense for this "
                f"{self.kind} ({vertices} vertices)"
            )
        check_wire_dtype(self.wire_dtype)
        check_scatter(self.scatter)
        self._check_placement()
        if self.schedule is not None:
            self._check_schedule()

    def _check_placement(self) -> None:
        from parawire.analysis.simulate import check_placement

        check_placement(list(self.graph.vertex_ids), self.placement, self.world, unit="rank")

    def _check_schedule(self) -> None:
        """A stored schedule runs every vertex where the placement says, producers first."""
        try:
            execution = self.execution
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(
                f"the plan's schedule is malformed ({exc}); remake the plan"
            ) from None
        graph = self.graph
        for rank in range(self.world):
            order = execution["order"].get(rank, ())
            expected = {v for v in self.placement if self.runs_on(v, rank)}
            if sorted(order) != sorted(expected):
                raise ConfigError(
                    f"the plan's schedule for rank {rank} does not list exactly the vertices "
                    "placed there; remake the plan"
                )
            position = {v: i for i, v in enumerate(order)}
            for v in order:
                for u in graph.inputs(v):
                    if u in position and position[u] > position[v]:
                        raise ConfigError(
                            f"the plan's schedule runs vertex {v} before its input {u} on "
                            f"rank {rank}; remake the plan"
                        )

    # --- derived views ---------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"spec"`` (a generated architecture) or ``"model"`` (a traced named model)."""
        return "spec" if self.spec is not None else "model"

    @cached_property
    def graph(self) -> RunGraph:
        """What the ranks run, one face for both kinds (``parawire.runtime.graph``)."""
        network = self.spec if self.spec is not None else self.model
        assert network is not None
        return graph_of(network)

    def require_spec(self, what: str) -> ArchSpec:
        """The plan's spec; ``ConfigError`` naming ``what`` needs one when it runs a model."""
        if self.spec is None:
            assert self.model is not None
            raise ConfigError(
                f"{what} needs a generated spec; this plan runs the traced model "
                f"{self.model.name} (give an arch.json, or run the model with `parawire run`)"
            )
        return self.spec

    @cached_property
    def execution(self) -> dict[str, Any]:
        """The schedule every rank executes: ``order`` (rank -> its vertices in order) and
        ``sends`` (vertex -> the ranks its output goes to, in order).

        It is the schedule simulation's (``parawire.analysis.simulate``), stored in the plan
        when the plan was made, so that the ranks run exactly the order the prediction
        assumed; a plan without one (made by hand) is simulated on ``local-cpu``.
        """
        stored = self.schedule or simulated_schedule(self)
        return {
            "order": {int(r): tuple(vs) for r, vs in stored["order"].items()},
            "sends": {int(v): tuple(rs) for v, rs in stored["sends"].items()},
        }

    @cached_property
    def stem_ranks(self) -> tuple[int, ...]:
        """Ranks that run the input vertex: its own, or (image scatter) its consumers' ranks."""
        source = self.graph.input_vertex
        if self.scatter != "image":
            return (self.placement[source],)
        return tuple(sorted({self.placement[w] for w in self.graph.successors(source)}))

    def runs_on(self, vertex: int, rank: int) -> bool:
        """True when ``rank`` computes ``vertex`` (the stem may run on several ranks)."""
        if vertex == self.graph.input_vertex:
            return rank in self.stem_ranks
        return self.placement[vertex] == rank

    def vertices_of(self, rank: int) -> tuple[int, ...]:
        """The vertices ``rank`` runs, in execution order."""
        return self.execution["order"].get(rank, ())

    def send_order(self, vertex: int) -> tuple[int, ...]:
        """The ranks ``vertex``'s output goes to (the image, for a replicated stem), in order."""
        return self.execution["sends"].get(vertex, ())

    def state_dict(self, rank: int) -> dict[str, torch.Tensor]:
        """The weights of ``rank``'s vertices (and of the head on the output vertex's rank).

        From the weights file, only the keys of this rank are read; without one, the full model
        is initialised from ``seed`` (identical on every rank) and sliced.
        """
        head = self.placement[self.graph.output_vertex] == rank
        return self.weights_for(self.graph.parts(self.vertices_of(rank), head=head))

    def weights_for(self, parts: Any) -> dict[str, torch.Tensor]:
        """The tensors that ``parts`` (``RunGraph.parts`` of some vertices) hold, read alone."""
        keys = parts.state_keys()
        return self.weights_where(keys.__contains__) if keys else {}

    def weights_where(self, wanted: Any) -> dict[str, torch.Tensor]:
        """The tensors of the whole model's state dict whose key ``wanted(key)`` accepts: read
        from the weights file alone, or from the seeded initialisation."""
        if self.weights is None:
            full = self.graph.seeded_state(self.seed)
            return {k: t for k, t in full.items() if wanted(k)}
        from parawire.weights import read_tensors

        return read_tensors(self.weights, wanted, "plan weights", REMAKE)

    def full_state(self) -> dict[str, torch.Tensor]:
        """The whole model's state dict: the weights file, checked first (:meth:`check_weights`:
        its tensors' shapes and its SHA-256), or the seeded initialisation."""
        if self.weights is None:
            return self.graph.seeded_state(self.seed)
        self.check_weights()
        return self.weights_where(lambda key: True)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor of the whole model's state dict and its shape, nothing allocated (a
        spec's model is built on torch's meta device)."""
        if self.spec is not None:
            with torch.device("meta"):
                model = self.graph.whole_model()
        else:
            model = self.graph.whole_model()
        return {k: tuple(t.shape) for k, t in model.state_dict().items()}

    def check_weights(self, inside: Path | None = None) -> None:
        """``DataError`` in one line unless the weights file declares exactly the network's
        tensors with their shapes: from its header, before any tensor is read (a tampered file
        that declares a huge tensor is refused, not loaded). ``inside``: the folder the file
        must not lead out of (a plan folder's)."""
        if self.weights is None:
            return
        declared, _ = safetensors_shapes(self.weights, what="plan weights", inside=inside)
        expected = self.weight_shapes()
        wrong = sorted(
            set(expected) ^ set(declared)
            | {k for k in set(expected) & set(declared) if expected[k] != declared[k]}
        )
        if wrong:
            raise DataError(
                f"plan weights {self.weights} do not fit the plan's {self.kind} ({len(wrong)} "
                f"tensor(s) missing, extra or of another shape, e.g. {wrong[0][:80]!r}); remake "
                f"the plan with the weights trained for this {self.kind}"
            )
        from parawire.weights import verify_weights

        verify_weights(self.weights, "plan weights", REMAKE)

    # --- serialization ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary (the weights file is referenced by name, next to plan.json)."""
        return {
            "plan_version": PLAN_VERSION,
            "world": self.world,
            "seed": self.seed,
            "weights": WEIGHTS_FILE if self.weights is not None else None,
            "wire_dtype": self.wire_dtype,
            "scatter": self.scatter,
            "schedule": self.schedule,
            "info": self.info,
            "placement": {str(v): r for v, r in sorted(self.placement.items())},
            self.kind: self.graph.to_doc(),
        }

    def digest(self) -> str:
        """Short hash of what every rank must agree on: the network's structure (a model's as
        traced on this rank), the placement, the schedule, the wire format, the seed and the
        weights file's bytes (``info`` aside).

        Ranks compare it when they join, so that a rank started with another plan (or other
        weights) is refused instead of computing garbage.
        """
        doc = {**self.to_dict(), self.kind: self.graph.digest()}
        doc.pop("info")
        h = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
        if self.weights is not None:
            try:
                with self.weights.open("rb") as f:
                    h.update(hashlib.file_digest(f, "sha256").digest())
            except OSError as exc:
                raise DataError(
                    f"cannot read plan weights {self.weights} ({exc.strerror or exc})"
                ) from exc
        return h.hexdigest()[:16]

    def save(self, directory: str | Path) -> Path:
        """Write ``plan.json`` (and a copy of the weights, checked to fit) into ``directory``,
        plus a fresh run secret when it holds none (``secret.token``, ``runtime.secret``);
        returns it. The files appear together or, on any error, none of them."""
        directory = Path(directory)
        self.check_weights()
        with staged_folder(directory) as stage:
            if self.weights is not None:
                target = directory / WEIGHTS_FILE
                if not target.exists() or self.weights.resolve() != target.resolve():
                    shutil.copyfile(self.weights, stage / WEIGHTS_FILE)
            atomic_write_text(stage / PLAN_FILE, json.dumps(self.to_dict(), indent=1) + "\n")
            if not (directory / SECRET_FILE).exists():  # the secret travels with the folder
                write_secret(stage)
        return directory

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], directory: Path) -> Plan:
        """Inverse of :meth:`to_dict`; ``directory`` holds the weights file."""
        version = data.get("plan_version")
        if isinstance(version, bool) or version not in READABLE_PLAN_VERSIONS:
            raise DataError(
                f"not a parawire plan (plan_version {version!r}, expected one of "
                f"{READABLE_PLAN_VERSIONS}); create one with `parawire plan SPEC -n K -o DIR`"
            )
        legacy = version == 1  # before wire dtypes and image scatter
        try:
            if "model" in data and "spec" not in data:
                spec, model = None, ModelRef.from_dict(data["model"])
            else:
                spec, model = ArchSpec.from_dict(data["spec"]).validate(), None
            placement = {int(v): _int(r, "placement rank") for v, r in data["placement"].items()}
            return cls(
                spec=spec,
                placement=placement,
                world=_int(data["world"], "world"),
                weights=_weights_path(data.get("weights"), directory),
                seed=_int(data.get("seed", 0), "seed"),
                info=dict(data.get("info", {})),
                wire_dtype=str(data.get("wire_dtype", "float32")),
                scatter=str(data.get("scatter", "stem" if legacy else DEFAULT_SCATTER)),
                schedule=data.get("schedule"),
                model=model,
            )
        except KeyError as exc:
            raise DataError(f"plan is missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise DataError(f"malformed plan: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """Read a plan folder (or its ``plan.json``)."""
        file = plan_file(Path(path))
        data = read_plan_json(file, f"plan not found: {file}")
        return cls.from_file_data(data, file)

    @classmethod
    def from_file_data(cls, data: Any, file: Path) -> Plan:
        """A plan from the parsed JSON of ``file``, its weights file checked to exist, to stay
        inside the plan's folder and to declare the network's tensors (:meth:`check_weights`)."""
        if not isinstance(data, dict):
            raise DataError(f"{file} is not a plan: expected a JSON object")
        plan = cls.from_dict(data, file.parent)
        if plan.weights is not None and not plan.weights.exists():
            raise DataError(f"plan weights not found: {plan.weights} (copy it next to plan.json)")
        plan.check_weights(inside=file.parent)
        return plan


def _int(value: Any, what: str) -> int:
    """An integer field of plan.json (a bool, float or string is refused, not coerced)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"malformed plan: {what} must be an integer, got {value!r}")
    return value


def _weights_path(name: Any, directory: Path) -> Path | None:
    """The weights file named in plan.json: a plain file name inside the plan folder."""
    if name is None:
        return None
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise DataError(
            f"malformed plan: weights must be a file name next to plan.json (e.g. "
            f"{WEIGHTS_FILE!r}), got {name!r}"
        )
    return directory / name


def plan_file(path: Path) -> Path:
    """``plan.json`` inside a plan folder (``DataError`` when a link leads it out of the
    folder), or the path itself."""
    if not path.is_dir():
        return path
    check_inside(path / PLAN_FILE, path, "plan")
    return path / PLAN_FILE


def read_plan_json(file: Path, missing: str) -> Any:
    """Parsed JSON of ``file`` (``parawire._io.read_json``: a regular file up to the spec size
    cap, no key twice); ``DataError``: ``missing`` when absent, one line when not JSON."""
    if not file.exists():
        raise DataError(missing)
    limit = spec_module.MAX_SPEC_BYTES  # looked up here: tests lower it
    return read_json(file, what="plan or spec", limit=limit, error=DataError)


def seeded_state_dict(spec: ArchSpec, seed: int) -> dict[str, torch.Tensor]:
    """The state dict of ``build_model(spec)`` initialised from ``seed`` (same in any process)."""
    return SpecGraph(spec).seeded_state(seed)


def simulate_plan(plan: Plan, profile: Any = None, batch: int = 1) -> Any:
    """The schedule simulation of the plan's placement, wire dtype and scatter mode on
    ``profile`` (a name, a ``Profile``; default ``local-cpu``): a ``Schedule``."""
    from parawire.analysis.profiles import create_profile
    from parawire.analysis.simulate import simulate

    prof = create_profile(profile if profile is not None else "local-cpu")
    graph = plan.graph.costs(batch, plan.wire_dtype, plan.scatter)
    return simulate(graph, plan.placement, prof, plan.world)


def simulated_schedule(plan: Plan, profile: Any = None) -> dict[str, Any]:
    """:func:`simulate_plan` as stored in plan.json: the order of every rank, the send order of
    every vertex, the predicted makespan, busy and finish time of every rank, the profile."""
    from parawire.analysis.profiles import create_profile

    prof = create_profile(profile if profile is not None else "local-cpu")
    sched = simulate_plan(plan, prof)
    return {
        "profile": prof.name,
        "makespan_s": sched.makespan_s,
        "busy_s": list(sched.busy_s),
        "finish_s": list(sched.finish_times()),
        "order": {str(r): list(vs) for r, vs in sched.device_orders().items()},
        "sends": {str(v): list(rs) for v, rs in sched.send_orders().items()},
    }


def with_schedule(plan: Plan, profile: Any = None) -> Plan:
    """``plan`` with its simulated schedule on ``profile`` stored in it."""
    return dataclasses.replace(plan, schedule=simulated_schedule(plan, profile))


def in_send_order(ranks: set[int], order: tuple[int, ...]) -> list[int]:
    """``ranks`` in a vertex's send ``order`` (:meth:`Plan.send_order`; any it does not list
    last, by index): the one order in which the runtime sends and an export reads."""
    return [r for r in order if r in ranks] + sorted(ranks - set(order))
