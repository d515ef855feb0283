"""Every wait is bounded: a rank that never joins, dies mid-run or a master that is not there
gives a RuntimeTimeoutError naming the rank within the timeout; no process is left behind."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from conftest import small_spec
from parawire.errors import ConfigError, RuntimeTimeoutError
from parawire.runtime import Plan, RunOptions
from parawire.runtime.group import StoreHost, connect_store, join_group
from parawire.runtime.launch import SpawnJob, spawn_ranks
from parawire.runtime.secret import SECRET_ENV, new_secret

TIMEOUT = 3.0


def _children() -> list[int]:
    """Pids of this process's live children, from /proc (no psutil)."""
    me = str(os.getpid())
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cmdline = (entry / "cmdline").read_bytes()
            if fields[1] == me and fields[0] != "Z" and b"resource_tracker" not in cmdline:
                out.append(int(entry.name))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_master_fails_fast_naming_it() -> None:
    port = _free_port()  # nobody listens there
    start = time.monotonic()
    with pytest.raises(RuntimeTimeoutError, match=f"cannot reach the master.*127.0.0.1:{port}"):
        connect_store("127.0.0.1", port, rank=1, timeout=1.0)
    assert time.monotonic() - start < 10


def test_rank_that_never_joins_is_named() -> None:
    host = StoreHost("127.0.0.1", 0, 3, TIMEOUT)
    try:
        client = connect_store("127.0.0.1", host.port, rank=2, timeout=TIMEOUT)
        client.set("parawire/joined/2", "1")  # rank 2 arrives, rank 1 never does
        start = time.monotonic()
        with pytest.raises(RuntimeTimeoutError, match=r"rank\(s\) 1 of 3 did not join") as info:
            join_group(host.store, 0, 3, TIMEOUT)
        assert time.monotonic() - start < TIMEOUT + 2
        assert "lost the master" not in str(info.value)  # rank 0 was told so before the fix
    finally:
        host.close()


def test_listener_binds_loopback_only() -> None:
    host = StoreHost("127.0.0.1", 0, 2, TIMEOUT)
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
        local = [line.split()[1] for line in lines if line.split()[3] == "0A"]  # LISTEN
        assert f"0100007F:{host.port:04X}" in local
        assert f"00000000:{host.port:04X}" not in local
    finally:
        host.close()


def _dying_worker(rank: int, job: SpawnJob) -> None:
    """Rank 1 dies after its first inference; rank 0 must notice and name it."""
    if rank == 1:
        import parawire.runtime.rank as rank_module

        original = rank_module.drive

        def die_after_one(engine, opts, images=None, progress=None):  # type: ignore[no-untyped-def]
            engine.infer(None)
            os._exit(3)

        rank_module.drive = die_after_one  # type: ignore[assignment]
        assert original is not None
    from parawire.runtime.launch import _worker

    _worker(rank, job)


def test_dead_rank_mid_run_is_named_and_nothing_is_left(tmp_path: Path) -> None:
    spec = small_spec("lanes", size=16)
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    placement[spec.input_node] = 0
    Plan(spec, placement, 2).save(tmp_path)
    options = RunOptions(runs=5, warmup=0, timeout=TIMEOUT)
    host = StoreHost("127.0.0.1", 0, 2, TIMEOUT)
    start = time.monotonic()
    try:
        context = mp.start_processes(
            _dying_worker,
            args=(SpawnJob(str(tmp_path), host.port, options),),
            nprocs=2,
            join=False,
            start_method="spawn",
        )
        for process in context.processes:  # each exits on its own: rank 0 within the timeout
            process.join(timeout=TIMEOUT + 30)
    finally:
        host.close()
    assert [p.exitcode for p in context.processes] == [1, 3]
    assert time.monotonic() - start < 60
    message = (tmp_path / "error-rank0.txt").read_text()
    assert "rank 1" in message
    assert multiprocessing.active_children() == []
    assert _children() == []


def test_spawn_ranks_raises_a_named_error_and_reaps_workers(tmp_path: Path) -> None:
    spec = small_spec("chain", size=16)
    Plan(spec, {v: i % 2 for i, v in enumerate(spec.topological_order)}, 2).save(tmp_path)
    options = RunOptions(runs=1, warmup=0, timeout=1.0)
    # the rendezvous port is closed: both workers fail to reach the master
    with pytest.raises(RuntimeTimeoutError, match="cannot reach the master"):
        spawn_ranks(tmp_path, 2, _free_port(), options)
    assert multiprocessing.active_children() == []
    assert _children() == []


