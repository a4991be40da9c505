"""Comparisons in a process of their own: progress, cancel, and every past one kept.

A comparison is a job (``core.jobs``), like a training run: ``start_comparison`` writes the
config into ``$PROMPTTUNE_HOME/comparisons/<id>/`` and spawns ``python -m core compare CONFIG
--out DIR``, so a closed tab or an app restart loses nothing. The process appends progress
lines to ``progress.jsonl``, watches for a ``cancel`` file, and writes ``results.json`` then
its final ``status.json`` when done. The ``comparisons`` table of the lab's database
(``core.db``) indexes them.

``create_comparison`` is where every comparison begins, from the page and from
``python -m core compare`` alike: a folder of its own (named to the second plus a
random part, made exclusively), entered in the index. The folder is the truth: a
damaged or read-only lab.db leaves a comparison unindexed, never lost, and a damaged
folder is listed as "damaged" with its reason instead of hiding the others.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core import db, jobs
from core.compare import CompareConfig, check_variants, evaluate
from core.config_files import kind_of
from core.errors import ConfigError, LabError, StorageError
from core.paths import data_dir, history_db_path, storage_error, write_json
from core.results import Results, ResultsError

STATES = jobs.STATES
CRASH_FIX = "Run the comparison again: its settings are kept with it."
OWN_FILES = ("config.json", "status.json", "progress.jsonl", "results.json")


@dataclass(frozen=True)
class Comparison:
    id: str
    folder: Path
    status: str          # queued | running | succeeded | cancelled | failed | crashed | damaged
    task: str
    variants: tuple[str, ...]
    created_at: str
    done: int = 0
    total: int = 0
    current: str = ""
    problem: str | None = None
    fix: str | None = None
    started: float | None = None   # when it was started (epoch seconds: its config was saved)
    ended: float | None = None     # when its final status was written; None while live
    examples_done: int = 0         # of the current variant's examples
    examples: int = 0              # 0 until the current variant reports its first ones

    @property
    def fraction(self) -> float:
        """How much of the whole comparison is done, counting the current variant's examples."""
        part = self.examples_done / self.examples if self.examples else 0.0
        return min(1.0, (self.done + part) / max(self.total, 1))

    @property
    def live(self) -> bool:
        """Whether it is still queued or running."""
        return self.status in jobs.LIVE

    @property
    def elapsed_s(self) -> float | None:
        """Seconds from its start to its end, or to now while it runs."""
        if self.started is None:
            return None
        return max(0.0, (self.ended if self.ended is not None else time.time()) - self.started)


def comparisons_dir() -> Path:
    """The folder of the lab's comparisons, created if missing."""
    try:
        path = data_dir() / "comparisons"
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, "create the comparisons folder") from exc
    return path


# -- the index --------------------------------------------------------------------------------


def _index(comparison_id: str, status: str, config: CompareConfig | None = None,
           folder: Path | None = None) -> None:
    """Enter (given its config and folder) or update a comparison in the lab's index; where
    lab.db cannot be written, its folder keeps it (``core.db.write_index``)."""
    if config is None:
        db.write_index("UPDATE comparisons SET status = ? WHERE id = ?", (status, comparison_id),
                       f"record comparison {comparison_id}")
        return
    db.write_index("INSERT OR REPLACE INTO comparisons VALUES (?, ?, ?, ?, ?, ?)",
                   (comparison_id, jobs.now(), config.task,
                    json.dumps([v.name for v in config.variants]), status, str(folder)),
                   f"record comparison {comparison_id}")


def _indexed_folders() -> dict[str, Path]:
    """Comparisons the index knows by id, with their folders; empty when it cannot be read."""
    if not history_db_path().is_file():
        return {}
    try:
        return {i: Path(f) for i, f in db.read_index("SELECT id, folder FROM comparisons")}
    except (sqlite3.Error, OSError):
        return {}


# -- creating and starting --------------------------------------------------------------------


def _new_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + jobs.random_part()


