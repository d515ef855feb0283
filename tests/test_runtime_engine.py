"""Distributed logits equal the single-process model's, for every generator, staging mode,
k in 1..3, hand-made placements (round-robin, one rank per stage, reversed) and every
registered partitioner's placement; batch 2, repeated inferences and an emulated link too;
both scatter modes (image: replicated stem; stem: its output sent), both merge modes, and every
wire dtype (lossy ones against ``emulate_wire``, the same codec in one process).

One group of 3 spawned ranks runs all cases (the oracle: ``build_model(spec)`` in this process
with the same seeded weights); each case is then checked on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from conftest import GENERATORS, STAGINGS, small_spec
from parawire.analysis.costs import spec_costs
from parawire.analysis.partitioners import create_partitioner, list_partitioners
from parawire.analysis.profiles import create_profile
from parawire.arch import ArchSpec
from parawire.nn import build_model
from parawire.runtime import Plan, RankEngine, seeded_state_dict
from parawire.runtime.group import StoreHost, join_group, leave_group, use_loopback_for_gloo
from parawire.runtime.planner import input_first
from parawire.runtime.reference import make_image
from parawire.runtime.wire import emulate_wire

WORLD = 3
TIMEOUT = 20.0


class FastLink:
    """A link emulation fast enough for tests (0.2 ms + 1 GB/s)."""

    def seconds(self, nbytes: int) -> float:
        return 2e-4 + nbytes / 1e9


def _placements(spec: ArchSpec) -> dict[str, dict[int, int]]:
    """Hand-made placements: k = 1, 2, 3, stages split across ranks, input off rank 0."""
    order = spec.topological_order
    by_stage = {v: st.index % WORLD for st in spec.stages for v in st.nodes}
    return {
        "k1": dict.fromkeys(order, 0),
        "k2-round-robin": {v: i % 2 for i, v in enumerate(order)},
        "k3-round-robin": {v: i % 3 for i, v in enumerate(order)},
        "k3-reversed": {v: 2 - i % 3 for i, v in enumerate(order)},  # input and output elsewhere
        "by-stage": by_stage,
    }


def _cases() -> list[dict]:
    """Every (spec, placement, batch, link) case, as JSON-ready dicts."""
    cases = []
    for gen in GENERATORS:
        for staging in STAGINGS:
            spec = small_spec(gen, staging, size=16)
            for name, placement in _placements(spec).items():
                if staging != "probabilistic" and name not in ("k3-round-robin", "by-stage"):
                    continue
                cases.append({"id": f"{gen}-{staging}-{name}", "spec": spec, "place": placement})
    profile = create_profile("local-cpu")
    for gen in ("dp", "lanes", "er"):
        spec = small_spec(gen, size=16)
        graph = spec_costs(spec)
        for part in list_partitioners():
            for k in (2, 3):
                placement = create_partitioner(part).partition(graph, k, profile=profile, seed=0)
                cases.append(
                    {
                        "id": f"{gen}-{part}-k{k}",
                        "spec": spec,
                        "place": input_first(placement.assignment, spec),
                    }
                )
    spec = small_spec("ws", size=16)
    placement = {v: i % 3 for i, v in enumerate(spec.topological_order)}
    cases.append({"id": "ws-batch2", "spec": spec, "place": placement, "batch": 2})
    cases.append({"id": "ws-link", "spec": spec, "place": placement, "link": True})
    for gen in GENERATORS:  # pooled merge and both scatter modes at k = 2 and 3
        spec = small_spec(gen, size=16, merge="pooled")
        for k in (2, 3):
            place = {v: i % k for i, v in enumerate(spec.topological_order)}
            for scatter in ("image", "stem"):
                cases.append(
                    {"id": f"{gen}-pooled-{scatter}-k{k}", "spec": spec, "place": place,
                     "scatter": scatter}
                )  # fmt: skip
    spec = small_spec("dp", size=16, merge="pooled")
    place = {v: i % 3 for i, v in enumerate(spec.topological_order)}
    for wire in ("float16", "bfloat16", "int8"):
        for scatter in ("image", "stem"):
            cases.append(
                {"id": f"dp-{wire}-{scatter}", "spec": spec, "place": place, "scatter": scatter,
                 "wire": wire, "batch": 2}
            )  # fmt: skip
    return cases


def _worker(rank: int, port: int, cases_file: str, out_dir: str, world: int) -> None:
    """One rank: join once, then run every case twice (repeated inferences) in the same group."""
    torch.set_num_threads(1)
    use_loopback_for_gloo()
    import torch.distributed as dist

    store = dist.TCPStore("127.0.0.1", port, is_master=False)
    join_group(store, rank, world, TIMEOUT)
    results: dict[str, torch.Tensor] = {}
    try:
        for case in json.loads(Path(cases_file).read_text()):
            spec = ArchSpec.from_dict(case["spec"])
            placement = {int(v): r for v, r in case["place"].items()}
            plan = Plan(
                spec,
                placement,
                world,
                seed=7,
                scatter=case.get("scatter", "image"),
                wire_dtype=case.get("wire", "float32"),
            )
            batch = case.get("batch", 1)
            link = FastLink() if case.get("link") else None
            engine = RankEngine(plan, rank, batch=batch, timeout=TIMEOUT, link=link)
            image = make_image(spec.input_shape, batch, seed=3) if rank == 0 else None
            for i in range(2):
                logits = engine.infer(image)
                if rank == 0:
                    results[f"{case['id']}/{i}"] = logits.clone()
            engine.close()
    finally:
        leave_group()
    if rank == 0:
        save_file(results, str(Path(out_dir) / "logits.safetensors"))


CASES = _cases()


def _run_cases(cases: list[dict], world: int, tmp: Path) -> dict[str, torch.Tensor]:
    """Run ``cases`` on one group of ``world`` spawned ranks; logits by ``case-id/inference``."""
    doc = [
        {**c, "spec": c["spec"].to_dict(), "place": {str(v): r for v, r in c["place"].items()}}
        for c in cases
    ]
    (tmp / "cases.json").write_text(json.dumps(doc))
    host = StoreHost("127.0.0.1", 0, world, TIMEOUT)
    try:
        mp.start_processes(
            _worker,
            args=(host.port, str(tmp / "cases.json"), str(tmp), world),
            nprocs=world,
            start_method="spawn",
        )
    finally:
        host.close()
    return load_file(str(tmp / "logits.safetensors"))


def _reference(case: dict) -> torch.Tensor:
    """The single-process oracle: ``build_model(spec)`` with the same seeded weights; for a
    lossy wire dtype, the same model with the wire codec on every tensor crossing ranks."""
    spec = case["spec"]
    model = build_model(spec)
    model.load_state_dict(seeded_state_dict(spec, 7))
    model.eval()
    image = make_image(spec.input_shape, case.get("batch", 1), seed=3)
    with torch.inference_mode():
        if case.get("wire", "float32") == "float32":
            return model(image)
        return emulate_wire(
            model, image, case["place"], wire_dtype=case["wire"], scatter=case["scatter"]
        )


def test_distributed_logits_equal_single_process(tmp_path: Path) -> None:
    # one test (not one per case) so that the group of ranks is spawned once, even under xdist
    logits = _run_cases(CASES, WORLD, tmp_path)
    wrong = []
    for case in CASES:
        reference = _reference(case)
        for i in range(2):
            got = logits[f"{case['id']}/{i}"]
            if got.shape != reference.shape or not torch.allclose(got, reference, atol=1e-5):
                wrong.append(f"{case['id']} (inference {i})")
    assert not wrong, f"{len(wrong)} of {2 * len(CASES)} inferences differ: {wrong[:10]}"


def test_cases_cover_every_partitioner_and_split_stages() -> None:
    ids = {c["id"] for c in CASES}
    for part in list_partitioners():
        assert f"dp-{part}-k3" in ids
    # some placement puts vertices of one stage on several ranks
    split = [
        c for c in CASES for st in c["spec"].stages if len({c["place"][v] for v in st.nodes}) > 1
    ]
    assert split


@pytest.mark.slow
def test_four_ranks_every_generator_and_partitioner(tmp_path: Path) -> None:
    profile = create_profile("local-cpu")
    cases = []
    for gen in GENERATORS:
        spec = small_spec(gen, size=16)
        cases.append(
            {"id": f"{gen}-rr4", "spec": spec,
             "place": {v: i % 4 for i, v in enumerate(spec.topological_order)}}
        )  # fmt: skip
        for part in list_partitioners():
            placement = create_partitioner(part).partition(spec_costs(spec), 4, profile=profile)
            cases.append({"id": f"{gen}-{part}-k4", "spec": spec, "place": placement.assignment})
    logits = _run_cases(cases, 4, tmp_path)
    for case in cases:
        for i in range(2):
            got = logits[f"{case['id']}/{i}"]
            assert torch.allclose(got, _reference(case), atol=1e-5), case["id"]