@pytest.mark.slow  # the same check runs in-process in test_rank_that_never_joins_is_named
def test_worker_cli_rank_zero_alone_names_the_missing_rank(tmp_path: Path) -> None:
    spec = small_spec("chain", size=16)
    Plan(spec, dict.fromkeys(spec.topological_order, 0), 2).save(tmp_path)
    cmd = [
        str(Path(sys.executable).with_name("parawire")), "worker", str(tmp_path), "--rank", "0",
        "--world", "2", "--master", f"127.0.0.1:{_free_port()}", "--timeout", "2",
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "rank(s) 1 of 2 did not join" in proc.stderr
    assert time.monotonic() - start < 60


# --- orphaned workers (a launcher killed however) and its temporary folder ------------------

# A child that would compute for a minute unless it ends with its parent.
_ORPHAN_CHILD = """
import sys, time
from parawire.runtime import lifeline
if sys.argv[1] == "poll-only":
    lifeline.set_parent_death_signal = lambda sig=None: False  # only the liveness thread
lifeline.exit_with_parent(int(sys.argv[2]), interval=0.1)
print("ready", flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    sum(range(10_000))
"""

# A launcher started from a script: SIGINT ignored; it starts the child and waits.
_ORPHAN_PARENT = """
import os, signal, subprocess, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], str(os.getpid())],
                         stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
child.wait(timeout=120)
"""


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie waiting for its new parent's reap counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    """Poll (bounded) until every pid has ended; returns those still running."""
    deadline = time.monotonic() + seconds
    while (alive := [p for p in pids if not _gone(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's")
@pytest.mark.parametrize("mode", ["pdeathsig", "poll-only"])
def test_a_worker_ends_when_its_launcher_is_killed(mode: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_PARENT, _ORPHAN_CHILD, mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert not _gone(child)
        parent.kill()  # SIGKILL: no handler, no SIGINT from torch, nothing but the lifeline
        parent.wait(timeout=10)
        assert _wait_gone([child], 5.0) == []
    finally:
        parent.kill()
        parent.wait(timeout=10)


# A launcher of a real local run, started the way a script would (SIGINT ignored): it runs many
# inferences and says when rank 0 is measuring.
_LAUNCHER = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
from parawire.runtime import Plan, RunOptions, run_local
plan = Plan.load(sys.argv[1])
seen = set()
def progress(phase, done, total):
    if phase not in seen:
        seen.add(phase)
        print(phase, flush=True)
# no one-process reference: it would run its 100,000 inferences before the split starts
options = RunOptions(runs=100_000, warmup=0, timeout=float(sys.argv[2]))
run_local(plan, options, baseline=False, progress=progress)
"""


LAUNCH_TIMEOUT = 60.0  # ranks of a busy machine may start many seconds apart


def _start_launcher(tmp_path: Path) -> tuple[subprocess.Popen[str], list[int], Path]:
    """A launcher running a 2-rank plan in its own TMPDIR, once rank 0 measures: the process,
    its two worker pids and that TMPDIR."""
    spec = small_spec("lanes", size=16)
    Plan(spec, {v: i % 2 for i, v in enumerate(spec.topological_order)}, 2).save(tmp_path / "p")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(tmp_path / "p"), str(LAUNCH_TIMEOUT)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    try:
        for _ in range(10):  # phases: starting ranks, then measuring
            line = launcher.stdout.readline()  # type: ignore[union-attr]
            if not line or line.strip() == "measuring":
                break
        assert line.strip() == "measuring", "the run did not start"
        workers = [pid for pid in _children_of(launcher.pid)]
        assert len(workers) == 2 and list(tmp.glob("parawire-run-*"))
    except BaseException:  # a failed start (or the test's timeout) leaves no launcher behind
        launcher.kill()
        launcher.wait(timeout=10)
        raise
    return launcher, workers, tmp


def _children_of(pid: int) -> list[int]:
    """Live child pids of ``pid`` (multiprocessing's resource tracker left out)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if fields[1] == str(pid) and fields[0] != "Z" and b"resource_tracker" not in cmdline:
                out.append(int(entry.name))
    return out


# A launcher's temporary folder, held the way run_local holds it (no torch: fast).
_FOLDER_HOLDER = """
import time
from parawire.runtime.lifeline import removed_on_termination, run_dir
with removed_on_termination(), run_dir() as folder:
    print(folder, flush=True)
    time.sleep(60)
"""


def test_sigterm_removes_the_temporary_folder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _FOLDER_HOLDER],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        folder = Path(holder.stdout.readline().strip())  # type: ignore[union-attr]
        assert folder.is_dir() and folder.name.startswith(f"parawire-run-{holder.pid}-")
        holder.terminate()
        assert holder.wait(timeout=10) == 128 + 15
        assert not folder.exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)


@pytest.mark.slow  # about 60 s on a busy 2-core machine; the lifeline's tests above are fast
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's")
def test_workers_of_a_killed_launcher_end_and_sigterm_removes_its_folder(tmp_path: Path) -> None:
    killed, killed_workers, _ = _start_launcher(tmp_path / "kill")
    termed, termed_workers, termed_tmp = _start_launcher(tmp_path / "term")
    try:
        killed.kill()  # SIGKILL, SIGINT ignored: before the fix its workers ran on for ever
        termed.terminate()  # SIGTERM: workers stopped and the temporary folder removed
        assert killed.wait(timeout=10) == -9
        assert termed.wait(timeout=30) == 128 + 15
        assert _wait_gone(killed_workers + termed_workers, 5.0) == []  # far within the timeout
        assert list(termed_tmp.glob("parawire-run-*")) == []
    finally:
        for launcher in (killed, termed):
            launcher.kill()
            launcher.wait(timeout=10)


# --- joining: plan digests, ranks that never come -------------------------------------------


def _join_in_threads(world: int, digests: dict[int, str]) -> dict[int, BaseException | None]:
    """Ranks ``digests`` join one rendezvous from threads of this process; rank -> its error."""
    import threading

    host = StoreHost("127.0.0.1", 0, world, TIMEOUT)
    errors: dict[int, BaseException | None] = {}

    def join(rank: int) -> None:
        store = host.store if rank == 0 else connect_store("127.0.0.1", host.port, rank, TIMEOUT)
        try:
            join_group(store, rank, world, TIMEOUT, digests[rank])
            errors[rank] = None
        except BaseException as exc:  # collected for the assertions
            errors[rank] = exc

    threads = [threading.Thread(target=join, args=(r,)) for r in digests]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=TIMEOUT + 10)
    finally:
        host.close()
    return errors


def test_ranks_with_different_plans_are_refused_on_every_rank() -> None:
    errors = _join_in_threads(2, {0: "aaaa", 1: "bbbb"})
    assert set(errors) == {0, 1}
    for rank, other, theirs in ((0, 1, "bbbb"), (1, 0, "aaaa")):
        exc = errors[rank]
        assert isinstance(exc, ConfigError), exc
        assert f"rank {rank}: the ranks run different plans" in str(exc)
        assert f"rank {other} has {theirs}" in str(exc) and "\n" not in str(exc)


def test_a_plan_digest_covers_placement_and_weights(tmp_path: Path) -> None:
    spec = small_spec("lanes", size=16)
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    plan = Plan(spec, placement, 2)
    assert plan.digest() == Plan(spec, dict(placement), 2, info={"note": "x"}).digest()
    moved = {**placement, spec.output_node: 1 - placement[spec.output_node]}
    assert Plan(spec, moved, 2).digest() != plan.digest()
    assert Plan(spec, placement, 2, seed=1).digest() != plan.digest()
    from safetensors.torch import save_file

    from parawire.runtime.plan import seeded_state_dict

    state = seeded_state_dict(spec, 0)
    save_file(state, str(tmp_path / "a.safetensors"))
    state[next(iter(state))] += 1
    save_file(state, str(tmp_path / "b.safetensors"))
    a = Plan(spec, placement, 2, weights=tmp_path / "a.safetensors").digest()
    b = Plan(spec, placement, 2, weights=tmp_path / "b.safetensors").digest()
    assert a != b and len(a) == 16


def test_a_rank_whose_master_gives_up_names_the_missing_rank() -> None:
    # rank 2 waits with rank 0 for rank 1, which never comes; rank 0 (the store's host)
    # gives up and leaves: rank 2 must name rank 1, not say that it lost the master
    host = StoreHost("127.0.0.1", 0, 3, TIMEOUT)
    client = connect_store("127.0.0.1", host.port, 2, TIMEOUT)
    host.store.set("parawire/joined/0", "-")
    import threading

    closer = threading.Timer(0.5, host.close)
    closer.start()
    try:
        with pytest.raises(RuntimeTimeoutError) as info:
            join_group(client, 2, 3, TIMEOUT)
    finally:
        closer.join()
    assert "rank 2: rank(s) 1 of 3 did not join" in str(info.value)
    assert "lost the master" not in str(info.value)


@pytest.mark.slow  # two worker processes; the same check runs in threads above
def test_worker_cli_ranks_with_different_plans_both_refuse(tmp_path: Path) -> None:
    spec = small_spec("lanes", size=16)
    placement = {v: i % 2 for i, v in enumerate(spec.topological_order)}
    Plan(spec, placement, 2).save(tmp_path / "a")
    Plan(spec, placement, 2, seed=7).save(tmp_path / "b")  # other weights
    exe = str(Path(sys.executable).with_name("parawire"))
    # --runs on every rank: a worker of rank >= 1 without it serves a driver, not a benchmark;
    # one secret for both (each plan folder has its own token, which would refuse rank 1 first)
    common = ["--world", "2", "--master", f"127.0.0.1:{_free_port()}", "--timeout", "30",
              "--runs", "5"]  # fmt: skip
    env = {**os.environ, SECRET_ENV: new_secret()}
    rank0 = subprocess.Popen(
        [exe, "worker", str(tmp_path / "a"), "--rank", "0", *common],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    rank1 = subprocess.run(
        [exe, "worker", str(tmp_path / "b"), "--rank", "1", *common],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    _, err0 = rank0.communicate(timeout=120)
    for rank, code, err in ((0, rank0.returncode, err0), (1, rank1.returncode, rank1.stderr)):
        assert code == 1
        assert err.strip().splitlines() == [err.strip()], err  # one line, no C++ frames
        assert f"rank {rank}: the ranks run different plans" in err
