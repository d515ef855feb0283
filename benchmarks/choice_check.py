"""Same choices: the default ``analyze`` of today's code against an older revision's, case by case.

For ``--seeds`` held-out architectures of each of dp, er, ws and lanes (40 vertices, seeds from
``--first-seed``), at k = 2, 4, 8 on three profiles, both revisions choose a deployment with the
default call (``parawire.analyze(graph, k, profile)``: latency choice and refinement); the check
holds when today's chosen placement simulates within ``--tolerance`` (1%) of the reference's
makespan, or faster, in every case. Each revision runs in its own processes (``--jobs`` each,
side by side), importing parawire from its own ``src/`` (the reference's from ``git archive``).
Prints a summary and the worst cases; exit status 1 when some case breaks the tolerance. With
``--effort fast`` today's code analyses with ``effort="fast"`` (the reference with its default):
``--reference HEAD --effort fast`` measures what the fast effort costs in choices.

    .venv/bin/python benchmarks/choice_check.py --seeds 50 --jobs 1
    .venv/bin/python benchmarks/choice_check.py --seeds 5 --reference e529c3b --out rows.json
    .venv/bin/python benchmarks/choice_check.py --seeds 10 --reference HEAD --effort fast
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reference_code import (
    BEFORE_FAST_SIMULATOR,
    current_source,
    reference_source,
    run_worker,
)

GENERATORS = ("dp", "er", "ws", "lanes")
DEVICES = (2, 4, 8)
PROFILES = ("rpi4-wifi", "rpi4-ethernet", "t2micro")
FIRST_HELD_OUT_SEED = 100_000  # seeds no test, benchmark or tuning of issue 19 looked at


def cases(seeds: int, first_seed: int) -> list[dict[str, object]]:
    """Every (generator, seed, k, profile) to analyse."""
    return [
        {"generator": g, "seed": s, "devices": k, "profile": p}
        for g in GENERATORS
        for s in range(first_seed, first_seed + seeds)
        for k in DEVICES
        for p in PROFILES
    ]


def worker() -> None:
    """Analyse the cases on standard input (JSON lines) with the parawire on the path."""
    import torch

    import parawire
    from parawire.analysis.costs import spec_costs

    torch.set_num_threads(1)
    for line in sys.stdin:
        case = json.loads(line)
        graph = spec_costs(parawire.generate(case["generator"], seed=case["seed"], n=40))
        t0 = time.perf_counter()
        options = {"effort": case["effort"]} if "effort" in case else {}
        result = parawire.analyze(graph, case["devices"], profile=case["profile"], **options)
        seconds = time.perf_counter() - t0  # kept in --out; timing: score_throughput.py
        row = {**case, "makespan_s": result.makespan_s, "devices_used": result.devices_used,
               "partitioner": result.partitioner, "seconds": seconds}  # fmt: skip
        print(json.dumps(row), flush=True)


def run_all(src: Path, todo: list[dict[str, object]], jobs: int) -> list[dict[str, object]]:
    """The rows of every case, analysed by ``jobs`` worker processes importing from ``src``."""
    script = Path(__file__).resolve()
    shares = [todo[j::jobs] for j in range(jobs)]
    with ThreadPoolExecutor(jobs) as pool:
        lines = ["".join(json.dumps(c) + "\n" for c in share) for share in shares]
        outs = pool.map(lambda stdin: run_worker(script, src, ["--worker"], stdin), lines)
        return [json.loads(line) for out in outs for line in out.splitlines() if line]


def key(row: dict[str, object]) -> tuple[object, ...]:
    """The case a row answers."""
    return (row["generator"], row["seed"], row["devices"], row["profile"])


def main() -> None:
    """Run both revisions on every case and compare the chosen makespans."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50, help="held-out seeds per generator")
    parser.add_argument("--first-seed", type=int, default=FIRST_HELD_OUT_SEED)
    parser.add_argument("--reference", default=BEFORE_FAST_SIMULATOR, help="git revision")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes per revision")
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--effort", default="full", help="today's effort (full, fast)")
    parser.add_argument("--out", type=Path, help="write every pair of rows here (JSON)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    todo = cases(args.seeds, args.first_seed)
    t0 = time.perf_counter()
    with reference_source(args.reference) as ref_src, ThreadPoolExecutor(2) as pool:
        effort = {} if args.effort == "full" else {"effort": args.effort}
        new_rows = pool.submit(
            run_all, current_source(), [{**c, **effort} for c in todo], args.jobs
        )
        old_rows = pool.submit(run_all, ref_src, todo, args.jobs)
        new = {key(r): r for r in new_rows.result()}
        old = {key(r): r for r in old_rows.result()}
    pairs = [(old[key(c)], new[key(c)]) for c in todo]
    ratios = [n["makespan_s"] / o["makespan_s"] for o, n in pairs]
    slower = [r for r in ratios if r > 1.0]
    broken = [(r, o, n) for r, (o, n) in zip(ratios, pairs, strict=True)
              if r > 1 + args.tolerance]  # fmt: skip
    print(f"{len(pairs)} cases ({args.seeds} seeds x {len(GENERATORS)} generators x k "
          f"{DEVICES} x {PROFILES}), effort {args.effort} against reference {args.reference}, "
          f"{time.perf_counter() - t0:.0f} s wall")  # fmt: skip
    print(f"new / reference makespan: worst {max(ratios):.4f}, best {min(ratios):.4f}; "
          f"identical {sum(r == 1.0 for r in ratios)}, faster {sum(r < 1.0 for r in ratios)}, "
          f"slower within {args.tolerance:.0%} {len(slower) - len(broken)}, "
          f"beyond {len(broken)}")  # fmt: skip
    cuts = statistics.quantiles(ratios, n=100)
    mean = statistics.geometric_mean(ratios)
    print(f"ratio quantiles: median {statistics.median(ratios):.4f}, 90% {cuts[89]:.4f}, "
          f"99% {cuts[98]:.4f}; geometric mean {mean:.4f}")  # fmt: skip
    for field, names in (("generator", GENERATORS), ("profile", PROFILES)):
        counts = {x: sum(o[field] == x for _, o, _ in broken) for x in names}
        print(f"beyond by {field}: " + ", ".join(f"{x} {c}" for x, c in counts.items()))
    for r, o, n in sorted(broken, key=lambda t: -t[0])[:10]:
        print(f"  {r:.4f}: {key(o)} {o['partitioner']} on {o['devices_used']} -> "
              f"{n['partitioner']} on {n['devices_used']}")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps([{"reference": o, "new": n} for o, n in pairs], indent=1))
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
