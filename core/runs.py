"""Training runs as processes of their own, surviving a closed tab and an app restart.

A run is a job (``core.jobs``): a folder ``$PROMPTTUNE_HOME/runs/<run_id>/`` holding
``config.json``, ``status.json`` (locked and atomic, the final one last of all files),
``events.jsonl``, ``log.txt`` and the outputs of ``core.training.train``. The ``runs`` table
of the lab's database (``core.db``) indexes them; the folder is the truth. One run trains at
a time: each run's process waits for an exclusive ``flock`` on ``$PROMPTTUNE_HOME/train.lock``
(status ``queued``), in the order the runs were queued; a run whose process never started or
died holds up nobody (``core.jobs.is_live``).

For the pages: ``start_run``, ``list_runs``, ``get_run``, ``read_events``,
``cancel_run``, ``resume_run``, ``delete_run``, ``zip_run``, ``speed_warning``. The training
process's side (``execute``) and the status file live in ``core.run_worker``; their names are
re-exported here.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import sqlite3
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core import db, jobs
from core.errors import LabError
from core.paths import data_dir, storage_error, write_json
from core.train_config import TrainConfig
from core.training_data import check_ready
from core.training import is_main_process
from core.run_worker import (FINAL, LIVE, SLOW_FACTOR, RunMetrics, _now,  # noqa: F401
                             _read_json, _train_holding_lock, execute, launch_id, read_status,
                             run_folders as _run_folders, speed_warning, write_status)

CRASH_FIX = "Resume it from its last checkpoint, or start it again."


class RunError(LabError):
    """A run that cannot be found, cancelled, resumed or deleted as asked."""


@dataclass(frozen=True)
class Run:
    """What the launcher page shows about one run."""

    id: str
    run_dir: Path
    status: str  # queued | running | succeeded | cancelled | failed | crashed | damaged
    created_at: str
    config: dict[str, Any]  # config.json as saved (``train_config`` reads it typed)
    pid: int | None = None
    queue_position: int | None = None  # 1 = next to train; None unless queued
    problem: str | None = None
    fix: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    has_checkpoint: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    cancel_requested_at: str | None = None  # when Cancel was pressed (the status says the rest)

    @property
    def method(self) -> str:
        """lora, qlora or full; empty where config.json does not say."""
        return str(self.config.get("method") or "")

    @property
    def base_model(self) -> str:
        """The model the run trains (a local folder or a Hub id); empty where unknown."""
        return str(self.config.get("model") or "")

    @property
    def task(self) -> str | None:
        """The task it trains on; None for a data file."""
        return self.config.get("task") or None

    @property
    def data_path(self) -> str | None:
        """The data file it trains on; None for a task."""
        return self.config.get("data_path") or None

    @property
    def train_config(self) -> TrainConfig:
        """config.json as a checked TrainConfig (a ConfigError if it no longer checks)."""
        return TrainConfig.from_dict(self.config)

    @property
    def measured(self) -> RunMetrics:
        """metrics.json typed: None for each figure the run did not write."""
        return RunMetrics.from_dict(self.metrics)

    @property
    def cancelling(self) -> bool:
        """Cancel was asked while it trains: it stops after the step it is on."""
        return self.status == "running" and self.cancel_requested_at is not None

    @property
    def finished_despite_cancel(self) -> bool:
        """Cancel was asked too late to stop anything: the last step was done, so it finished."""
        return self.status == "succeeded" and self.cancel_requested_at is not None

    @property
    def data(self) -> str:
        return self.data_path or f"task:{self.task}"

    @property
    def has_outputs(self) -> bool:
        """Whether the run left a model to use: it succeeded, or was cancelled after a step
        (the cancel saves the adapter or model as it stood, with its metrics)."""
        return self.status == "succeeded" or (
            self.status == "cancelled" and bool(self.metrics)
            and ((self.run_dir / "adapter").is_dir() or (self.run_dir / "model").is_dir()))

    @property
    def name(self) -> str:
        """The user's name for the run; empty where none was given."""
        return str(self.config.get("name") or "")

    @property
    def duration_s(self) -> float | None:
        """Seconds from the training start to its end (or to now, while it runs)."""
        if not self.started_at:
            return None
        start = datetime.fromisoformat(self.started_at)
        end = datetime.fromisoformat(self.finished_at) if self.finished_at and \
            self.status not in LIVE else datetime.now(timezone.utc)
        return max(0.0, (end - start).total_seconds())


