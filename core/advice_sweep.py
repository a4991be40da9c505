"""The advisor's sweep itself: the points of one plan run one after another in the advice's
process (``core.advice_job.execute``), each reused from the point cache, skipped, or measured
and cached.

The point cache (``$PROMPTTUNE_HOME/advice/points/<key>.json``) holds one record a finished
point, shared by every advice: a point is written there before its progress line, so a kill
loses at most the point in flight, and any later sweep with the same settings reuses it.
Prompt and retrieval points are one-setup comparisons (``core.compare.evaluate``); tuned
points train a real run of the lab first (``core.runs.create_run`` then
``core.run_worker.execute``, queued on train.lock and shown on the Runs page); a hybrid uses
its tuned point's run.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import jobs
from core.errors import LabError
from core.paths import data_dir, storage_error, write_json

CRASH_FIX = "Resume it: the points it finished are kept and reused."
STEP_POLL_S = 0.5     # how often a training point's steps are forwarded
Say = Callable[[str], None]


# -- the point cache ----------------------------------------------------------------------------


def advice_dir() -> Path:
    """The folder of the lab's advice, created if missing."""
    try:
        path = data_dir() / "advice"
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, "create the advice folder") from exc
    return path


def points_dir() -> Path:
    """The point cache: one record a finished point, shared by every advice."""
    path = advice_dir() / "points"
    path.mkdir(exist_ok=True)
    return path


def read_record(key: str) -> dict[str, Any] | None:
    """The cached record of the point with ``key``; None when there is none or it cannot be
    read (a damaged record is measured again and overwritten)."""
    if not re.fullmatch(r"[0-9a-f]{8,128}", str(key)):
        return None
    try:
        record = jobs.read_json(points_dir() / f"{key}.json")
    except jobs.Damaged:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("outputs"), list) \
            or not isinstance(record.get("row"), dict) or record.get("key") != key:
        return None
    return record


# -- the sweep's process ------------------------------------------------------------------------


def cancel_on_sigterm(folder: Path) -> Callable[[], None]:
    """A SIGTERM asks the sweep to stop, as Cancel does; returns what puts the old handler
    back. (Only the main thread may set handlers: elsewhere nothing changes.)"""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (folder / "cancel").touch())
    return lambda: signal.signal(signal.SIGTERM, previous)


def training_busy() -> bool:
    """Whether another training run is live (the sweep's evaluations then use one thread, so
    they share the cores instead of fighting over them)."""
    from core.runs import list_runs

    try:
        return any(run.status in jobs.LIVE for run in list_runs())
    except (LabError, sqlite3.Error, OSError):  # an unreadable index: assume none
        return False


# -- one point after another ---------------------------------------------------------------------


