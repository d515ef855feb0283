"""Running a search: claim trials until the budget is finished, evaluate them, export the front.

Python API::

    from parawire.search import SearchConfig, run_search
    outcome = run_search(SearchConfig(dataset="digits", trials=20, epochs=2), Path("runs/s"))

Any number of processes (on one machine with the default SQLite file, on many with
``storage="postgresql://..."``) may run the same search: each claims one trial at a time under
the storage's lock (``parawire.search.coordination``), so together they finish exactly
``trials`` trials; a killed process's trial is queued again by the next claim. Rerunning the
same command after a kill resumes; rerunning it with a larger ``trials`` extends the search.

Outputs in the search folder: ``search.sqlite`` (the default storage), ``search-config.json``
(the settings and the storage URL, password hidden), ``front/trial-NNNNN.json`` (each Pareto
front member's spec), ``front.json``, ``front.md`` and ``trials.csv``.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from parawire.errors import ConfigError, DataError, ParawireError
from parawire.filenames import SEARCH_CONFIG
from parawire.progress import progress_on_stderr
from parawire.search import coordination as co
from parawire.search.config import STUDY_NAME, SearchConfig
from parawire.search.front import export, latency_kind, pareto_front, trial_rows
from parawire.search.samplers import create_sampler
from parawire.search.space import smallest_corner, suggest

Log = Callable[[str], None]
CONFIG_JSON = SEARCH_CONFIG
POLL_S = 1.0  # how often a process with nothing to claim looks again
DIRECTIONS = ("maximize", "minimize")  # accuracy, latency


@dataclass
class SearchOutcome:
    """What a search run ended with."""

    rows: list[dict[str, Any]]  # every finished trial (all processes), by number
    front: list[dict[str, Any]]  # the Pareto front, fastest first
    evaluated: int  # trials this process finished
    failed: list[int]  # trial numbers this process found dead and queued again
    seconds: float  # wall time of this run
    folder: Path  # where the front was written
    storage: str  # the storage URL, password hidden


def check_budget(cfg: SearchConfig, input_shape: tuple[int, int, int], classes: int) -> int:
    """The fewest parameters found at the space's cheap corner; ``ConfigError`` when even
    those exceed ``cfg.max_params`` (no trial could be trained)."""
    from parawire.search.evaluate import spec_params

    smallest = min(spec_params(c.spec(input_shape, classes))[0] for c in smallest_corner(cfg.space))
    if cfg.max_params is not None and smallest > cfg.max_params:
        raise ConfigError(
            f"--max-params {cfg.max_params:,} is below the smallest network of the search space "
            f"({smallest:,} parameters at its fewest vertices and narrowest width); raise "
            "--max-params or choose a smaller --space"
        )
    return smallest


def open_study(
    cfg: SearchConfig, url: str, extra: dict[str, Any]
) -> tuple[optuna.Study, optuna.storages.RDBStorage]:
    """The search's study in ``url`` and its storage, created on first use; ``DataError`` when
    the storage holds a search with other settings."""
    settings = {**cfg.settings(), **extra}
    with co.claim_lock(url, STUDY_NAME):  # two first starts must not both create the tables
        storage = co.open_storage(url, cfg.heartbeat_s, cfg.grace_s)
        study = optuna.create_study(
            storage=storage,
            study_name=STUDY_NAME,
            directions=list(DIRECTIONS),
            load_if_exists=True,
        )
        stored = study.user_attrs.get("settings")
        if stored is None:
            study.set_user_attr("settings", settings)
        elif stored != settings:
            diff = ", ".join(
                f"{k}: {stored.get(k)!r} -> {v!r}"
                for k, v in settings.items()
                if stored.get(k) != v
            )
            raise DataError(
                f"the storage {co.shown_url(url)} holds a search with other settings ({diff}); "
                "rerun with the same settings to resume or extend it, or use another --out or "
                "--storage"
            )
    return study, storage


def _counts(study: optuna.Study) -> dict[TrialState, int]:
    counts = dict.fromkeys(TrialState, 0)
    for t in study.get_trials(deepcopy=False):
        counts[t.state] += 1
    return counts


MAX_PROPOSALS = 20  # proposals one claim may draw before leaving the rest to other processes


@dataclass
class _Session:
    """This process's part in a search: the study, its storage and how it claims trials."""

    cfg: SearchConfig
    url: str  # the storage URL
    study: optuna.Study
    storage: optuna.storages.RDBStorage  # the study's, held here: Optuna's own is private
    shape: tuple[tuple[int, ...], int]  # (input shape, classes) of the dataset
    owner: dict[str, Any] = field(default_factory=co.this_process)  # who runs a claimed trial

    def claim(self) -> tuple[optuna.Trial | None, Any, list[int]]:
        """Under the lock: fail dead trials, then ask one trial if the budget has room.

        Returns ``(trial, choice, failed)``; ``trial`` is None when nothing is left to claim
        (the budget is finished, or the last trials run in other processes). A proposal whose
        architecture (spec digest at ``shape``) another trial already trains or trained, in
        this process or another, is failed as ``duplicate_of`` that trial and another one is
        drawn: no architecture is trained twice.
        """
        with co.claim_lock(self.url, STUDY_NAME):
            failed = co.fail_dead_trials(self.study, self.storage)
            running = (TrialState.COMPLETE, TrialState.RUNNING)
            taken = {
                t.user_attrs["digest"]: t.number
                for t in self.study.get_trials(deepcopy=False, states=running)
                if "digest" in t.user_attrs
            }
            for _ in range(MAX_PROPOSALS):
                counts = _counts(self.study)
                if counts[TrialState.COMPLETE] + counts[TrialState.RUNNING] >= self.cfg.trials:
                    return None, None, failed
                trial, choice = self._propose(sum(counts.values()))
                digest = choice.spec(*self.shape).digest()
                if digest in taken:
                    trial.set_user_attr("duplicate_of", taken[digest])
                    self.study.tell(trial, state=TrialState.FAIL)
                    continue
                trial.set_user_attr("digest", digest)  # before training: others see it
                return trial, choice, failed
            return None, None, failed

    def _propose(self, asked: int) -> tuple[optuna.Trial, Any]:
        """A new trial, owned by this process, and the choice it suggests."""
        cfg = self.cfg
        # one seed per claim: reproducible in one process, different across processes
        seed = cfg.seed * 1_000_003 + asked
        self.study.sampler = create_sampler(cfg.sampler, seed=seed, budget=cfg.trials)
        trial = self.study.ask()
        trial.set_user_attr(co.OWNER_ATTR, self.owner)
        self.storage.record_heartbeat(self.trial_id(trial))
        choice = suggest(trial, cfg.space)
        trial.set_user_attr("choice", choice.to_dict())
        return trial, choice

    def trial_id(self, trial: optuna.Trial) -> int:
        """The storage's id of ``trial``."""
        return co.trial_id(self.storage, self.study, trial.number)

    def evaluate(self, trial: optuna.Trial, choice: Any, splits: Any) -> Any:
        """Train and score ``choice`` while the trial's heartbeat runs; an interruption queues
        the trial again for the next run."""
        from parawire.search.evaluate import evaluate_choice

        try:
            with co.Heartbeat(self.storage, self.trial_id(trial), self.cfg.heartbeat_s):
                return evaluate_choice(choice, splits, self.cfg)
        except ParawireError:
            raise
        except BaseException:  # interrupted: queue the trial again for the next run
            with co.claim_lock(self.url, STUDY_NAME):
                co.requeue(self.storage, self.study, trial.number)
            raise

    def record(self, trial: optuna.Trial, ev: Any) -> None:
        """Tell the study the trial's accuracy and latency, and its parameter budget."""
        trial.set_user_attr("evaluation", ev.to_dict())
        if self.cfg.max_params is not None:  # feasible when <= 0 (the samplers read it)
            trial.set_constraint("params_over_budget", ev.params - self.cfg.max_params)
        self.study.tell(trial, [ev.accuracy, ev.latency_s])


