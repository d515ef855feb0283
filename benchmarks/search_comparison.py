"""Search methods compared: accuracy against 4-device latency, simulated and emulated.

Four ways to find an architecture, each ending in one finalist trained from scratch with the
same budget (``--final-epochs`` of the ``modern`` recipe, seed 0) and deployed on up to 4
devices of each profile (``parawire.analyze``, the recommended placement, simulated):

* (a) ``randwire``: RandWire's method: ``--samples`` random er/ba/ws graphs (the generators'
  RandWire parameters, random seeds), each trained ``--proxy-epochs``; the most accurate one.
* (b) ``random-dp``: the same with random dp graphs (random alpha, beta, P).
* (c) ``nsga2``: ``parawire search`` (NSGA-II, ``--trials`` trials of ``--proxy-epochs``) on the
  profile; from its Pareto front the fastest member at least as accurate as (a)'s pick (by proxy
  accuracy), else the most accurate one.
* (d) ``diff``: ``parawire search diff`` for each of ``--lambdas`` (a ``--nodes``-vertex dense
  supernet in ``--stages`` stages of widths 16, 32, 64, ..., like the staged networks of
  (a)-(c); ``--search-epochs``; ``--per-vertex`` discretisation if given), each discretised
  network trained ``--proxy-epochs``; the same rule as (c).

Every finalist's recommended plan (``make_plan``: the same selection on up to 4 devices of the
profile) is then run through the runtime on loopback with emulated devices of the profile,
time-dilated (``parawire run PLAN --emulate PROFILE --dilation auto``): the p50 of ``--runs``
inferences (seeded weights: latency does not depend on them) and the vertices that overran
their emulated time. ``--no-emulate`` skips it.

Every architecture has the same input (32x32, stem stride ``--stem-stride``, default 2: 16x16
maps), stem widths of 8 or 16 and float32 on the wire, so latency differences come from the
wiring and sizes. Data: ``digits`` (default, embedded) or any registered data set with
``--data``, e.g. a CIFAR-10 subset (``--subset`` training and ``--test-subset`` test images,
seeded; the sizes are printed):

    .venv/bin/python benchmarks/search_comparison.py                       # the default size
    .venv/bin/python benchmarks/search_comparison.py --samples 4 --trials 10 --final-epochs 3
    .venv/bin/python benchmarks/search_comparison.py --dataset cifar10 \
        --data ../shared/data/cifar10/cifar10-jpg.tar.gz --subset 5000 --test-subset 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import parawire
from parawire.data import load_dataset
from parawire.errors import ParawireError
from parawire.search import SearchConfig, SearchSpace, run_search
from parawire.search.darts import DiffConfig, finalist, sweep
from parawire.search.evaluate import latency
from parawire.search.front import member_spec
from parawire.search.space import Choice

PROFILES = ("rpi4-wifi", "rpi4-ethernet")
DEVICES = 4
SPACE = SearchSpace(
    vertices=(8, 20),
    channels=(8, 16),
    c_max=(16, 32, 64),
    wire_dtypes=("float32",),
    ba_m=(1, 5),
    ws_k=(2, 4, 6),
    stem_stride=2,
)


def random_samples(
    families: tuple[str, ...], count: int, seed: int, space: SearchSpace = SPACE
) -> list[Choice]:
    """RandWire-style samples: a family's RandWire parameters (dp: random alpha, beta, P),
    probabilistic staging, pooled merge, a random vertex count, width and graph seed."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        family = families[i % len(families)]
        n = int(rng.integers(space.vertices[0], space.vertices[1] + 1))
        params: dict[str, Any] = {"n": n}
        if family == "dp":
            params |= {
                "alpha": float(rng.uniform(*space.dp_alpha)),
                "beta": float(rng.uniform(*space.dp_beta)),
                "p": float(rng.uniform(*space.dp_p)),
            }
        elif family == "ba":
            params["m"] = min(5, n - 1)
        out.append(
            Choice(
                family=family,
                params=params,
                channels=int(rng.choice(space.channels)),
                c_max=64,
                merge="pooled",
                arch_seed=int(rng.integers(0, 2**31 - 1)),
                stem_stride=space.stem_stride,
            )
        )
    return out