def _out_folder(out: Path) -> tuple[str, Path]:
    """The folder a user named with ``--out``: made if missing, refused when it already holds a
    comparison (its results and progress would be mixed with this one's)."""
    held = [name for name in OWN_FILES if (out / name).exists()]
    if held:
        raise ConfigError(f"{out} already holds another comparison ({', '.join(held)}).",
                          "Give --out a new or empty folder, or leave --out away: every "
                          "comparison then gets its own folder under the lab's comparisons.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"--out {out} is a file, not a folder.", "Give --out a folder.") from None
    except OSError as exc:
        raise storage_error(exc, f"create the folder {out}") from exc
    inside = out.resolve().parent == comparisons_dir().resolve()
    return (out.name if inside else _new_id()), out


def create_comparison(config: CompareConfig, out: Path | None = None) -> tuple[str, Path]:
    """The one place a comparison begins, from the page and the CLI alike: a unique id, its
    folder (``out`` when given), its config.json, a queued status.json and its index row.
    A variant that cannot run is refused before anything is written; a failed write (full
    disk, read-only folder) leaves nothing behind and raises a StorageError."""
    check_variants(config)
    if out is not None:
        comparison_id, folder = _out_folder(out)
    else:
        folder = jobs.make_folder(comparisons_dir(), _new_id, "comparison's")
        comparison_id = folder.name
    try:
        write_json(folder / "config.json", config.to_dict())
        jobs.write_status(folder, status="queued", id=comparison_id)
    except StorageError:
        for name in ("config.json", "status.json", "status.lock"):
            (folder / name).unlink(missing_ok=True)
        if out is None or not any(folder.iterdir()):
            folder.rmdir()
        raise
    _index(comparison_id, "queued", config, folder)
    return comparison_id, folder


def start_comparison(config: CompareConfig) -> str:
    """Save the config and start the evaluation in the background; return its id."""
    comparison_id, folder = create_comparison(config)
    try:
        jobs.spawn(folder, ["compare", str(folder / "config.json"), "--out", str(folder)])
    except OSError as exc:
        raise storage_error(exc, "start the comparison's log") from exc
    return comparison_id


# -- the evaluation process -------------------------------------------------------------------


def _training_busy() -> bool:
    from core.runs import list_runs

    try:
        return any(r.status in jobs.LIVE for r in list_runs())
    except (LabError, sqlite3.Error, OSError):  # a damaged or unreadable index: assume none
        return False


def append_progress(folder: Path, line: dict[str, Any]) -> None:
    """Append one progress line (``core.jobs.append_line``: a torn line is left behind)."""
    jobs.append_line(folder / "progress.jsonl", line)


def _finish(folder: Path, comparison_id: str, **status: Any) -> None:
    """Record how it ended, in the folder, then in the index."""
    jobs.write_status(folder, what=f"record the status of comparison {comparison_id}", **status)
    _index(comparison_id, status["status"])


def execute(config: CompareConfig, folder: Path, comparison_id: str | None = None) -> dict:
    """What the background process does (also ``python -m core compare`` in the foreground)."""
    comparison_id = comparison_id or folder.name
    if jobs.started(folder, "running", id=comparison_id)["status"] == "cancelled":
        raise LabError(f"Comparison {comparison_id} was cancelled before it started.")

    def progress(done: int, total: int, name: str, examples_done: int | None = None,
                 examples: int | None = None) -> None:
        line = {"done": done, "total": total, "current": name}
        if examples:
            line.update(examples_done=examples_done, examples=examples)
        append_progress(folder, line)
        if not examples:  # the log keeps one line a variant
            print(f"[{done}/{total}] {name}", flush=True)

    cancelled = lambda: jobs.cancel_requested(folder)  # noqa: E731
    # share the two cores with a training run instead of fighting over them (4-15x slower)
    threads = 1 if _training_busy() else None
    try:
        _say_version(config)
        results = evaluate(config, progress, cancelled, threads)
        results["id"] = comparison_id
        write_json(folder / "results.json", results)
    except LabError as exc:
        _ended(folder, comparison_id, status="cancelled" if cancelled() else "failed",
               problem=exc.problem, fix=exc.fix)
        raise
    except Exception as exc:  # recorded for the page, then re-raised for the log's traceback
        _ended(folder, comparison_id, status="failed", problem=f"{type(exc).__name__}: {exc}",
               fix="See log.txt in the comparison's folder.")
        raise
    _finish(folder, comparison_id, status="succeeded", problem=None, fix=None)
    return results


def _say_version(config: CompareConfig) -> None:
    """The task's version, and each warning about a tuned run's data (another version of the
    task, training rows among the test rows), first in the log and the CLI's output."""
    from core.task_versions import check_warnings, comparison_checks, short
    from core.tasks import load_task

    task = load_task(config.task)
    print(f"task {task.name}, {short(task.fingerprint)}", flush=True)
    for warning in check_warnings(comparison_checks(config)):
        print(f"warning: {warning}", flush=True)


def _ended(folder: Path, comparison_id: str, **status: Any) -> None:
    """Record a failure where possible: on a full or read-only disk the status stays running
    and the comparison later reads crashed; the error being raised says why."""
    try:
        _finish(folder, comparison_id, **status)
    except StorageError:
        pass


def read_config_file(path: Path) -> CompareConfig:
    """A comparison config saved by the Compare page (or written by hand), checked."""
    if not path.is_file():
        raise ConfigError(f"There is no comparison config at {path}.",
                          "Save one from the Compare page, or write one (see README).")
    fix = "Compare it with a config the Compare page saved (config.json in a comparison's folder)."
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if text.strip() else None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start} is not).",
                          "Save the config as UTF-8 JSON.") from None
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply to be a comparison config.", fix) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not a valid comparison config: {exc}.", fix) from None
    except OSError as exc:
        raise ConfigError(f"Could not read {path}: {exc.strerror}.", fix) from None
    if data is None:
        raise ConfigError(f"The comparison config {path} is empty.", fix)
    if not isinstance(data, dict):
        raise ConfigError(f"The comparison config {path} holds {kind_of(data)} at its top level, "
                          "not a JSON object of settings.", fix)
    return CompareConfig.from_dict(data)