def run_search(
    cfg: SearchConfig,
    folder: Path,
    *,
    storage: str | None = None,
    log: Log | None = None,
    progress: bool = False,
) -> SearchOutcome:
    """Run (or resume, or join) the search of ``cfg``; see the module docstring."""
    from parawire._inference import torch_threads

    t0 = time.perf_counter()
    splits, session = _prepare(cfg, folder, storage)
    with torch_threads(cfg.threads):  # restored after: the caller's process keeps its own
        evaluated, failed = _search_loop(session, splits, log, progress)
    with co.claim_lock(session.url, STUDY_NAME):  # one exporter at a time, latest trials
        rows = trial_rows(session.study.get_trials(states=(TrialState.COMPLETE,)))
        front = pareto_front(rows)
        input_shape, classes = session.shape
        export(
            folder,
            rows,
            front,
            input_shape=input_shape,  # type: ignore[arg-type]
            classes=classes,
            devices=cfg.devices,
            profile=cfg.profile,
            dataset=cfg.dataset,
        )
    seconds = time.perf_counter() - t0
    return SearchOutcome(rows, front, evaluated, failed, seconds, folder, co.shown_url(session.url))


def _prepare(cfg: SearchConfig, folder: Path, storage: str | None) -> tuple[Any, _Session]:
    """(dataset splits, session): every check that can fail on a bad option, before the
    folder holds anything; then the study opened and ``search-config.json`` written."""
    from parawire._io import write_json
    from parawire.data import load_dataset

    cfg.check()
    quiet_optuna()
    splits = load_dataset(cfg.dataset, root=cfg.data, **dict(cfg.dataset_options))
    input_shape, classes = splits.input_shape, splits.num_classes
    if cfg.max_params is not None:
        check_budget(cfg, input_shape, classes)
    if cfg.predictor is not None:
        from parawire.search.predictor import check_predictor

        check_predictor(cfg.predictor, cfg.profile)
    folder.mkdir(parents=True, exist_ok=True)
    url = storage or co.default_storage_url(folder)
    _refuse_empty_store(url)
    extra = {"input_shape": list(input_shape), "num_classes": classes}
    study, store = open_study(cfg, url, extra)
    write_json(
        folder / CONFIG_JSON,
        {"config": cfg.to_dict(), "storage": co.shown_url(url), **extra},
    )
    return splits, _Session(cfg, url, study, store, (input_shape, classes))