def runs_dir() -> Path:
    path = data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- status file and index --------------------------------------------------------------


def _index_run(run_dir: Path, config: TrainConfig, created_at: str) -> None:
    """Enter the run in the index (where it cannot be, the folder lists it anyway)."""
    db.write_index("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (run_dir.name, created_at, config.method, config.model,
                    config.data_path or f"task:{config.task}", "queued", str(run_dir), None),
                   f"enter run {run_dir.name}")


def _indexed_dirs() -> list[Path]:
    """The run folders the index knows (a run trained into a --run-dir of the user's lives
    outside runs/, and only the index knows where); raises sqlite3.Error or OSError."""
    return [Path(d) for (d,) in db.read_index("SELECT run_dir FROM runs")]


def index_problem() -> LabError | None:
    """Why the runs index (the lab database, lab.db) cannot be read, as a warning with its fix;
    None when it reads. The runs are listed from their folders either way."""
    try:
        _indexed_dirs()
    except (sqlite3.Error, OSError) as exc:
        return db.problem(exc)
    return None


# -- creating and starting --------------------------------------------------------------


def _slug(config: TrainConfig) -> str:
    """The folder name's readable part: the run's name, else its method and data. Only
    [a-z0-9-] survive, so no name can reach outside the runs folder."""
    data = Path(config.data_path).stem if config.data_path else config.task or "data"
    text = unicodedata.normalize("NFKD", config.name or f"{config.method}-{data}")
    slug = re.sub(r"[^a-z0-9]+", "-", text.encode("ascii", "ignore").decode().lower())
    return slug.strip("-")[:40] or config.method


def _launch_dir(config: TrainConfig) -> Path:
    """The folder every process of one ``accelerate launch`` names (after the launch)."""
    stamp = datetime.fromtimestamp(jobs.create_time(os.getppid()) or 0).strftime("%Y%m%d-%H%M%S")
    token = hashlib.sha256(launch_id().encode()).hexdigest()[:4]
    return runs_dir() / f"{stamp}-{_slug(config)}-{token}"


def create_run(config: TrainConfig, run_dir: Path | None = None) -> Path:
    """A run folder with config.json and status queued, indexed; returns the folder.

    The config's data is checked first (``check_ready``: the task, or the data file and its
    columns), so a refused config leaves no folder. A full disk or read-only data folder is a
    StorageError, and the half-made folder is removed. Under ``accelerate launch`` every
    process names the same folder (after the launch), and only rank 0 writes it.
    """
    if run_dir is None and launch_id():
        run_dir = _launch_dir(config)
    if not is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    check_ready(config)
    if config.data_path:  # the process may start elsewhere: keep an absolute path
        from dataclasses import replace

        config = replace(config, data_path=str(Path(config.data_path).expanduser().resolve()))
    run_dir, new = _made_dir(config, run_dir)
    try:
        write_json(run_dir / "config.json", config.to_dict())
        created = _now()
        write_status(run_dir, status="queued", created_at=created, queued_at=time.time())
    except OSError:
        if new:  # a half-made run would list as queued until its grace ran out
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    _index_run(run_dir, config, created)
    return run_dir