def _prepared(path: Path, out: Path | None) -> str | None:
    """The id of the folder ``start_comparison`` prepared for this very config (the page's
    background process runs ``compare FOLDER/config.json --out FOLDER``); None otherwise."""
    if out is None or (out / "config.json").resolve() != path.resolve():
        return None
    if any((out / name).exists() for name in ("progress.jsonl", "results.json")):
        return None
    status = jobs.peek_status(out)
    return (status.get("id") or out.name) if status.get("status") == "queued" else None


def run_config_file(path: Path, out: Path | None = None) -> tuple[dict, Path]:
    """``python -m core compare``: run a config file in the foreground; (results, folder).

    Every comparison gets its own folder and index row (``out`` when given, which must not
    hold another comparison); the config is checked before any folder exists."""
    config = read_config_file(path)
    comparison_id = _prepared(path, out)
    if comparison_id is not None:
        folder = out
    else:
        comparison_id, folder = create_comparison(config, out)
    return execute(config, folder, comparison_id), folder


# -- reading ----------------------------------------------------------------------------------


def _read_config(folder: Path) -> tuple[str, tuple[str, ...]]:
    """The task and the variants' names in config.json; jobs.Damaged when it holds none."""
    config = jobs.read_json(folder / "config.json")
    if not isinstance(config, dict) or not isinstance(config.get("task"), str):
        raise jobs.Damaged("config.json names no task")
    variants = config.get("setups", config.get("variants"))
    if not isinstance(variants, list) or not all(isinstance(v, dict) and isinstance(v.get("name"), str)
                                                 for v in variants):
        raise jobs.Damaged("config.json has no list of named variants")
    return config["task"], tuple(v["name"] for v in variants)


def _counts(line: dict) -> bool:
    return all(isinstance(line.get(k, 0), int) and not isinstance(line.get(k, 0), bool)
               for k in ("done", "total", "examples_done", "examples"))


