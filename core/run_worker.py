"""The training process's side of a run (``python -m core train``), and the status file
both sides share.

``execute`` queues for ``$PROMPTTUNE_HOME/train.lock``, trains and records the run's status;
under ``accelerate launch`` only rank 0 does so, and the other ranks wait for it
(``_wait_for_rank_0``). ``core.runs`` (the pages' side: create, list, cancel, resume, delete)
builds on this module and re-exports its public names; this module never imports it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core import db, jobs
from core.errors import LabError
from core.paths import data_dir
from core.train_config import TrainConfig
from core.training import is_main_process, world_size

LIVE = jobs.LIVE
FINAL = (*jobs.FINAL, "damaged")  # damaged: its status cannot be read; it can only be deleted
_now = jobs.now


@dataclass(frozen=True)
class RunMetrics:
    """metrics.json as ``core.training.train`` writes it, typed; a figure an older run (or a
    run cancelled before it) did not write is None."""

    steps: int | None = None
    train_seconds: float | None = None
    total_seconds: float | None = None
    train_loss: float | None = None
    eval_loss: float | None = None
    accuracy: float | None = None
    tokens_seen: int | None = None
    examples_cut: int | None = None
    peak_rss_bytes: int | None = None
    precision: str | None = None
    cancelled: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunMetrics":
        """Tolerant: unknown keys are left out, a figure of the wrong type reads None."""
        kept = {}
        for f in fields(cls):
            value = data.get(f.name) if isinstance(data, dict) else None
            if f.name == "precision":
                kept[f.name] = value if isinstance(value, str) else None
            elif f.name == "cancelled":
                kept[f.name] = bool(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                kept[f.name] = value
        return cls(**kept)


# -- status file and index --------------------------------------------------------------


def read_status(run_dir: Path) -> dict[str, Any]:
    """The run's status.json; {} where it cannot be read."""
    return jobs.peek_status(run_dir)


def write_status(run_dir: Path, unless: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into status.json unless its status is one of ``unless`` (locked and
    atomic: ``core.jobs.write_status``); mirror the status in the index; return the status as
    it now stands. A failed write leaves the old status.json and raises a StorageError."""
    status = jobs.write_status(run_dir, unless, f"record the status of run {run_dir.name}",
                               **changes)
    if status.get("status") not in unless:
        _index_status(run_dir.name, status["status"], _read_json(run_dir / "metrics.json"))
    return status


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _index_status(run_id: str, status: str, metrics: dict) -> None:
    db.write_index("UPDATE runs SET status = ?, metrics = ? WHERE id = ?",
                   (status, json.dumps(metrics) if metrics else None, run_id),
                   "update the status of runs")


def run_folders() -> list[Path]:
    """The folders under the data folder's runs/ (the queue's members)."""
    folder = data_dir() / "runs"
    return [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []


def launch_id() -> str | None:
    """The id the processes of one ``accelerate launch`` on this machine share (their
    launcher's pid and start time); None outside a launch of several processes here."""
    if world_size() == 1 or os.environ.get("LOCAL_WORLD_SIZE", "1") != str(world_size()):
        return None  # alone, or over several machines: ranks do not wait for rank 0
    parent = os.getppid()
    return f"{parent}-{jobs.create_time(parent)}"


# -- the training process -----------------------------------------------------------------


def execute(config: TrainConfig, run_dir: Path, resume: bool = False, echo: bool = True) -> int:
    """Queue, train and record one run in this process; return the exit status.

    Under ``accelerate launch`` only rank 0 queues and writes status; the other ranks
    train once rank 0 holds the lock (``_wait_for_rank_0``) and return when it is done.
    """
    from core import training

    if not is_main_process():
        if _wait_for_rank_0(run_dir, ("running",)):
            training.train(config, run_dir, resume=resume, echo=False)
            _wait_for_rank_0(run_dir, FINAL)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: (run_dir / "cancel").touch())
    queued = {} if read_status(run_dir).get("queued_at") else {"queued_at": time.time()}
    # cancelled before this process got here (a slow start): leave it cancelled, train nothing
    me = os.getpid()
    status = write_status(run_dir, unless=("cancelled",), status="queued", pid=me,
                          pid_started=jobs.create_time(me), launch=launch_id(), **queued)
    if status.get("status") == "cancelled":
        return 0
    lock = jobs.wait_turn(run_dir, run_folders, data_dir() / "train.lock")
    if lock is None:
        write_status(run_dir, status="cancelled", finished_at=_now(), problem=None, fix=None)
        return 0
    try:
        return _train_holding_lock(config, run_dir, resume, echo)
    finally:
        lock.close()  # closing the file releases the flock


