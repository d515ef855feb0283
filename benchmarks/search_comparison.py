"""Search methods compared: accuracy against simulated 4-device latency, on digits.

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
  supernet, ``--search-epochs``; ``--per-vertex`` discretisation if given), each discretised
  network trained ``--proxy-epochs``; the same rule as (c).

Every architecture has the same input (digits at 32x32, stem stride 2: 16x16 maps), stem widths
of 8 or 16 and float32 on the wire, so latency differences come from the wiring and sizes.

    .venv/bin/python benchmarks/search_comparison.py                       # the default size
    .venv/bin/python benchmarks/search_comparison.py --samples 4 --trials 10 --final-epochs 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import parawire
from parawire.data import load_dataset
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


def random_samples(families: tuple[str, ...], count: int, seed: int) -> list[Choice]:
    """RandWire-style samples: a family's RandWire parameters (dp: random alpha, beta, P),
    probabilistic staging, pooled merge, a random vertex count, width and graph seed."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        family = families[i % len(families)]
        n = int(rng.integers(SPACE.vertices[0], SPACE.vertices[1] + 1))
        params: dict[str, Any] = {"n": n}
        if family == "dp":
            params |= {
                "alpha": float(rng.uniform(*SPACE.dp_alpha)),
                "beta": float(rng.uniform(*SPACE.dp_beta)),
                "p": float(rng.uniform(*SPACE.dp_p)),
            }
        elif family == "ba":
            params["m"] = min(5, n - 1)
        out.append(
            Choice(
                family=family,
                params=params,
                channels=int(rng.choice(SPACE.channels)),
                c_max=64,
                merge="pooled",
                arch_seed=int(rng.integers(0, 2**31 - 1)),
                stem_stride=SPACE.stem_stride,
            )
        )
    return out


def proxy_train(spec: parawire.ArchSpec, splits: Any, epochs: int) -> float:
    """Test accuracy after ``epochs`` of the modern recipe (seed 0)."""
    from parawire.train.loop import train_model
    from parawire.train.models import ModelSource
    from parawire.train.recipes import get_recipe

    return train_model(
        ModelSource.from_spec(spec), splits, get_recipe("modern"), epochs=epochs
    ).test_acc


def pick(candidates: list[dict[str, Any]], floor: float) -> dict[str, Any]:
    """The fastest candidate at least as accurate as ``floor``, else the most accurate."""
    good = [c for c in candidates if c["proxy_acc"] >= floor]
    if good:
        return min(good, key=lambda c: c["latency_ms"])
    return max(candidates, key=lambda c: (c["proxy_acc"], -c["latency_ms"]))


def main() -> None:
    """Run the four methods on both profiles; print one Markdown table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=6, help="(a) and (b): random samples")
    parser.add_argument("--trials", type=int, default=16, help="(c): NSGA-II trials")
    parser.add_argument("--proxy-epochs", type=int, default=1)
    parser.add_argument("--final-epochs", type=int, default=4)
    parser.add_argument("--lambdas", default="0,1,3")
    parser.add_argument("--nodes", type=int, default=10, help="(d): supernet vertices")
    parser.add_argument("--search-epochs", type=int, default=2, help="(d): DARTS epochs")
    parser.add_argument(
        "--per-vertex", action="store_true", help="(d): each vertex keeps its strongest edges"
    )
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default: none)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    splits = load_dataset("digits")
    shape, classes = splits.input_shape, splits.num_classes
    profiles = args.profiles.split(",")

    def lat_ms(spec: parawire.ArchSpec, profile: str) -> float:
        cfg = SearchConfig(devices=DEVICES, profile=profile)
        return 1e3 * latency(spec, cfg, "float32").seconds

    pools: dict[str, list[dict[str, Any]]] = {}
    for name, families, seed in (("randwire", ("er", "ba", "ws"), 1), ("random-dp", ("dp",), 2)):
        pools[name] = []
        for choice in random_samples(families, args.samples, seed):
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
                dataset="digits", trials=args.trials, epochs=args.proxy_epochs, devices=DEVICES,
                profile=profile, space_name="benchmark", space=SPACE,
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
            nodes=args.nodes, channels=16, stem_stride=2, devices=DEVICES, profile=profile,
            search_epochs=args.search_epochs, per_vertex=args.per_vertex,
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
            rows.append({"profile": profile, "method": method, "proxy_acc": proxy,
                         "search_s": search_s, **final})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{time.time() - start:.0f}s in all; digits, {DEVICES} devices, finalists trained "
          f"{args.final_epochs} epochs\n")  # fmt: skip
    print("| profile | method | vertices | params | accuracy % | simulated latency ms "
          "| devices used | vs (a) latency |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = next(b for b in rows if b["profile"] == r["profile"] and b["method"] == "randwire")
        change = 100.0 * (r["latency_ms"] / base["latency_ms"] - 1.0)
        print(f"| {r['profile']} | {r['method']} | {r['vertices'] - 2} | {r['params']:,} | "
              f"{r['accuracy']:.2f} | {r['latency_ms']:.3f} | {r['devices_used']} | "
              f"{change:+.0f}% |")  # fmt: skip
    if args.out is not None:
        args.out.write_text(
            json.dumps({"args": vars(args) | {"out": str(args.out)}, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