def _folder(comparison_id: str) -> Path:
    """Where a comparison lives: under comparisons/, or where ``--out`` put it (the index)."""
    if isinstance(comparison_id, str) and comparison_id and "/" not in comparison_id \
            and "\x00" not in comparison_id and comparison_id not in (".", ".."):
        folder = comparisons_dir() / comparison_id
        if (folder / "config.json").is_file():
            return folder
        elsewhere = _indexed_folders().get(comparison_id)
        if elsewhere is not None and (elsewhere / "config.json").is_file():
            return elsewhere
    raise LabError(f"There is no comparison {comparison_id!r}.", "Pick one from the list.")


def _damaged(comparison_id: str, folder: Path, what: str) -> Comparison:
    """A comparison whose files cannot be read, named with what is wrong and what to do."""
    try:
        task, variants = _read_config(folder)
    except jobs.Damaged:
        task, variants = "?", ()
    again = (f" or run it again: python -m core compare {folder / 'config.json'}"
             if "config.json" not in what else "")
    return Comparison(comparison_id, folder, "damaged", task, variants, _stamp(folder),
                      problem=f"Comparison {comparison_id} is damaged: {what} (in {folder}).",
                      fix=f"Delete the folder {folder}{again}.")


def _stamp(folder: Path) -> str:
    return datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


def get_comparison(comparison_id: str) -> Comparison:
    """A comparison by id, as its folder says; one whose files are damaged reads "damaged"."""
    folder = _folder(comparison_id)
    try:
        return _read_comparison(comparison_id, folder)
    except jobs.Damaged as exc:
        return _damaged(comparison_id, folder, str(exc))


def _read_comparison(comparison_id: str, folder: Path) -> Comparison:
    task, variants = _read_config(folder)
    before = jobs.read_status(folder)["status"]
    status = jobs.settle(folder, CRASH_FIX)
    if status["status"] != before:  # found gone: the index stops calling it live
        _index(comparison_id, status["status"])
    state = status["status"]
    last = jobs.last_line(folder / "progress.jsonl", _counts)
    return Comparison(comparison_id, folder, state, task, variants, _stamp(folder),
                      last.get("done", 0), last.get("total", len(variants)),
                      str(last.get("current", "")), status.get("problem"), status.get("fix"),
                      (folder / "config.json").stat().st_mtime,
                      None if state in jobs.LIVE else (folder / "status.json").stat().st_mtime,
                      last.get("examples_done", 0), last.get("examples", 0))


def list_comparisons() -> list[Comparison]:
    """Newest first: every folder under comparisons/, and those ``--out`` put elsewhere that
    the index knows of. A damaged one is listed as "damaged", with its reason."""
    root = comparisons_dir()
    ids = {p.name for p in root.iterdir() if (p / "config.json").is_file()}
    ids |= {i for i, folder in _indexed_folders().items()
            if i not in ids and folder.parent != root and (folder / "config.json").is_file()}
    return [get_comparison(i) for i in sorted(ids, reverse=True)]


def load_results(comparison_id: str) -> dict[str, Any]:
    """A finished comparison's results as the dict the report draws (``load_comparison``
    reads them typed); a LabError when it has none or they cannot be read."""
    return load_comparison(comparison_id).to_dict()


def load_comparison(comparison_id: str) -> Results:
    """A finished comparison's results, typed (``core.results``); a LabError when it has none
    or they cannot be read, naming the comparison's folder and what to do."""
    comparison = get_comparison(comparison_id)  # an id never leaves the folder
    if comparison.status == "damaged":
        raise LabError(comparison.problem, comparison.fix)
    path = comparison.folder / "results.json"
    if not path.is_file():
        raise LabError(f"Comparison {comparison_id} has no results yet.", "Wait for it to finish.")
    try:
        return Results.from_dict(jobs.read_json(path), "results.json")
    except (jobs.Damaged, ResultsError) as exc:
        reason = str(exc) if isinstance(exc, jobs.Damaged) else exc.problem.rstrip(".")
        damaged = _damaged(comparison_id, comparison.folder, reason)
        raise ResultsError(damaged.problem, damaged.fix) from exc


def cancel_comparison(comparison_id: str) -> None:
    """Ask the running evaluation to stop after its current example."""
    jobs.request_cancel(get_comparison(comparison_id).folder, "ask the comparison to stop")