def _made_dir(config: TrainConfig, run_dir: Path | None) -> tuple[Path, bool]:
    """The run's folder, made (a new unique one under runs/ unless ``run_dir`` is given), and
    whether it is new (so that a failure can take it away again)."""
    try:
        if run_dir is not None:
            new = not run_dir.exists()
            run_dir.mkdir(parents=True, exist_ok=True)
            return run_dir, new
        stamp, slug = datetime.now().strftime("%Y%m%d-%H%M%S"), _slug(config)
        return jobs.make_folder(runs_dir(), lambda: f"{stamp}-{slug}-{os.urandom(2).hex()}",
                                "run"), True
    except OSError as exc:
        raise storage_error(exc, "create the run folder") from exc


def _spawn(run_dir: Path, resume: bool = False) -> int:
    args = ["train", str(run_dir / "config.json"), "--run-dir", str(run_dir)]
    return jobs.spawn(run_dir, args + (["--resume"] if resume else []))


def start_run(config: TrainConfig) -> str:
    """Create a run and start its training process in the background; return the run id."""
    run_dir = create_run(config)
    try:
        _spawn(run_dir)
    except OSError as exc:  # log.txt could not be opened: nothing was started
        shutil.rmtree(run_dir, ignore_errors=True)
        raise storage_error(exc, "start the training process") from exc
    return run_dir.name


# -- reading ---------------------------------------------------------------------------------


def read_events(run_dir: str | Path, offset: int = 0) -> tuple[list[dict], int]:
    """Complete events written after byte ``offset``, and the offset to read from next."""
    return jobs.read_lines(Path(run_dir) / "events.jsonl", offset)


def _run_dir(run_id: str) -> Path:
    if not isinstance(run_id, str) or "/" in run_id or "\x00" in run_id or run_id in ("", ".", ".."):
        raise RunError(f"There is no training run {run_id!r}.",
                       "Pick a run from the list (python -m core runs).")
    # the data folder's own runs/<id> first: lab.db keeps absolute paths, so in a moved or
    # copied data folder they point at the old place (or at nothing); the index is asked only
    # for a run trained into a folder of the user's (--run-dir)
    path = data_dir() / "runs" / run_id
    if not (path / "config.json").exists():
        try:
            rows = db.read_index("SELECT run_dir FROM runs WHERE id = ?", (run_id,))
        except (sqlite3.Error, OSError):  # an unreadable index: the run folders still answer
            rows = []
        path = Path(rows[0][0]) if rows else path
    if not (path / "config.json").exists():
        raise RunError(f"There is no training run {run_id!r}.",
                       "Pick a run from the list (python -m core runs).")
    return path


def _damaged(run_dir: Path, reason: str) -> Run:
    """A run whose status cannot be read, named with what is wrong and what to do."""
    stamp = datetime.fromtimestamp(run_dir.stat().st_mtime, timezone.utc)
    return Run(id=run_dir.name, run_dir=run_dir, status="damaged",
               created_at=stamp.isoformat(timespec="seconds"),
               config=_read_json(run_dir / "config.json"),
               problem=f"Run {run_dir.name} is damaged: {reason} (in {run_dir}).",
               fix=f"Delete the run (or its folder {run_dir}) and start it again.",
               metrics=_read_json(run_dir / "metrics.json"))


def _load(run_dir: Path, order: list[str] | None = None) -> Run:
    from core.training import last_checkpoint

    try:
        status = jobs.settle(run_dir, CRASH_FIX)
    except jobs.Damaged as exc:
        return _damaged(run_dir, str(exc))
    state = status["status"]
    position = None
    if state == "queued":
        order = jobs.queue_order(_run_folders()) if order is None else order
        position = order.index(run_dir.name) + 1 if run_dir.name in order else None
    return Run(id=run_dir.name, run_dir=run_dir, status=state,
               created_at=str(status.get("created_at", "")),
               config=_read_json(run_dir / "config.json"), pid=status.get("pid"),
               queue_position=position, problem=status.get("problem"), fix=status.get("fix"),
               metrics=_read_json(run_dir / "metrics.json"),
               has_checkpoint=last_checkpoint(run_dir) is not None,
               started_at=status.get("started_at"), finished_at=status.get("finished_at"),
               cancel_requested_at=status.get("cancel_requested_at"))