def _wait_for_rank_0(run_dir: Path, states: tuple[str, ...]) -> bool:
    """Wait until rank 0 of this launch records one of ``states``; False if it records
    another end first (cancelled while queued, failed) or its process is gone. Outside a
    local launch of several processes: True at once."""
    mine = launch_id()
    while mine is not None:
        status = read_status(run_dir)
        if status.get("launch") == mine:
            if status.get("status") in states:
                return True
            if status.get("status") in FINAL or not jobs.is_live(run_dir, status):
                return False
        time.sleep(jobs.POLL_S)
    return True


def _train_holding_lock(config: TrainConfig, run_dir: Path, resume: bool, echo: bool) -> int:
    from core import training

    write_status(run_dir, status="running", started_at=_now(), problem=None, fix=None)
    _record_data(config, run_dir)
    try:
        metrics = training.train(config, run_dir, resume=resume, echo=echo)
    except LabError as exc:
        write_status(run_dir, status="failed", finished_at=_now(), problem=exc.problem, fix=exc.fix)
        raise
    except Exception as exc:  # recorded for the page, then re-raised for the log's traceback
        write_status(run_dir, status="failed", finished_at=_now(),
                     problem=f"{type(exc).__name__}: {exc}",
                     fix="See log.txt in the run folder for the traceback.")
        raise
    final = "cancelled" if metrics.get("cancelled") else "succeeded"
    write_status(run_dir, status=final, finished_at=_now())
    return 0


def _record_data(config: TrainConfig, run_dir: Path) -> None:
    """The task version and split sizes this run trains on (``core.task_versions``), written
    as it starts; a record that cannot be written is said in the log, and training goes on."""
    from core.run_data import record_run_data

    try:
        record_run_data(config, run_dir)
    except (OSError, LabError) as exc:
        print(f"warning: the run's data record ({run_dir / 'data.json'}) was not written: "
              f"{exc}", file=sys.stderr)


# -- its pace ------------------------------------------------------------------------------


SLOW_FACTOR = 2.5  # a run this many times slower than estimated is worth a word


def speed_warning(events: list[dict], cores: int | None = None,
                  load: float | None = None) -> str | None:
    """A sentence when a running run steps far slower than its start estimate, with the
    likely cause; None while it keeps pace (or before there is enough to judge).

    The estimate is the start event's ``estimated_step_s`` (this machine's measured speed in
    the run's format); the pace is the mean of the steps after the first (warm-up).
    """
    start = next((e for e in events if e.get("type") == "start"), None)
    steps = [e for e in events if e.get("type") == "step" and e.get("elapsed_s") is not None]
    estimated = (start or {}).get("estimated_step_s")
    if not estimated or len(steps) < 3:
        return None
    pace = (steps[-1]["elapsed_s"] - steps[0]["elapsed_s"]) / (steps[-1]["step"] - steps[0]["step"]) \
        if steps[-1]["step"] > steps[0]["step"] else None
    if pace is None or pace < SLOW_FACTOR * estimated:
        return None
    cores = cores or os.cpu_count() or 1
    load = os.getloadavg()[0] if load is None and hasattr(os, "getloadavg") else load
    said = (f"This run takes {pace:.1f} s a step, {pace / estimated:.0f}x the {estimated:.1f} s "
            "estimated from this machine's measured speed.")
    if load is not None and load > cores + 0.5:
        return (f"{said} Likely cause: other work keeps the processor busy (load average "
                f"{load:.1f} on {cores} cores). It speeds up when that work ends; with threads "
                "auto the run already steps down to one thread meanwhile.")
    if start.get("precision") in ("bfloat16", "float16") and start.get("device") == "cpu":
        return (f"{said} Likely cause: the number format ({start['precision']}), which this "
                "processor may emulate. Cancel and start again with Number format auto or "
                "float32.")
    return (f"{said} Likely causes: another busy process on this machine, or a number format "
            "this processor runs slowly.")
