"""Single-device prediction of a calibrated profile against measured latency (issue 8, item 4).

Calibrates this machine (``parawire.analysis.calibrate``: vertex fits and per-kind operator
rates), then for every generator's spec (both merge modes) and torchvision resnet50,
mobilenet_v2 and googlenet measures one inference in one process (batch 1, ``--threads``
threads, the median of ``--repeats`` runs after warm-up; with one thread the thread's CPU
time, as calibration measures it, so that other processes on a shared machine do not count;
float32 subnormals flushed, as every parawire timing, ``parawire._inference``) and compares it
with the simulation's single-device time under two pricings of the same calibration:

* ``kinds``: every vertex priced operator by operator (``kind_rates``/``kind_call_s``),
* ``vertex fit``: the earlier model, MACs over one fitted rate per vertex op plus an overhead.

Usage::

    python benchmarks/calibration_accuracy.py                 # about 3 minutes on 2 cores
    python benchmarks/calibration_accuracy.py --json out.json --threads 1 --repeats 20
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time

import torch

from parawire._inference import inference_settings
from parawire.analysis.calibrate import calibrate
from parawire.analysis.costs import spec_costs
from parawire.analysis.simulate import single_device_seconds
from parawire.analysis.trace import from_module, resolve_model
from parawire.arch import generate
from parawire.graphs import list_generators
from parawire.nn import build_model

MODELS = ("torchvision:resnet50", "torchvision:mobilenet_v2", "torchvision:googlenet")


def measured_seconds(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median time of one forward pass (after 3 warm-up passes): the thread's CPU time with
    one thread (what a dedicated core gives, on a shared machine), else wall time."""
    clock = time.thread_time if torch.get_num_threads() == 1 else time.perf_counter
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(repeats + 3):
            t0 = clock()
            model(x)
            if i >= 3:
                times.append(clock() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: one per rank)")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs per network")
    ap.add_argument("--calibration-repeats", type=int, default=20, help="repeats per benchmark")
    ap.add_argument("--n", type=int, default=40, help="vertices per generated spec")
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args()

    t0 = time.perf_counter()
    cal = calibrate(threads=args.threads, repeats=args.calibration_repeats)
    calibration_s = time.perf_counter() - t0
    kinds = cal.to_profile()
    vertex_fit = dataclasses.replace(
        kinds, device=dataclasses.replace(kinds.device, kind_rates={}, kind_call_s={})
    )
    cases: list[tuple[str, torch.nn.Module, torch.Tensor, object]] = []
    for generator in list_generators():
        for merge in ("maps", "pooled"):
            try:
                spec = generate(generator, seed=1, n=args.n, merge=merge)
            except Exception as exc:  # a generator that needs other parameters: say so
                print(f"skip {generator}/{merge}: {exc}", file=sys.stderr)
                continue
            x = torch.randn(1, *spec.input_shape)
            cases.append((f"{generator} ({merge})", build_model(spec), x, spec_costs(spec)))
    for name in MODELS:
        model, x = resolve_model(name)
        cases.append((name.split(":")[1], model, x, from_module(model, x)))

    rows = []
    print(f"calibration: {calibration_s:.0f} s, {args.threads} thread(s)")
    header = f"{'network':<22}{'measured ms':>12}{'kinds ms':>10}{'err':>8}"
    print(header + f"{'vertex fit':>12}{'err':>8}")
    for name, model, x, graph in cases:
        with inference_settings(args.threads):  # subnormals flushed, as calibration times
            measured = measured_seconds(model, x, args.repeats)
        by_kind = single_device_seconds(graph, kinds)
        by_vertex = single_device_seconds(graph, vertex_fit)
        row = {
            "network": name,
            "measured_s": measured,
            "kinds_s": by_kind,
            "kinds_error": by_kind / measured - 1,
            "vertex_fit_s": by_vertex,
            "vertex_fit_error": by_vertex / measured - 1,
        }
        rows.append(row)
        print(
            f"{name:<22}{measured * 1e3:>12.2f}{by_kind * 1e3:>10.2f}{row['kinds_error']:>+8.1%}"
            f"{by_vertex * 1e3:>12.2f}{row['vertex_fit_error']:>+8.1%}"
        )
    worst = max(abs(r["kinds_error"]) for r in rows)
    within = sum(abs(r["kinds_error"]) <= 0.10 for r in rows)
    print(f"kinds: worst |error| {worst:.1%}, {within}/{len(rows)} within 10%")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "threads": args.threads,
                    "calibration_s": calibration_s,
                    "kind_rates": cal.kind_rates,
                    "kind_call_s": cal.kind_call_s,
                    "rows": rows,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