def proxy_train(spec: parawire.ArchSpec, splits: Any, epochs: int) -> float:
    """Test accuracy after ``epochs`` of the modern recipe (seed 0)."""
    from parawire.nn.model_ref import ModelRef
    from parawire.train.loop import train_model
    from parawire.train.recipes import create_recipe

    return train_model(
        ModelRef.from_spec(spec), splits, create_recipe("modern"), epochs=epochs
    ).test_acc


def pick(candidates: list[dict[str, Any]], floor: float) -> dict[str, Any]:
    """The fastest candidate at least as accurate as ``floor``, else the most accurate."""
    good = [c for c in candidates if c["proxy_acc"] >= floor]
    if good:
        return min(good, key=lambda c: c["latency_ms"])
    return max(candidates, key=lambda c: (c["proxy_acc"], -c["latency_ms"]))


def emulated(
    spec: parawire.ArchSpec, profile: str, runs: int, timeout: float, margin: float
) -> dict[str, Any]:
    """The recommended plan of ``spec`` on up to 4 devices of ``profile`` (the simulated
    column's selection) run on loopback with emulated, time-dilated devices of ``profile``:
    p50 and p95 of ``runs`` inferences in ms, overrunning vertices, the dilation factor.

    The factor is ``auto_dilation``'s times ``margin``: on a shared machine whose load moves
    between the timing and the run, the extra head room keeps vertices within their emulated
    time, and costs only wall time (a few ms per inference, times the factor)."""
    from parawire.runtime import RunOptions, make_plan, run_local
    from parawire.runtime.dilation import auto_dilation, dilated_profile_ref

    plan = make_plan(spec, min(DEVICES, len(spec.nodes)), profile=profile)
    factor = round(margin * auto_dilation(plan, profile), 1)
    with tempfile.TemporaryDirectory(prefix="parawire-dilation-") as tmp:
        options = RunOptions(
            runs=runs, warmup=2, threads=1, timeout=timeout * factor,
            emulate=dilated_profile_ref(profile, factor, tmp),
        )  # fmt: skip
        report = run_local(plan, options)
    return {
        "emulated_ms": 1e3 * report.p50_s / factor,
        "emulated_p95_ms": 1e3 * report.p95_s / factor,
        "emulated_single_ms": 1e3 * report.single_process_p50_s / factor,
        "emulated_simulated_ms": 1e3 * report.simulated_makespan_s / factor,
        "emulated_ranks": plan.world,
        "overruns": len(report.emulation.get("over_emulated_time", [])),
        "dilation": factor,
        "max_abs_diff": report.max_abs_diff,
    }


