"""The objectives of one proposed architecture: parameters, k-device latency, proxy accuracy.

Order matters for cost: the parameter count (shape propagation, no model built) decides
feasibility first, the latency (schedule simulation, well under a second for these networks)
comes next, and only a feasible architecture is trained. Accuracy is the test accuracy after a
short proxy training, evaluated the way the deployment computes: every tensor that crosses
devices in the recommended placement goes through the wire codec of its dtype
(``parawire.runtime.wire.emulate_wire``), so an int8 wire pays its accuracy cost here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from parawire.arch.spec import ArchSpec
from parawire.data import ImageSplits
from parawire.search.config import SearchConfig
from parawire.search.space import Choice


@dataclass(frozen=True)
class Latency:
    """The k-device latency of one architecture and the deployment behind it."""

    seconds: float  # the latency objective: simulated (or predicted) time of one inference
    single_device_s: float  # the same network on one device of the profile (simulated)
    devices_used: int  # devices the recommended placement uses (<= k)
    placement: dict[int, int]  # vertex -> device of the recommended placement
    source: str  # "simulation" or "predictor:<file>"


@dataclass(frozen=True)
class Evaluation:
    """Every figure a trial records (``to_dict`` is what the storage keeps)."""

    params: int  # trainable parameters (exact, from the cost model)
    macs: int  # multiply-accumulates of one inference
    feasible: bool  # within the parameter budget (an infeasible network is not trained)
    latency_s: float  # the latency objective
    single_device_s: float  # one-device latency on the same profile
    devices_used: int  # devices of the recommended placement
    accuracy: float  # top-1 test accuracy in % over the wire (0.0: not trained, infeasible)
    accuracy_fp32: float | None  # the same network evaluated without the wire codec
    train_seconds: float  # wall time of the proxy training
    latency_source: str = "simulation"  # what latency_s rests on: LatencyEstimate.source

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON dictionary."""
        return asdict(self)


def spec_params(spec: ArchSpec) -> tuple[int, int]:
    """(parameters, MACs) of ``spec`` from the cost model (equal to the built module's)."""
    from parawire.analysis.costs import spec_costs

    costs = spec_costs(spec)
    return int(costs.total_params), int(costs.total_macs)


def latency(spec: ArchSpec, cfg: SearchConfig, wire_dtype: str) -> Latency:
    """The recommended deployment of ``spec`` on up to ``cfg.devices`` devices of
    ``cfg.profile`` (``parawire.analyze``, select=latency); with ``cfg.predictor``, the learned
    predictor's latency of that same deployment."""
    from parawire.analysis.api import analyze

    # up to k devices: a network of fewer vertices cannot use more than it has
    k = min(cfg.devices, len(spec.nodes))
    result = analyze(spec, devices=k, profile=cfg.profile, wire_dtype=wire_dtype, effort=cfg.effort)
    seconds, source = float(result.makespan_s), "simulation"
    if cfg.predictor is not None:
        from parawire.search.predictor import predict_latency

        seconds = predict_latency(
            cfg.predictor,
            spec,
            devices=k,
            placement=dict(result.placement),
            profile=cfg.profile,
            wire_dtype=wire_dtype,
        )
        source = f"predictor:{cfg.predictor}"
    return Latency(
        seconds,
        float(result.single_device_s),
        int(result.devices_used),
        dict(result.placement),
        source,
    )


def proxy_accuracy(
    spec: ArchSpec,
    splits: ImageSplits,
    cfg: SearchConfig,
    wire_dtype: str,
    placement: dict[int, int],
) -> tuple[float, float, float]:
    """(accuracy over the wire %, float32 accuracy %, training seconds) after ``cfg.epochs``."""
    import torch

    from parawire.nn.model_ref import ModelRef
    from parawire.runtime.planner import input_first
    from parawire.runtime.wire import emulate_wire
    from parawire.train.loop import Trainer
    from parawire.train.recipes import create_recipe

    recipe = create_recipe(cfg.recipe, batch_size=cfg.batch_size, lr=cfg.lr)
    trainer = Trainer(
        ModelRef.from_spec(spec),
        splits,
        recipe,
        epochs=cfg.epochs,
        seed=cfg.seed,
        compile=cfg.compile,
    )
    result = trainer.fit()
    fp32 = float(result.test_acc)
    if wire_dtype == "float32" or max(placement.values()) == 0:
        return fp32, fp32, result.train_seconds  # nothing crosses devices, or exactly
    ranks = input_first(placement, spec)
    model = trainer.model.eval()
    correct = total = 0
    with torch.inference_mode():
        for x, y in trainer.test_batches.epoch():
            logits = emulate_wire(model, x, ranks, wire_dtype=wire_dtype, scatter="image")
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    return 100.0 * correct / total, fp32, result.train_seconds


def evaluate_choice(choice: Choice, splits: ImageSplits, cfg: SearchConfig) -> Evaluation:
    """Parameters, latency and (when within the budget) proxy accuracy of ``choice``."""
    spec = choice.spec(splits.input_shape, splits.num_classes)
    params, macs = spec_params(spec)
    lat = latency(spec, cfg, choice.wire_dtype)
    feasible = cfg.max_params is None or params <= cfg.max_params
    accuracy, fp32, seconds = 0.0, None, 0.0
    if feasible:
        accuracy, fp32, seconds = proxy_accuracy(
            spec, splits, cfg, choice.wire_dtype, lat.placement
        )
    return Evaluation(
        params=params,
        macs=macs,
        feasible=feasible,
        latency_s=lat.seconds,
        single_device_s=lat.single_device_s,
        devices_used=lat.devices_used,
        accuracy=accuracy,
        accuracy_fp32=fp32,
        train_seconds=seconds,
        latency_source=lat.source,
    )
