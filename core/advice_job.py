"""The advisor's sweep as a job (``core.jobs``): it survives a closed tab and an app restart,
and a killed one resumes from the points it finished.

An advice lives in ``$PROMPTTUNE_HOME/advice/<YYYYmmdd-HHMMSS>-<task>-<rand>/``: config.json
(``AdviceConfig``), status.json, plan.json, progress.jsonl, log.txt and, last, advice.json.
``start_advice`` spawns ``python -m core advise --job FOLDER``; that process (``execute``)
plans the sweep (``core.advice_plan``), then runs its points one by one (``core.advice_sweep``):
prompt and retrieval points are one-setup comparisons (``core.compare.evaluate``, one engines
dict for the whole sweep), tuned points train a real run of the lab first
(``core.runs.create_run`` then ``core.run_worker.execute`` in this process: they queue on
train.lock and show on the Runs page), a hybrid uses its tuned point's run. Each finished point
is written to the point cache (``advice/points/<key>.json``) before its progress line, so a kill
loses at most the point in flight, and any later sweep with the same settings reuses it instead
of training again.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import jobs
# the sweep's pieces, named here too: the pages, the CLI and the tests read them from this module
from core.advice_sweep import (CRASH_FIX, Say, Sweep, advice_dir, cancel_on_sigterm,  # noqa: F401
                               points_dir, read_record, training_busy)
from core.errors import LabError, StorageError
from core.paths import storage_error, write_json

OWN_FILES = ("config.json", "status.json", "plan.json", "progress.jsonl", "advice.json")
FINISHED = ("done", "reused", "failed", "skipped")


def _print(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class AdviceJob:
    """What the Advisor page shows about one advice (the latest attempt, after a resume)."""

    id: str
    folder: Path
    status: str          # queued | running | succeeded | cancelled | failed | crashed | damaged
    task: str
    budget: str
    created_at: str
    points_done: int = 0           # finished points (done, reused, failed or skipped)
    points_total: int = 0
    reused: int = 0                # of them, taken from the point cache
    current: str = ""              # "LoRA 50 rows: training step 12/38", while live
    eta_s: float | None = None     # seconds still to go, while live
    elapsed_s: float | None = None
    problem: str | None = None
    fix: str | None = None

    @property
    def live(self) -> bool:
        """Whether it is still queued or running."""
        return self.status in jobs.LIVE


# -- the point cache ----------------------------------------------------------------------------


def cached_records(config, plan=None, since: str | None = None) -> list[dict[str, Any]]:
    """The finished records of ``config``'s planned points (``plan``: the plan already made,
    e.g. plan.json read back), in plan order; marked ``reused`` when finished before ``since``
    (a job's ``created_at``: the points it did itself are not reused), all of them without."""
    from core.advice_plan import Plan, plan as make_plan

    plan = make_plan(config) if plan is None else plan
    plan = Plan.from_dict(plan) if isinstance(plan, dict) else plan
    records = (read_record(p.key) for p in plan.points)
    return [{**record, "reused": since is None or str(record.get("finished_at", "")) < since}
            for record in records if record is not None]


# -- creating, starting, cancelling, resuming ---------------------------------------------------


def _new_id(task: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")[:40] or "task"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{jobs.random_part()}"


def create_advice(config, out: Path | None = None) -> tuple[str, Path]:
    """A new advice: its folder (``out`` when given: new or empty), config.json and a queued
    status. An unknown task is refused before anything is written."""
    from core.tasks import task_folder

    task_folder(config.task)  # a ConfigError naming the tasks there are
    if out is not None:
        if any((out / name).exists() for name in OWN_FILES):
            raise LabError(f"{out} already holds another advice.", "Give a new or empty folder.")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc, f"create the folder {out}") from exc
        folder = out
    else:
        folder = jobs.make_folder(advice_dir(), lambda: _new_id(config.task), "advice")
    try:
        write_json(folder / "config.json", config.to_dict())
        jobs.write_status(folder, status="queued", id=folder.name, created_at=jobs.now(),
                          queued_at=time.time(), task=config.task, budget=config.budget)
    except StorageError:
        for name in ("config.json", "status.json", "status.lock"):
            (folder / name).unlink(missing_ok=True)
        if out is None:
            folder.rmdir()
        raise
    return folder.name, folder


def _spawn(folder: Path) -> None:
    try:
        jobs.spawn(folder, ["advise", "--job", str(folder)])
    except OSError as exc:
        raise storage_error(exc, "start the advice's process") from exc


def start_advice(config) -> str:
    """Save the config and start the sweep in a process of its own; return its id."""
    advice_id, folder = create_advice(config)
    _spawn(folder)
    return advice_id


def cancel_advice(advice_id: str) -> None:
    """Ask the sweep to stop: between points, in an evaluation after its current example, in
    a training run after its current step (the run keeps its adapter)."""
    job = get_advice(advice_id)
    if not job.live:
        raise LabError(f"Advice {advice_id} is {job.status}; only a queued or running advice "
                       "can be cancelled.")
    jobs.request_cancel(job.folder, f"cancel advice {advice_id}")
    if job.status == "queued":  # its process, when it comes, finds it cancelled and stops
        jobs.write_status(job.folder, unless=jobs.FINAL, status="cancelled",
                          finished_at=jobs.now(), ended_s=time.time())


def resume_advice(advice_id: str) -> AdviceJob:
    """Start a crashed, cancelled or failed advice again: its finished points come from the
    point cache, so it continues where it stopped."""
    job = get_advice(advice_id)
    if job.status not in ("crashed", "cancelled", "failed"):
        raise LabError(f"Advice {advice_id} is {job.status}; only a crashed, cancelled or failed "
                       "advice resumes.", "Start a new advice instead: finished points are "
                       "reused all the same.")
    try:
        (job.folder / "cancel").unlink(missing_ok=True)
        jobs.write_status(job.folder, status="queued", queued_at=time.time(), pid=None,
                          pid_started=None, problem=None, fix=None, finished_at=None)
    except OSError as exc:
        raise storage_error(exc, f"resume advice {advice_id}") from exc
    _spawn(job.folder)
    return get_advice(advice_id)


# -- the sweep's process ------------------------------------------------------------------------


def run_headless(config, out: Path | None = None, say: Say = _print) -> tuple[dict, Path]:
    """``python -m core advise TASK``: the whole sweep in the foreground; (advice, folder)."""
    advice_id, folder = create_advice(config, out)
    return execute(config, folder, advice_id, say), folder


def execute(config, folder: Path, advice_id: str | None = None, say: Say = _print) -> dict:
    """What the sweep's process does: plan, run each point (or reuse it), write advice.json,
    then the final status. A LabError before any point (a task without a test split) fails
    the advice with its problem and fix; one point's failure is recorded and the sweep goes on."""
    advice_id = advice_id or folder.name
    status = jobs.started(folder, "running", id=advice_id, started_s=time.time(),
                          problem=None, fix=None)
    if status["status"] == "cancelled":
        raise LabError(f"Advice {advice_id} was cancelled before it started.",
                       "Resume it or start it again.")
    restore = cancel_on_sigterm(folder)
    try:
        advice = _advise(config, folder, say)
    except LabError as exc:
        _ended(folder, "cancelled" if jobs.cancel_requested(folder) else "failed",
               exc.problem, exc.fix)
        raise
    except Exception as exc:  # recorded for the page, then re-raised for the log's traceback
        _ended(folder, "failed", f"{type(exc).__name__}: {exc}",
               "See log.txt in the advice's folder.")
        raise
    finally:
        restore()
    jobs.write_status(folder, status="succeeded", finished_at=jobs.now(), ended_s=time.time(),
                      what=f"record the status of advice {advice_id}")
    return advice


def _ended(folder: Path, state: str, problem: str, fix: str | None) -> None:
    try:
        jobs.write_status(folder, status=state, finished_at=jobs.now(), ended_s=time.time(),
                          problem=problem, fix=fix)
    except StorageError:  # the status stays running; the advice later reads crashed
        pass


def _advise(config, folder: Path, say: Say) -> dict:
    from core.advice_plan import plan as make_plan
    from core.advice_result import build_advice

    started = time.monotonic()
    engines: dict = {}  # one per model for the whole sweep: the plan's timing loads the base
    plan = make_plan(config, engines, 1 if training_busy() else None)
    write_json(folder / "plan.json", plan.to_dict())
    jobs.append_line(folder / "progress.jsonl", {"event": "plan", "total": len(plan.points),
                                                 "eta_s": plan.eta_s, "at": time.time()})
    for line in plan_lines(plan):
        say(line)
    sweep = Sweep(config, folder, plan, say, engines)
    sweep.run()
    advice = build_advice(config, plan.to_dict(), sweep.records, sweep.skipped,
                          round(time.monotonic() - started, 1))
    write_json(folder / "advice.json", advice)
    return advice


def duration(seconds: float | None) -> str:
    """Seconds in words: '45 s', '12 min', '1.5 h'."""
    if seconds is None:
        return "no limit"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def plan_lines(plan) -> list[str]:
    """The plan as the CLI and the log print it: the ETA first, then the points and what was
    left out, and why."""
    return [f"plan: {len(plan.points)} points, about {duration(plan.eta_s)} "
            f"(budget {duration(plan.budget_s)})", *plan.lines()]


# -- reading ------------------------------------------------------------------------------------


def _folder(advice_id: str) -> Path:
    if isinstance(advice_id, str) and advice_id and "/" not in advice_id and "\x00" not in \
            advice_id and advice_id not in (".", "..", "points"):
        folder = advice_dir() / advice_id
        if (folder / "config.json").is_file():
            return folder
    raise LabError(f"There is no advice {advice_id!r}.",
                   "Pick one from the Advisor page's list, or start one: "
                   "python -m core advise TASK --budget 10m.")


def read_progress(advice_id: str, offset: int = 0) -> tuple[list[dict], int]:
    """Progress lines written after byte ``offset``, and the offset to read from next."""
    return jobs.read_lines(_folder(advice_id) / "progress.jsonl", offset)


def _attempt(folder: Path) -> list[dict]:
    """The progress lines of the latest attempt (a resume starts a new one at its plan)."""
    lines, _ = jobs.read_lines(folder / "progress.jsonl")
    starts = [i for i, line in enumerate(lines) if line.get("event") == "plan"]
    return lines[starts[-1]:] if starts else []


def point_lines(advice_id: str) -> list[dict]:
    """The last line of each point the latest attempt has reached, in the order reached."""
    last: dict[str, dict] = {}
    for line in _attempt(_folder(advice_id)):
        if line.get("event") == "point" and isinstance(line.get("name"), str):
            last.pop(line["name"], None)
            last[line["name"]] = line
    return list(last.values())


def _current(lines: list[dict]) -> str:
    """The point in flight and how far it is: training step or examples scored."""
    points = [line for line in lines if line.get("event") == "point"]
    if not points or points[-1].get("state") != "started":
        return ""
    name, detail = points[-1]["name"], ""
    for line in lines:
        if line.get("name") != name:
            continue
        if line.get("event") == "queued":
            detail = ": waiting for another training run to finish"
        elif line.get("event") == "step":
            detail = f": training step {line.get('step')}/{line.get('steps')}"
        elif line.get("event") == "examples":
            detail = f": {line.get('done')}/{line.get('total')} examples scored"
    return name + detail


def _eta(lines: list[dict]) -> float | None:
    points = [line for line in lines if line.get("event") in ("point", "plan")]
    if not points or not isinstance(points[-1].get("eta_s"), (int, float)):
        return None
    since = time.time() - points[-1].get("at", time.time())
    return round(max(0.0, points[-1]["eta_s"] - since), 1)


def get_advice(advice_id: str) -> AdviceJob:
    """One advice as its folder says (a dead process reads "crashed"; unreadable files
    "damaged", with the reason)."""
    folder = _folder(advice_id)
    try:
        config = jobs.read_json(folder / "config.json")
        if not isinstance(config, dict) or not isinstance(config.get("task"), str):
            raise jobs.Damaged("config.json names no task")
        status = jobs.settle(folder, CRASH_FIX)
    except jobs.Damaged as exc:
        return AdviceJob(advice_id, folder, "damaged", "?", "?", "",
                         problem=f"Advice {advice_id} is damaged: {exc} (in {folder}).",
                         fix=f"Delete the folder {folder} and start the advice again.")
    lines = _attempt(folder)
    # timing this machine before the first point (a resumed one: its old lines still show)
    planning = status["status"] == "running" and \
        (not lines or lines[0].get("at", 0) < status.get("started_s", 0))
    finished = {line["name"]: line["state"] for line in lines
                if line.get("event") == "point" and line.get("state") in FINISHED}
    total = next((line.get("total", 0) for line in lines if line.get("event") == "plan"), 0)
    live = status["status"] in jobs.LIVE
    start, end = status.get("started_s"), status.get("ended_s")
    elapsed = None if start is None else max(0.0, (time.time() if live or end is None
                                                   else end) - start)
    return AdviceJob(advice_id, folder, status["status"], config["task"],
                     str(config.get("budget", "")), str(status.get("created_at", "")),
                     len(finished), total, sum(s == "reused" for s in finished.values()),
                     "planning (timing the model on this machine)" if planning else
                     _current(lines) if live else "", _eta(lines) if live else None,
                     elapsed, status.get("problem"), status.get("fix"))


def list_advice() -> list[AdviceJob]:
    """Every advice, newest first; a damaged one listed as such."""
    found = [p.name for p in advice_dir().iterdir() if (p / "config.json").is_file()]
    return [get_advice(name) for name in sorted(found, reverse=True)]


def load_advice(advice_id: str) -> dict[str, Any]:
    """A finished advice's advice.json; a LabError saying why there is none, and what to do."""
    job = get_advice(advice_id)
    if job.status == "damaged":
        raise LabError(job.problem, job.fix)
    path = job.folder / "advice.json"
    if not path.is_file():
        fix = "Wait for it to finish." if job.live else "Resume it: its finished points are reused."
        raise LabError(f"Advice {advice_id} has no result yet ({job.status}).", fix)
    try:
        advice = jobs.read_json(path)
    except jobs.Damaged as exc:
        raise LabError(f"Advice {advice_id} is damaged: {exc} (in {job.folder}).",
                       "Start the same advice again: its points are reused, so it takes "
                       "seconds.") from None
    if not isinstance(advice, dict):
        raise LabError(f"Advice {advice_id} is damaged: advice.json holds no advice.",
                       "Start the same advice again: its points are reused.")
    return advice