def probe_splitting(args: argparse.Namespace, shape: tuple[int, int, int], classes: int) -> str:
    """Does splitting pay for networks of this space? No training: for the random samples of
    (a) and (b) and the staged supernet of (d), at stem strides 2 and 1, wider stems and
    float32 or int8 on the wire, the simulated latency on 1 device and the recommended one on
    up to 4 devices of each profile, as one Markdown table (medians over the samples)."""
    from parawire.analysis.api import analyze
    from parawire.search.darts import supernet_spec

    lines = [
        "| stem stride | stem widths | wire | profile | networks | 1-device ms | up-to-4 ms "
        "| gain | split (>1 device) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for stride in (2, 1):
        for widths in ((8, 16), (64, 128)):
            space = dataclasses.replace(SPACE, stem_stride=stride, channels=widths)
            specs = [
                c.spec(shape, classes)
                for fams, seed in ((("er", "ba", "ws"), 1), (("dp",), 2))
                for c in random_samples(fams, args.samples, seed, space)
            ]
            specs.append(supernet_spec(args.nodes, widths[-1], shape, classes, stride, 3))
            for wire in ("float32", "int8"):
                for profile in args.profiles.split(","):
                    results = [
                        analyze(s, min(DEVICES, len(s.nodes)), profile, wire_dtype=wire)
                        for s in specs
                    ]
                    one = float(np.median([1e3 * r.single_device_s for r in results]))
                    best = float(np.median([1e3 * r.makespan_s for r in results]))
                    split = sum(r.devices_used > 1 for r in results)
                    lines.append(
                        f"| {stride} | {widths[0]}, {widths[1]} | {wire} | {profile} | "
                        f"{len(specs)} | {one:.2f} | {best:.2f} | {100 * (1 - best / one):.0f}% "
                        f"| {split} of {len(specs)} |"
                    )
    return "\n".join(lines)


def load_splits(args: argparse.Namespace) -> Any:
    """The data set of the comparison (a seeded subset when ``--subset`` is given)."""
    return load_dataset(args.dataset, root=args.data, **dict(data_options(args)))


def data_options(args: argparse.Namespace) -> tuple[tuple[str, int], ...]:
    """``load_dataset`` options of ``--subset``/``--test-subset`` (for the NSGA-II search)."""
    options = []
    if args.subset is not None:
        options.append(("train_subset", args.subset))
        test = args.test_subset if args.test_subset is not None else max(1, args.subset // 5)
        options.append(("test_subset", test))
    elif args.test_subset is not None:
        options.append(("test_subset", args.test_subset))
    return tuple(options)


def main() -> None:
    """Run the four methods on both profiles; print one Markdown table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=6, help="(a) and (b): random samples")
    parser.add_argument("--trials", type=int, default=16, help="(c): NSGA-II trials")
    parser.add_argument("--proxy-epochs", type=int, default=1)
    parser.add_argument("--final-epochs", type=int, default=4)
    parser.add_argument("--lambdas", default="0,1,3")
    parser.add_argument("--nodes", type=int, default=10, help="(d): supernet vertices")
    parser.add_argument("--stages", type=int, default=3, help="(d): supernet stages")
    parser.add_argument("--search-epochs", type=int, default=2, help="(d): DARTS epochs")
    parser.add_argument(
        "--per-vertex", action="store_true", help="(d): each vertex keeps its strongest edges"
    )
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument("--dataset", default="digits", help="data set registry name")
    parser.add_argument("--data", default=None, help="data path (e.g. CIFAR-10's archive)")
    parser.add_argument("--subset", type=int, default=None, help="training images kept")
    parser.add_argument("--test-subset", type=int, default=None, help="test images kept")
    parser.add_argument("--stem-stride", type=int, default=2, help="every network's stem")
    parser.add_argument("--runs", type=int, default=10, help="emulated inferences measured")
    parser.add_argument("--run-timeout", type=float, default=60.0, help="emulated run wait, s")
    parser.add_argument("--no-emulate", action="store_true", help="skip the emulated runs")
    parser.add_argument(
        "--probe-splitting", action="store_true", help="only the no-training splitting probe"
    )
    parser.add_argument(
        "--dilation-margin", type=float, default=3.0, help="times auto_dilation's factor"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default: none)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    space = dataclasses.replace(SPACE, stem_stride=args.stem_stride)
    try:
        splits = load_splits(args)
    except ParawireError as exc:  # e.g. cifar10 without --data: one line, no traceback
        parser.error(str(exc))
    shape, classes = splits.input_shape, splits.num_classes
    sizes = f"{len(splits.train_labels):,} train / {len(splits.test_labels):,} test images"
    print(f"{args.dataset}: {sizes}; load {os.getloadavg()[0]:.1f}", flush=True)
    profiles = args.profiles.split(",")
    if args.probe_splitting:
        print(probe_splitting(args, shape, classes))
        return

    def lat_ms(spec: parawire.ArchSpec, profile: str) -> float:
        cfg = SearchConfig(devices=DEVICES, profile=profile)
        return 1e3 * latency(spec, cfg, "float32").seconds

    pools: dict[str, list[dict[str, Any]]] = {}
    for name, families, seed in (("randwire", ("er", "ba", "ws"), 1), ("random-dp", ("dp",), 2)):
        pools[name] = []
        for choice in random_samples(families, args.samples, seed, space):
            spec = choice.spec(shape, classes)
            acc = proxy_train(spec, splits, args.proxy_epochs)
            pools[name].append(
                {"spec": spec, "proxy_acc": acc, "lat": {p: lat_ms(spec, p) for p in profiles}}
            )
        print(
            f"{name}: {len(pools[name])} samples trained ({time.time() - start:.0f}s)", flush=True
        )
    rows = []
    for profile in profiles:
        picks: dict[str, tuple[parawire.ArchSpec, float, float]] = {}
        for name in ("randwire", "random-dp"):
            best = max(pools[name], key=lambda c: (c["proxy_acc"], -c["lat"][profile]))
            picks[name] = (best["spec"], best["proxy_acc"], 0.0)
        floor = picks["randwire"][1]
        t0 = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            cfg = SearchConfig(
                dataset=args.dataset, data=args.data, dataset_options=data_options(args),
                trials=args.trials, epochs=args.proxy_epochs, devices=DEVICES,
                profile=profile, space_name="benchmark", space=space,
            )  # fmt: skip
            outcome = run_search(cfg, Path(tmp))
        front = [{**r, "proxy_acc": r["accuracy"]} for r in outcome.front]
        chosen = pick(front, floor)
        picks["nsga2"] = (
            member_spec(chosen, shape, classes),
            chosen["proxy_acc"],
            time.time() - t0,
        )
        print(f"{profile}: nsga2 searched in {time.time() - t0:.0f}s", flush=True)
        t0 = time.time()
        diff_cfg = DiffConfig(
            nodes=args.nodes, channels=16, stages=args.stages, stem_stride=args.stem_stride,
            devices=DEVICES, profile=profile, search_epochs=args.search_epochs,
            per_vertex=args.per_vertex,
        )  # fmt: skip
        lambdas = [float(x) for x in args.lambdas.split(",")]
        swept = sweep(splits, diff_cfg, lambdas, epochs=args.proxy_epochs)
        cands = [{**r, "proxy_acc": r["accuracy"]} for r in swept]
        chosen = pick(cands, floor)
        spec = parawire.ArchSpec.from_dict(chosen["spec"])
        picks["diff"] = (spec, chosen["proxy_acc"], time.time() - t0)
        print(f"{profile}: diff searched in {time.time() - t0:.0f}s", flush=True)
        for method, (spec, proxy, search_s) in picks.items():
            final = finalist(
                spec, splits, epochs=args.final_epochs, devices=DEVICES, profile=profile
            )
            if not args.no_emulate:
                final |= emulated(spec, profile, args.runs, args.run_timeout, args.dilation_margin)
            rows.append({"profile": profile, "method": method, "proxy_acc": proxy,
                         "search_s": search_s, "spec": spec.to_dict(), **final})  # fmt: skip
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "spec"}), flush=True)
    seconds = time.time() - start
    print(f"\n{seconds:.0f}s in all; {args.dataset} ({sizes}), {DEVICES} devices, finalists "
          f"trained {args.final_epochs} epochs; load {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print(markdown_table(rows))
    if args.out is not None:
        doc = {"args": vars(args) | {"out": str(args.out)}, "dataset_sizes": sizes,
               "seconds": seconds, "load_after": os.getloadavg(), "rows": rows}  # fmt: skip
        args.out.write_text(json.dumps(doc, indent=1))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The comparison as one Markdown table (emulated columns when measured)."""
    lines = [
        "| profile | method | vertices | params | accuracy % | simulated latency ms "
        "| emulated latency ms (p50) | overruns | devices used | vs (a) latency |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = next(b for b in rows if b["profile"] == r["profile"] and b["method"] == "randwire")
        change = 100.0 * (r["latency_ms"] / base["latency_ms"] - 1.0)
        emu = f"{r['emulated_ms']:.3f}" if "emulated_ms" in r else "not run"
        over = str(r["overruns"]) if "overruns" in r else "-"
        lines.append(
            f"| {r['profile']} | {r['method']} | {r['vertices'] - 2} | {r['params']:,} | "
            f"{r['accuracy']:.2f} | {r['latency_ms']:.3f} | {emu} | {over} | "
            f"{r['devices_used']} | {change:+.0f}% |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