def _search_loop(
    session: _Session, splits: Any, log: Log | None, progress: bool
) -> tuple[int, list[int]]:
    """Claim and evaluate trials until the budget is finished (or the wait for other
    processes' trials runs out); (trials evaluated here, trials found dead and queued)."""
    cfg, study = session.cfg, session.study
    evaluated, failed_here, errors = 0, [], 0
    idle_since: float | None = None
    shown = progress_on_stderr("search") if progress else contextlib.nullcontext(None)
    with shown as show:
        while True:
            trial, choice, failed = session.claim()
            failed_here += failed
            if log and failed:
                log(f"queued again the trials of dead processes: {failed}")
            if show is not None:
                show("trials", _counts(study)[TrialState.COMPLETE], cfg.trials)
            if trial is None:
                if _counts(study)[TrialState.COMPLETE] >= cfg.trials:
                    break
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > cfg.wait_s:
                    if log:
                        log(f"gave up waiting {cfg.wait_s:.0f}s for other processes' trials")
                    break
                time.sleep(POLL_S)
                continue
            idle_since = None
            try:
                ev = session.evaluate(trial, choice, splits)
            except ParawireError as exc:  # a diverged training, an impossible proposal: failed
                trial.set_user_attr("error", str(exc))
                study.tell(trial, state=TrialState.FAIL)
                errors += 1
                if log:
                    log(f"trial {trial.number} failed: {exc}")
                if errors >= cfg.trials:
                    raise
                continue
            session.record(trial, ev)
            evaluated += 1
            if log:
                log(_trial_line(trial.number, choice, ev))
    return evaluated, failed_here


def quiet_optuna() -> None:
    """Optuna's INFO log and its notes on experimental features would drown the trial lines."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


def _trial_line(number: int, choice: Any, ev: Any) -> str:
    graph = f"{choice.family} n={choice.params['n']} c={choice.channels} {choice.staging}"
    if not ev.feasible:
        return f"trial {number}: {graph}: {ev.params:,} params, over the budget (not trained)"
    return (
        f"trial {number}: {graph} {choice.merge} {choice.wire_dtype}: {ev.accuracy:.2f}% "
        f"{1e3 * ev.latency_s:.3f} ms {latency_kind(ev.latency_source)} on {ev.devices_used} "
        f"device(s), {ev.params:,} params, "
        f"trained in {ev.train_seconds:.1f}s"
    )


def load_search(folder: Path, storage: str | None = None) -> tuple[dict[str, Any], list[dict]]:
    """(search-config.json's content, finished trial rows) of a search folder, read from its
    storage (the folder's SQLite file unless ``storage`` names another)."""
    from parawire._io import read_json

    path = folder / CONFIG_JSON
    if not path.exists():
        raise DataError(f"{folder} holds no search ({CONFIG_JSON} is missing); check the path")
    meta = read_json(path, what="search config", inside=folder)
    if not isinstance(meta, dict):
        raise DataError(f"{path} is not a search config (not a JSON object); rerun the search")
    url = storage or _folder_store(folder, str(meta.get("storage")))
    _refuse_empty_store(url)
    if not storage and "***" in str(url):
        raise DataError(
            f"{folder}'s search is stored at {url} (password hidden); pass it as --storage URL"
        )
    quiet_optuna()
    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=co.open_storage(url, 30, 120))
    except KeyError:
        raise DataError(f"the storage {co.shown_url(url)} holds no parawire search") from None
    return meta, trial_rows(study.get_trials(states=(TrialState.COMPLETE,)))


def _folder_store(folder: Path, url: str) -> str:
    """``url``, or the folder's own SQLite file when ``url`` names a file of that name: the
    URL saved in search-config.json is absolute, and a moved or copied folder must show its
    own data (not fail, nor show the original's)."""
    from parawire.search.config import DB_NAME

    if url.startswith("sqlite:///") and Path(url.removeprefix("sqlite:///")).name == DB_NAME:
        return co.default_storage_url(folder)
    return url


def _refuse_empty_store(url: str) -> None:
    """``DataError`` when ``url`` is a SQLite file of zero bytes: a truncated copy, which
    SQLite would silently treat as a new database (a search restarted, its front overwritten).
    """
    if not url.startswith("sqlite:///"):
        return
    file = Path(url.removeprefix("sqlite:///"))
    if file.is_file() and file.stat().st_size == 0:
        raise DataError(
            f"the search store {file} is empty (0 bytes): a truncated or damaged copy; restore "
            "it, or delete it to start the search anew"
        )
