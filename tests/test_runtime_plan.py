"""Plans: validation, JSON + safetensors round trip, per-rank weight slices, priority order,
and the `parawire run` / `plan` commands end to end (one small 2-rank run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from conftest import run_two_workers, small_spec
from parawire.cli import app
from parawire.errors import ConfigError, DataError
from parawire.runtime import Plan, load_plan_or_spec, make_plan, seeded_state_dict
from parawire.runtime.planner import input_first
from parawire.train.checkpoint import save_weights


def _plan(world: int = 2, **kw) -> Plan:  # type: ignore[no-untyped-def]
    spec = small_spec("dp", size=16)
    return Plan(spec, {v: i % world for i, v in enumerate(spec.topological_order)}, world, **kw)


def test_every_vertex_must_be_placed_in_range() -> None:
    plan = _plan()
    missing = dict(plan.placement)
    missing.pop(plan.spec.output_node)
    with pytest.raises(ConfigError, match=f"vertex {plan.spec.output_node} has no rank"):
        Plan(plan.spec, missing, 2)
    with pytest.raises(ConfigError, match=r"outside 0\.\.1"):
        Plan(plan.spec, {**plan.placement, plan.spec.input_node: 2}, 2)
    with pytest.raises(ConfigError, match="lacks"):
        Plan(plan.spec, {**plan.placement, 999: 0}, 2)


def test_save_load_round_trip_with_weights(tmp_path: Path) -> None:
    state = seeded_state_dict(_plan().spec, 5)
    weights = save_weights(tmp_path / "w.safetensors", state)
    plan = _plan(weights=weights, info={"partitioner": "hand"})
    loaded = Plan.load(plan.save(tmp_path / "plan"))
    assert loaded.placement == plan.placement and loaded.world == 2
    assert loaded.spec.digest() == plan.spec.digest() and loaded.info == plan.info
    assert (tmp_path / "plan" / "weights.safetensors").exists()
    # each rank reads exactly its own vertices' tensors (and the head on the output's rank)
    keys: set[str] = set()
    for rank in range(2):
        part = loaded.state_dict(rank)
        ids = {int(k.split(".")[1]) for k in part if k.startswith("vertices.")}
        assert ids <= set(loaded.vertices_of(rank))
        assert ("head.4.weight" in part) == (loaded.placement[loaded.spec.output_node] == rank)
        for k, t in part.items():
            assert torch.equal(t, state[k])
        keys |= set(part)
    assert keys == set(state)


def test_seeded_weights_are_the_same_for_a_seed_and_differ_for_another() -> None:
    spec = _plan().spec
    a, b, c = (seeded_state_dict(spec, s) for s in (1, 1, 2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_each_rank_runs_the_simulated_order() -> None:
    from parawire.analysis.costs import spec_costs
    from parawire.analysis.profiles import create_profile
    from parawire.analysis.simulate import simulate

    plan = _plan(world=3)
    graph = spec_costs(plan.spec, wire_dtype=plan.wire_dtype, scatter=plan.scatter)
    schedule = simulate(graph, plan.placement, create_profile("local-cpu"), 3)
    for rank, order in schedule.device_orders().items():
        assert plan.vertices_of(rank) == order  # the one priority function: the simulation's
        position = {v: i for i, v in enumerate(order)}
        for e in plan.spec.edges:
            if e.src in position and e.dst in position:
                assert position[e.src] < position[e.dst]
    for v, ranks in schedule.send_orders().items():
        if v != plan.spec.output_node:
            assert plan.send_order(v) == ranks
    assert plan.execution == _plan(world=3).execution


def test_a_stored_schedule_travels_with_the_plan(tmp_path: Path) -> None:
    plan = make_plan(_plan().spec, 3, profile="rpi4-wifi", select="makespan")
    assert plan.schedule is not None and plan.schedule["profile"] == "rpi4-wifi"
    loaded = Plan.load(plan.save(tmp_path / "p"))
    assert loaded.execution == plan.execution
    # the stored (rpi4-wifi) order is what runs, not a fresh local-cpu simulation
    assert loaded.vertices_of(0) == tuple(plan.schedule["order"]["0"])
    bad = json.loads((tmp_path / "p" / "plan.json").read_text())
    busiest = max(bad["schedule"]["order"].values(), key=len)
    assert len(busiest) > 1
    busiest.reverse()  # producers after their consumers
    (tmp_path / "p" / "plan.json").write_text(json.dumps(bad))
    with pytest.raises((ConfigError, DataError), match="schedule"):
        Plan.load(tmp_path / "p")


def test_input_first_puts_the_input_on_rank_zero() -> None:
    plan = _plan(world=3)
    moved = {v: (r + 1) % 3 for v, r in plan.placement.items()}
    fixed = input_first(moved, plan.spec)
    assert fixed[plan.spec.input_node] == 0
    assert len(set(fixed.values())) == 3


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="plan not found"):
        Plan.load(tmp_path)
    (tmp_path / "x.json").write_text('{"plan_version": 99}')
    with pytest.raises(DataError, match="plan_version"):
        load_plan_or_spec(tmp_path / "x.json", None)
    spec_file = _plan().spec.save(tmp_path / "spec.json")
    with pytest.raises(ConfigError, match="needs --devices"):
        load_plan_or_spec(spec_file, None)
    with pytest.raises(ConfigError, match="at most"):
        make_plan(_plan().spec, 500)


def test_make_plan_uses_the_partitioner() -> None:
    plan = make_plan(_plan().spec, 3, partitioner="contiguous", select="makespan")
    assert plan.world == 3 and plan.info["partitioner"] == "contiguous"
    assert plan.placement[plan.spec.input_node] == 0


@pytest.mark.slow  # spawns ranks: about 100 s on 2 cores at load 14
def test_run_text_shows_intervals_spread_breakdown_and_pinning(tmp_path: Path) -> None:
    plan = Plan(
        small_spec("lanes", size=16),
        {v: i % 2 for i, v in enumerate(small_spec("lanes", size=16).topological_order)},
        2,
    )
    plan = Plan(plan.spec, {**plan.placement, plan.spec.input_node: 0}, 2).save(tmp_path / "p")
    args = ["run", str(tmp_path / "p"), "--runs", "2", "--warmup", "0", "--check", "0"]
    args += ["--processes", "2", "--breakdown", "--no-pin", "--timeout", "30"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "2 runs x 2 fresh process(es) per side" in out
    assert "not pinned (--no-pin" in out
    speedup = next(line for line in out.splitlines() if line.strip().startswith("speedup"))
    assert "x [" in speedup and "]x" in speedup  # the bootstrap interval beside it
    assert "processes differ x" in out
    header = out.index("breakdown    median ms per inference: compute, wait, recv, send")
    rows = [line for line in out[header:].splitlines()[1:] if line.strip().startswith("rank")]
    assert len(rows) == 2 and all(len(r.split()) == 2 + 7 for r in rows)


@pytest.mark.slow  # spawns ranks: about 170 s on 2 cores at load 14
def test_run_command_json_and_plan_command(tmp_path: Path) -> None:
    spec_file = small_spec("lanes", size=16).save(tmp_path / "spec.json")
    runner = CliRunner()
    made = runner.invoke(
        app, ["plan", str(spec_file), "-n", "2", "--select", "cs", "-o", str(tmp_path / "p")]
    )
    assert made.exit_code == 0, made.output
    assert "2 of 2 ranks (kahypar" in made.output
    args = ["run", str(tmp_path / "p"), "--runs", "3", "--warmup", "1", "--timeout", "20"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    for key in ("p50_s", "p95_s", "mean_s", "single_process_p50_s", "speedup", "max_abs_diff"):
        assert report[key] >= 0
    assert report["max_abs_diff"] <= 1e-5
    assert report["simulated_makespan_s"] > 0 and report["devices"] == 2
    assert all(r["order_as_planned"] for r in report["ranks"])  # recorded traces
    assert len(report["ranks"]) == 2 and all(r["measured_busy_s"] > 0 for r in report["ranks"])
    # the per-rank traces travel in the JSON (parawire report draws the measured schedule)
    assert len(report["traces"]) == 2
    # the traces of every fresh process's runs, one after another
    assert report["processes"] == 3 and len(report["spread"]["split"]["process_medians_s"]) == 3
    low, high = report["speedup_interval"]
    assert low <= report["speedup"] <= high
    for doc in report["traces"]:
        assert len(doc["traces"]) == 3 * 3 and len(doc["starts"]) == 3 * 3
        assert len(doc["breakdown"]) == 3 * 3
        assert all(end >= start for run in doc["traces"] for _, start, end in run)
    check = report["check"]  # 100 real digits test images through the split, against float32
    assert check["images"] == 100 and check["top1_agreement"] == 1.0
    assert check["max_abs_diff"] <= 1e-5 and check["source"].startswith("digits")


def _edited(tmp_path: Path, **changes) -> Path:  # type: ignore[no-untyped-def]
    folder = _plan().save(tmp_path / "plan")
    data = json.loads((folder / "plan.json").read_text())
    data.update(changes)
    (folder / "plan.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"world": 1_000_000}, "asks for 1000000 ranks"),
        ({"world": True}, "world must be an integer"),
        ({"world": 2.5}, "world must be an integer"),
        ({"weights": "/etc/passwd"}, "weights must be a file name next to plan.json"),
        ({"weights": "../../x.safetensors"}, "weights must be a file name next to plan.json"),
        ({"wire_dtype": "int4"}, "unknown wire dtype"),
        ({"scatter": "pixels"}, "unknown scatter"),
        ({"plan_version": 99}, "not a parawire plan"),
    ],
)
def test_a_tampered_plan_is_refused_before_anything_runs(
    tmp_path: Path, changes: dict, words: str
) -> None:
    folder = _edited(tmp_path, **changes)
    with pytest.raises((ConfigError, DataError), match=words) as info:
        Plan.load(folder)
    assert "\n" not in str(info.value)


def test_a_version_1_plan_runs_as_it_did(tmp_path: Path) -> None:
    folder = _edited(tmp_path, plan_version=1)
    data = json.loads((folder / "plan.json").read_text())
    del data["wire_dtype"], data["scatter"]
    (folder / "plan.json").write_text(json.dumps(data))
    plan = Plan.load(folder)
    assert plan.scatter == "stem" and plan.wire_dtype == "float32"
    assert plan.stem_ranks == (plan.placement[plan.spec.input_node],)


def test_image_scatter_runs_the_stem_where_it_is_consumed() -> None:
    plan = _plan(world=3)
    source = plan.spec.input_node
    consumers = {plan.placement[w] for w in plan.spec.successors[source]}
    assert set(plan.stem_ranks) == consumers
    for rank in range(3):
        assert (source in plan.vertices_of(rank)) == (rank in consumers)
        assert any(k.startswith(f"vertices.{source}.") for k in plan.state_dict(rank)) == (
            rank in consumers
        )


@pytest.mark.slow  # spawns ranks: about 35 s on 2 cores at load 14
def test_worker_command_two_ranks_on_loopback(tmp_path: Path) -> None:
    spec = small_spec("lanes", size=16)
    Plan(spec, {v: i % 2 for i, v in enumerate(spec.topological_order)}, 2).save(tmp_path)
    report = run_two_workers(tmp_path)
    assert report["world"] == 2 and report["p50_s"] > 0


def test_an_oversized_plan_file_is_refused_before_parsing(tmp_path: Path, monkeypatch) -> None:
    import parawire.arch.spec as spec_module

    folder = _plan().save(tmp_path / "plan")
    monkeypatch.setattr(spec_module, "MAX_SPEC_BYTES", 1000)  # the real cap is 64 MiB
    with pytest.raises(DataError, match="over 1,000 bytes"):
        Plan.load(folder)
    with pytest.raises(DataError, match="over 1,000 bytes"):
        load_plan_or_spec(folder, None)