def get_run(run_id: str) -> Run:
    """One run's status, config, metrics and queue position (a dead process reads 'crashed')."""
    return _load(_run_dir(run_id))


def list_runs() -> list[Run]:
    """Every run, newest first: the folders under runs/ (the truth) and any other folder the
    index knows. An index that cannot be read loses only the latter; ``index_problem`` says so.
    A run whose status cannot be read is listed as damaged, with its reason."""
    found: dict[str, Path] = {}
    for folder in _run_folders() + _indexed_dirs_or_none():  # by id: runs/ first (a copied
        found.setdefault(folder.name, folder)                 # lab's index names the old one)
    order = jobs.queue_order(_run_folders())
    listed = [_load(d, order) for d in found.values() if (d / "config.json").exists()]
    return sorted(listed, key=lambda run: (run.created_at, run.id), reverse=True)


def _indexed_dirs_or_none() -> list[Path]:
    try:
        return _indexed_dirs()
    except (sqlite3.Error, OSError):
        return []


# -- acting on runs -----------------------------------------------------------------------------


def cancel_run(run_id: str) -> Run:
    """Queued: cancelled at once, its process exits untrained. Running: stops after the
    current step, saving the adapter; the request is recorded at once (``Run.cancelling``), so
    a page says so before the step ends. A run on its last step finishes instead."""
    run = get_run(run_id)
    if run.status not in LIVE:
        raise RunError(f"Run {run_id} is {run.status}; only queued or running runs can be "
                       "cancelled.")
    jobs.request_cancel(run.run_dir, f"cancel run {run_id}")
    if run.status == "queued":
        write_status(run.run_dir, status="cancelled", finished_at=_now())
    else:  # unless it ended meanwhile: then its own final status stands
        write_status(run.run_dir, unless=FINAL, cancel_requested_at=_now())
    return get_run(run_id)


def resume_run(run_id: str) -> Run:
    """Start a crashed, cancelled or failed run again from its last checkpoint."""
    run = get_run(run_id)
    if run.status in LIVE or run.status in ("succeeded", "damaged"):
        raise RunError(f"Run {run_id} is {run.status}; only crashed, cancelled or failed runs "
                       "resume.")
    if not run.has_checkpoint:
        raise RunError(f"Run {run_id} saved no checkpoint to resume from.",
                       "Start a new run with the same config (and save_steps above 0).")
    try:
        (run.run_dir / "cancel").unlink(missing_ok=True)
        write_status(run.run_dir, status="queued", queued_at=time.time(), problem=None, fix=None,
                     cancel_requested_at=None, pid=None, pid_started=None)
        _spawn(run.run_dir, resume=True)
    except OSError as exc:
        raise storage_error(exc, f"resume run {run_id}") from exc
    return get_run(run_id)


def delete_run(run_id: str) -> None:
    """Remove a finished (or damaged) run's folder and its index row."""
    run = get_run(run_id)
    if run.status in LIVE:
        raise RunError(f"Run {run_id} is {run.status}.", "Cancel it first, then delete it.")
    try:
        shutil.rmtree(run.run_dir)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise storage_error(exc, f"delete run {run_id}") from exc
    # where the index keeps it, the folder is gone all the same: the run is no longer listed
    db.write_index("DELETE FROM runs WHERE id = ?", (run_id,), f"remove run {run_id}")


def zip_run(run_id: str) -> bytes:
    """A zip of the adapter (or model), config.json, template.json and metrics.json."""
    run = get_run(run_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("config.json", "template.json", "metrics.json"):
            if (run.run_dir / name).exists():
                archive.write(run.run_dir / name, f"{run_id}/{name}")
        for folder in ("adapter", "model"):
            for file in sorted((run.run_dir / folder).rglob("*")):
                if file.is_file():
                    archive.write(file, f"{run_id}/{file.relative_to(run.run_dir)}")
    return buffer.getvalue()