class Sweep:
    """The points of one plan, in order: each reused from the cache, skipped (the budget ran
    out, its tuned model did not finish), or run and cached; ``records`` and ``skipped`` are
    what ``build_advice`` takes."""

    def __init__(self, config, folder: Path, plan, say: Say, engines: dict) -> None:
        from core.tasks import load_task

        self.config, self.folder, self.plan, self.say = config, folder, plan, say
        self.task = load_task(config.task)
        self.engines = engines  # one per model for the whole sweep: each model loads once
        self.started = time.monotonic()
        self.measured = self.estimated = 0.0  # over the points run (not reused) so far
        self.records: list[dict] = []
        self.skipped: list[dict] = []

    def cancelled(self) -> bool:
        return jobs.cancel_requested(self.folder)

    def line(self, **fields: Any) -> None:
        jobs.append_line(self.folder / "progress.jsonl", {"event": "point", **fields,
                                                          "at": time.time()})

    def scale(self) -> float:
        """Measured over estimated seconds of the points run so far (1 before the first)."""
        return self.measured / self.estimated if self.measured and self.estimated else 1.0

    def left_s(self, index: int) -> float:
        """Seconds the points from ``index`` on should still take (cached ones take none)."""
        return round(self.scale() * sum(p.estimate_s for p in self.plan.points[index:]
                                        if read_record(p.key) is None), 1)

    def run(self) -> None:
        """Every planned point; a LabError when a cancel stops it."""
        for index, planned in enumerate(self.plan.points):
            if self.cancelled():
                raise LabError(f"Cancelled after {index} of {len(self.plan.points)} points.",
                               CRASH_FIX)
            self.point(index, planned)

    def point(self, index: int, planned) -> None:
        name = planned.point.name
        head = dict(name=name, index=index + 1, total=len(self.plan.points),
                    estimate_s=planned.estimate_s)
        tag = f"[{index + 1}/{len(self.plan.points)}] {name}"
        record = read_record(planned.key)
        if record is not None:
            self.records.append({**record, "reused": True})
            self.line(**head, state="reused", seconds=record.get("seconds"),
                      value=_value(record["row"], self.task), eta_s=self.left_s(index + 1))
            self.say(f"{tag}: {_shown(record['row'], self.task)} reused")
            return
        reason = self.why_skip(index, planned)
        if reason:
            self.skipped.append({"name": name, "reason": reason})
            self.line(**head, state="skipped", problem=reason, eta_s=self.left_s(index + 1))
            self.say(f"{tag}: skipped ({reason})")
            return
        self.line(**head, state="started", eta_s=self.left_s(index))
        try:
            record = self.measure(planned)
        except LabError as exc:
            if self.cancelled():
                raise
            self.skipped.append({"name": name, "reason": f"it failed: {exc.problem}"})
            self.line(**head, state="failed", problem=exc.problem, eta_s=self.left_s(index + 1))
            self.say(f"{tag}: failed: {exc.problem}")
            return
        # cached before its line: a kill after this loses nothing
        write_json(points_dir() / f"{planned.key}.json", record)
        self.records.append(record)
        self.measured += record["seconds"]
        self.estimated += planned.estimate_s
        self.line(**head, state="done", seconds=record["seconds"],
                  value=_value(record["row"], self.task), eta_s=self.left_s(index + 1))
        self.say(f"{tag}: {_shown(record['row'], self.task)} in {record['seconds']:.0f} s")

    def why_skip(self, index: int, planned) -> str | None:
        """Why the point is not run: over the budget (never the first two points), or a
        hybrid whose tuned model did not finish; None to run it."""
        budget = self.plan.budget_s
        spent = time.monotonic() - self.started
        if budget is not None and index >= 2 and spent + planned.estimate_s * self.scale() > budget:
            return "the budget ran out"
        if planned.point.kind == "hybrid" and self.tuned_run(planned.point) is None:
            return "its tuned model did not finish"
        return None

    def tuned_run(self, point) -> str | None:
        """The run of the tuned point a hybrid builds on (same rows and seed)."""
        tuned = point.tuned_point.to_dict()
        return next((r["run_id"] for r in self.records
                     if r.get("point") == tuned and r.get("run_id")), None)

    def measure(self, planned) -> dict[str, Any]:
        """Run one point (training first where it is tuned); its record."""
        point, started = planned.point, time.monotonic()
        run_id, train_s = None, None
        if point.kind == "tuned":
            run_id, train_s = self.train(point)
        elif point.kind == "hybrid":
            run_id = self.tuned_run(point)
        evaluated = time.monotonic()
        results = self.evaluate(point, run_id)
        end = time.monotonic()
        return {"key": planned.key, "point": point.to_dict(), "name": point.name,
                "family": point.family, "labelled": point.labelled,
                "row": results["variants"][0],
                "outputs": [e["outputs"][point.name] for e in results["examples"]],
                "examples": [{k: e[k] for k in ("id", "input", "reference")}
                             for e in results["examples"]],
                "task": results["task"], "run_id": run_id, "train_seconds": train_s,
                "eval_seconds": round(end - evaluated, 1), "seconds": round(end - started, 1),
                "finished_at": jobs.now(), "reused": False}

    def evaluate(self, point, run_id: str | None) -> dict:
        """The point's one-setup comparison on the sweep's test rows; a LabError when it could
        not run."""
        from core.advice_plan import compare_config
        from core.compare import evaluate

        config = compare_config(self.config, self.task, point, run_id)

        def progress(at, count, name, done=None, total=None):
            if total and (done == total or done % max(1, total // 20) == 0):
                jobs.append_line(self.folder / "progress.jsonl", {"event": "examples",
                                 "name": name, "done": done, "total": total})

        threads = 1 if training_busy() else None
        try:
            results = evaluate(config, progress, self.cancelled, threads, engines=self.engines)
        finally:  # a tuned model serves one point (a hybrid loads it again): free its memory
            for spec in [s for s in self.engines if getattr(s, "adapter", None)]:
                self.engines.pop(spec)
        row = results["variants"][0]
        if row.get("error"):
            raise LabError(f"{point.name} could not be evaluated: {row['error']}")
        return results

    def train(self, point) -> tuple[str, float | None]:
        """Train the tuned point as a real run of the lab, in this process, forwarding its
        steps as progress lines; (run id, training seconds)."""
        from core import run_worker, runs
        from core.advice_plan import train_config

        config = train_config(self.config, self.task, point)
        run_dir = runs.create_run(config)
        self.say(f"  training {point.name} as run {run_dir.name}")
        stop = threading.Event()
        watcher = threading.Thread(target=self.watch, args=(run_dir, point.name, stop),
                                   daemon=True)
        watcher.start()
        try:
            run_worker.execute(config, run_dir, echo=False)
        finally:
            stop.set()
            watcher.join()
            cancel_on_sigterm(self.folder)  # the run set its own handler
        run = runs.get_run(run_dir.name)
        if run.status != "succeeded":
            raise LabError(run.problem or f"Its training run {run.id} ended {run.status}.",
                           run.fix)
        return run.id, run.measured.train_seconds

    def watch(self, run_dir: Path, name: str, stop: threading.Event) -> None:
        """Forward the run's latest step while it trains; pass a cancel on to it."""
        from core.runs import read_events

        offset, polls, said_queued = 0, 0, False
        while True:
            last = stop.is_set()  # one more look after the run ended: its last steps
            events, offset = read_events(run_dir, offset)
            steps = [e for e in events if e.get("type") == "step"]
            if steps:
                jobs.append_line(self.folder / "progress.jsonl", {
                    "event": "step", "name": name, "step": steps[-1].get("step"),
                    "steps": steps[-1].get("total_steps")})
            if last:
                return
            polls += 1
            if polls > 1 and not said_queued and not offset \
                    and jobs.peek_status(run_dir).get("status") == "queued":
                said_queued = True  # another run holds train.lock: say why nothing moves
                jobs.append_line(self.folder / "progress.jsonl", {"event": "queued", "name": name})
            if self.cancelled():
                (run_dir / "cancel").touch()
            stop.wait(STEP_POLL_S)


def _metric(row: dict, task) -> dict:
    """The row's primary metric for the task's kind: {"value", "low", "high"} or {}."""
    from core.compare_scores import PRIMARY

    return (row.get("metrics") or {}).get(PRIMARY.get(task.kind, "accuracy")) or {}


def _value(row: dict, task) -> float | None:
    return _metric(row, task).get("value")


def _shown(row: dict, task) -> str:
    """'0.88 [0.80, 0.94]': the primary metric and its 95% interval."""
    metric = _metric(row, task)
    if metric.get("value") is None:
        return "no score"
    return f"{metric['value']:.2f} [{metric.get('low', 0):.2f}, {metric.get('high', 0):.2f}]"
