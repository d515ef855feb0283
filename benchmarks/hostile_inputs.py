"""A held-out sweep of hostile input: seeded spec mutations, large specs, tampered folders.

Every case runs one ``parawire`` command in its own process under a wall-clock timeout and an
address-space limit (``RLIMIT_AS``), and is classed by what it did:

    ok         exit 0
    refused    exit 1 with exactly one line on stderr, ``parawire: error: ...``
    TRACEBACK  a Python traceback, or any other exit (a crash, a signal)
    HANG       still running at the timeout (killed)
    MEMORY     peak resident memory over the bound (``--max-rss-mib``)

The cases are drawn from a seed and differ from the unit tests' (tests/test_hostile_inputs.py):
the sweep is a check, not a copy of the suite. Passing means no TRACEBACK, HANG or MEMORY row.

    python benchmarks/hostile_inputs.py --seed 7 --mutations 40
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PARAWIRE = [sys.executable, "-c", "import sys; from parawire.cli import main; sys.exit(main())"]


@dataclass(frozen=True)
class Case:
    """One command on one hostile input."""

    kind: str  # mutation, large spec, tampered folder, unbuildable
    name: str  # what is hostile about it
    args: tuple[str, ...]  # parawire's arguments


@dataclass(frozen=True)
class Outcome:
    case: Case
    verdict: str  # ok, refused, TRACEBACK, HANG, MEMORY
    seconds: float
    rss_mib: float
    line: str  # the first stderr line (the refusal)


def run_case(case: Case, timeout_s: float, limit_bytes: int, max_rss_mib: float) -> Outcome:
    """Run ``case`` under the limits; class it (module docstring)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    start = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [*PARAWIRE, *case.args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            preexec_fn=limit,
            start_new_session=True,
        )
        hung = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout_s:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                hung = True
                break
            time.sleep(0.05)
        seconds = time.monotonic() - start
        err.seek(0)
        text = err.read(1 << 20).decode("utf-8", "replace").strip()
    code = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss / 1024
    lines = [ln for ln in text.splitlines() if not ln.startswith("parawire: warning:")]
    if hung:
        verdict = "HANG"
    elif rss > max_rss_mib:
        verdict = "MEMORY"
    elif "Traceback" in text:
        verdict = "TRACEBACK"
    elif code == 0:
        verdict = "ok"
    elif code == 1 and len(lines) == 1 and lines[0].startswith("parawire: error: "):
        verdict = "refused"
    else:
        verdict = "TRACEBACK"
    return Outcome(case, verdict, seconds, rss, lines[0][:150] if lines else "")


# --- the cases ------------------------------------------------------------------------------


def _spec_doc(work: Path, name: str, *args: str) -> dict:
    out = work / f"{name}.json"
    subprocess.run([*PARAWIRE, "generate", *args, "-o", str(out)], check=True, capture_output=True)
    return json.loads(out.read_text())


def _project_all(doc: dict) -> None:
    """A 1x1 projection on every edge that may carry one (not into a pooled merge): widths
    changed by hand stay consistent."""
    output = doc["stages"][-1]["output"]
    for e in doc["edges"]:
        e["project"] = doc.get("merge") != "pooled" or e["dst"] != output


def _mutations(rng: random.Random, base: dict, count: int) -> list[tuple[str, str]]:
    """``count`` seeded (name, JSON text) mutations of ``base``."""
    big = [2**31, 2**63, 10**30, 65_536, 40_000, 0, -1]
    out = []
    for i in range(count):
        doc = json.loads(json.dumps(base))
        pick = rng.randrange(12)
        node = rng.choice(doc["nodes"])
        if pick == 0:
            for n in doc["nodes"]:
                n["channels"] = rng.choice([20_000, 30_000, 65_536])
            doc["stem"]["channels"] = doc["nodes"][0]["channels"]
            _project_all(doc)
            name = "every vertex very wide"
        elif pick == 1:
            doc["input_shape"] = [3, rng.choice([4096, 16_384]), rng.choice([4096, 16_384])]
            name = "huge input image"
        elif pick == 2:
            node["channels"] = rng.choice(big)
            name = "one vertex's channels out of range"
        elif pick == 3:
            doc["num_classes"] = rng.choice([999_999, 10**6, 10**7])
            name = "huge classifier"
        elif pick == 4:
            doc["edges"].append(dict(rng.choice(doc["edges"])))
            name = "duplicate edge"
        elif pick == 5:
            e = rng.choice(doc["edges"])
            e["src"], e["dst"] = e["dst"], e["src"]
            name = "reversed edge (cycle)"
        elif pick == 6:
            doc["provenance"]["params"] = {"x": json.loads("[" * 20 + "]" * 20)}
            name = "deep provenance"
        elif pick == 7:
            node["scale"] = rng.choice([3, 2**20, 0])
            name = "bad scale"
        elif pick == 8:
            text = json.dumps(doc).replace('"merge":', '"merge": "maps", "merge":', 1)
            out.append((f"{i}: duplicate key", text))
            continue
        elif pick == 9:
            text = json.dumps(doc).replace('"dropout": 0.0', '"dropout": NaN', 1)
            out.append((f"{i}: NaN dropout", text))
            continue
        elif pick == 10:
            doc["stages"][0]["nodes"] = doc["stages"][0]["nodes"] * 3
            name = "node in a stage twice"
        else:
            doc["nodes"] = doc["nodes"] * 2
            name = "every node twice"
        out.append((f"{i}: {name}", json.dumps(doc)))
    return out


def _large_specs(work: Path) -> list[tuple[str, Path]]:
    """Specs at and over the size caps (generated unvalidated: written by hand, as a user could)."""
    base = _spec_doc(work, "base-large", "er", "--param", "n=16", "--param", "p=0.3")
    files = []
    for n_vertices, n_edges, label in ((600, 700, "600 vertices"), (200, 9000, "9,000 edges")):
        doc = json.loads(json.dumps(base))
        c = doc["nodes"][1]["channels"]
        doc["nodes"] = [doc["nodes"][0]] + [
            {"id": i, "op": "sepconv3x3", "channels": c, "scale": 1} for i in range(1, n_vertices)
        ]
        doc["edges"] = [{"src": 0, "dst": 1}] * n_edges
        path = work / f"large-{n_vertices}-{n_edges}.json"
        path.write_text(json.dumps(doc))
        files.append((label, path))
    return files


def _tampered(work: Path) -> list[Case]:
    """Plan, results and profile folders tampered with as a shared folder could be."""
    spec = work / "small.json"
    subprocess.run(
        [*PARAWIRE, "generate", "lanes", "--param", "n=8", "--channels", "8", "-o", str(spec)],
        check=True,
        capture_output=True,
    )
    plan = work / "plan"
    subprocess.run(
        [*PARAWIRE, "plan", str(spec), "-n", "2", "-o", str(plan)], check=True, capture_output=True
    )
    cases = []

    def folder(name: str) -> Path:
        target = work / name
        shutil.copytree(plan, target)
        return target

    f = folder("plan-fifo")
    (f / "plan.json").unlink()
    os.mkfifo(f / "plan.json")
    cases.append(Case("tampered folder", "plan.json is a FIFO", ("run", str(f), "--runs", "1")))
    f = folder("plan-zero")
    (f / "plan.json").unlink()
    (f / "plan.json").symlink_to("/dev/zero")
    cases.append(
        Case(
            "tampered folder", "plan.json -> /dev/zero", ("export", str(f), "-o", str(work / "x1"))
        )
    )
    f = folder("plan-dupkey")
    text = (f / "plan.json").read_text().replace('"world":', '"world": 1, "world":', 1)
    (f / "plan.json").write_text(text)
    cases.append(Case("tampered folder", "plan.json key twice", ("run", str(f), "--runs", "1")))
    f = folder("plan-out-link")
    doc = json.loads((f / "plan.json").read_text())
    doc["weights"] = "weights.safetensors"
    (f / "plan.json").write_text(json.dumps(doc))
    (f / "weights.safetensors").symlink_to("/etc/hostname")
    cases.append(
        Case(
            "tampered folder",
            "weights link out of the folder",
            ("export", str(f), "-o", str(work / "x2")),
        )
    )
    f = folder("plan-huge-tensor")
    doc["weights"] = "weights.safetensors"
    (f / "plan.json").write_text(json.dumps(doc))
    header = json.dumps(
        {"head.fc.weight": {"dtype": "F32", "shape": [2**18, 2**16], "data_offsets": [0, 2**36]}}
    )
    with (f / "weights.safetensors").open("wb") as w:
        w.write(len(header).to_bytes(8, "little") + header.encode())
        w.truncate(8 + len(header) + 2**36)  # sparse
    cases.append(
        Case(
            "tampered folder",
            "weights declare a 64 GiB tensor",
            ("export", str(f), "-o", str(work / "x3")),
        )
    )
    cases.append(
        Case("tampered folder", "weights declare a 64 GiB tensor", ("run", str(f), "--runs", "1"))
    )
    zero = work / "zero.toml"
    zero.symlink_to("/dev/zero")
    cases.append(
        Case(
            "tampered folder",
            "--profile -> /dev/zero",
            ("analyze", str(spec), "-n", "2", "--profile", str(zero)),
        )
    )
    fifo = work / "fifo.toml"
    os.mkfifo(fifo)
    cases.append(
        Case(
            "tampered folder",
            "--profile is a FIFO",
            ("analyze", str(spec), "-n", "2", "--profile", str(fifo)),
        )
    )
    results = work / "results"
    results.mkdir()
    shutil.copytree(plan, results / "plan")
    run = {"p50_s": 0.001, "p95_s": 0.001, "mean_s": 0.001, "ranks": [], "devices": 2,
           "profile": "/etc/passwd", "simulated_makespan_s": 0.001, "batch": 1}  # fmt: skip
    (results / "run.json").write_text(json.dumps(run))
    cases.append(
        Case("tampered folder", "run.json names a profile outside", ("report", str(results)))
    )
    results2 = work / "results-zero"
    results2.mkdir()
    (results2 / "analysis.json").symlink_to("/dev/zero")
    cases.append(Case("tampered folder", "analysis.json -> /dev/zero", ("report", str(results2))))
    search = work / "search"
    search.mkdir()
    (search / "search-config.json").write_text('{"storage": "sqlite:////nowhere/search.sqlite"}')
    (search / "search.sqlite").touch()
    cases.append(Case("tampered folder", "zero-byte search store", ("search", "show", str(search))))
    return cases


def build_cases(work: Path, seed: int, mutations: int) -> list[Case]:
    rng = random.Random(seed)
    base = _spec_doc(work, "base", "dp", "--param", "n=12", "--seed", str(seed))
    cases = []
    for name, text in _mutations(rng, base, mutations):
        path = work / f"mut-{len(cases)}.json"
        path.write_text(text)
        command = rng.choice([("validate",), ("show",), ("analyze", "-n", "2")])
        cases.append(Case("spec mutation", name, (*command[:1], str(path), *command[1:])))
    for label, path in _large_specs(work):
        cases.append(Case("large spec", label, ("analyze", str(path), "-n", "4")))
        cases.append(Case("large spec", label, ("validate", str(path))))
    for generator, params in (("er", ("n=500", "p=0.06")), ("lanes", ("n=500",))):
        _spec_doc(work, f"cap-{generator}", generator, *(f"--param={p}" for p in params))
        path = work / f"cap-{generator}.json"
        label = f"within the caps: {generator} {' '.join(params)}"
        cases.append(Case("large spec", label, ("analyze", str(path), "-n", "4")))
    wide = work / "wide.json"
    doc = json.loads(json.dumps(base))
    for n in doc["nodes"]:
        n["channels"] = 65_536
    doc["stem"]["channels"] = 65_536
    _project_all(doc)
    wide.write_text(json.dumps(doc))
    for command in (
        ("validate",),
        ("run", "-n", "2", "--runs", "1"),
        ("export", "-n", "2", "-o", str(work / "xw")),
        ("train", "--epochs", "1", "-o", str(work / "tw")),
    ):
        cases.append(Case("unbuildable", "65,536 channels", (command[0], str(wide), *command[1:])))
    return cases + _tampered(work)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--mutations", type=int, default=40)
    ap.add_argument("--timeout-s", type=float, default=120.0, help="wall clock per command")
    ap.add_argument("--address-space-gib", type=float, default=8.0, help="RLIMIT_AS per command")
    ap.add_argument("--max-rss-mib", type=float, default=2048.0, help="memory bound per command")
    args = ap.parse_args()
    limit = int(args.address_space_gib * 2**30)
    with tempfile.TemporaryDirectory(prefix="parawire-hostile-") as tmp:
        work = Path(tmp)
        cases = build_cases(work, args.seed, args.mutations)
        outcomes = []
        for i, case in enumerate(cases):
            outcome = run_case(case, args.timeout_s, limit, args.max_rss_mib)
            outcomes.append(outcome)
            print(
                f"[{i + 1:3d}/{len(cases)}] {outcome.verdict:9s} {outcome.seconds:6.1f} s "
                f"{outcome.rss_mib:7.0f} MiB  {case.kind}: {case.name} ({case.args[0]}) "
                f"{outcome.line[:110]}",
                file=sys.stderr,
                flush=True,
            )
    kinds = sorted({o.case.kind for o in outcomes})
    verdicts = ("ok", "refused", "TRACEBACK", "HANG", "MEMORY")
    print(
        f"\nseed {args.seed}, {len(outcomes)} commands, timeout {args.timeout_s:.0f} s, RLIMIT_AS "
        f"{args.address_space_gib:g} GiB, memory bound {args.max_rss_mib:.0f} MiB\n"
    )
    print("| kind | commands | " + " | ".join(verdicts) + " | slowest (s) | peak RSS (MiB) |")
    print("|---" * (len(verdicts) + 4) + "|")
    for kind in kinds:
        rows = [o for o in outcomes if o.case.kind == kind]
        counts = [sum(o.verdict == v for o in rows) for v in verdicts]
        print(
            f"| {kind} | {len(rows)} | " + " | ".join(map(str, counts))
            + f" | {max(o.seconds for o in rows):.1f} | {max(o.rss_mib for o in rows):.0f} |"
        )  # fmt: skip
    bad = [o for o in outcomes if o.verdict not in ("ok", "refused")]
    for o in bad:
        command = " ".join(o.case.args)
        print(f"\n{o.verdict}: {o.case.kind}: {o.case.name}: parawire {command}\n  {o.line}")
    print(
        f"\n{'PASS' if not bad else 'FAIL'}: {len(bad)} command(s) gave a traceback, a hang "
        "or a memory blow-up"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
