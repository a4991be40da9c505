"""Comparisons in a process of their own: progress, cancel, and every past one kept.

Like training runs: ``start_comparison`` writes the config into
``$PROMPTTUNE_HOME/comparisons/<id>/`` and starts ``python -m core compare
CONFIG --out DIR`` detached, so a closed tab or an app restart loses nothing.
The process appends progress lines to ``progress.jsonl``, watches for a
``cancel`` file, and writes ``results.json`` then ``status.json`` (atomically)
when done. The ``comparisons`` table of the lab's database indexes them.

``create_comparison`` is where every comparison begins, from the page and from
``python -m core compare`` alike: a folder of its own (named to the second plus a
random part, made exclusively), entered in the index. The folder is the truth: a
damaged or read-only lab.db leaves a comparison unindexed, never lost, and a damaged
folder is listed as "damaged" with its reason instead of hiding the others.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.compare import CompareConfig, check_variants, evaluate
from core.errors import ConfigError, LabError, StorageError
from core.paths import data_dir, history_db_path, storage_error, write_json

ROOT = Path(__file__).resolve().parent.parent
SPAWN_GRACE_S = 60  # a comparison with no pid recorded this long after its start never started
SCHEMA = """
CREATE TABLE IF NOT EXISTS comparisons (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, task TEXT NOT NULL,
    variants TEXT NOT NULL, status TEXT NOT NULL, folder TEXT NOT NULL
);
"""


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
        return self.status in ("queued", "running")

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


def _db() -> sqlite3.Connection:
    return closing(sqlite3.connect(history_db_path(), timeout=10))


def _index(comparison_id: str, status: str, config: CompareConfig | None = None,
           folder: Path | None = None) -> None:
    """Enter or update a comparison in the lab's index. The folder is the truth and the index
    a second copy: a damaged lab.db or a read-only folder leaves the index behind, never the
    comparison (the CLI says so on stderr)."""
    try:
        with _db() as conn, conn:
            conn.executescript(SCHEMA)
            if config is not None:
                conn.execute("INSERT OR REPLACE INTO comparisons VALUES (?, ?, ?, ?, ?, ?)",
                             (comparison_id, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              config.task, json.dumps([v.name for v in config.variants]), status,
                              str(folder)))
            else:
                conn.execute("UPDATE comparisons SET status = ? WHERE id = ?", (status, comparison_id))
    except (sqlite3.Error, OSError) as exc:
        print(f"note: the lab's index ({history_db_path()}) could not record comparison "
              f"{comparison_id} ({exc}); its folder keeps it.", file=sys.stderr)


def _indexed_folders() -> dict[str, Path]:
    """Comparisons the index knows by id, with their folders; empty when it cannot be read."""
    if not history_db_path().is_file():
        return {}
    try:
        with _db() as conn:
            return {row[0]: Path(row[1]) for row in
                    conn.execute("SELECT id, folder FROM comparisons").fetchall()}
    except (sqlite3.Error, OSError):
        return {}


def _new_folder() -> tuple[str, Path]:
    """A fresh id and its folder under comparisons/: the time to the second and a random part,
    the folder made exclusively, so two comparisons started in one second never share one."""
    root = comparisons_dir()
    for _ in range(100):
        comparison_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        try:
            (root / comparison_id).mkdir()
            return comparison_id, root / comparison_id
        except FileExistsError:
            continue
        except OSError as exc:
            raise storage_error(exc, "create the comparison's folder") from exc
    raise LabError("Could not find a free name for a comparison folder.", "Try again.")


OWN_FILES = ("config.json", "status.json", "progress.jsonl", "results.json")


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
    comparison_id = out.name if inside else \
        datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    return comparison_id, out


def create_comparison(config: CompareConfig, out: Path | None = None) -> tuple[str, Path]:
    """The one place a comparison begins, from the page and the CLI alike: a unique id, its
    folder (``out`` when given), its config.json, a queued status.json and its index row.
    A variant that cannot run is refused before anything is written; a failed write (full
    disk, read-only folder) leaves nothing behind and raises a StorageError."""
    check_variants(config)
    comparison_id, folder = _out_folder(out) if out is not None else _new_folder()
    try:
        write_json(folder / "config.json", config.to_dict())
        write_json(folder / "status.json", {"status": "queued", "id": comparison_id})
    except StorageError:
        for name in ("config.json", "status.json"):
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
        log = (folder / "log.txt").open("w")
    except OSError as exc:
        raise storage_error(exc, "start the comparison's log") from exc
    with log:  # the child keeps its own copy of the handle
        process = subprocess.Popen([sys.executable, "-m", "core", "compare",
                                    str(folder / "config.json"), "--out", str(folder)], cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    write_json(folder / "status.json", {"status": "queued", "id": comparison_id, "pid": process.pid})
    return comparison_id


def _training_busy() -> bool:
    from core.runs import list_runs

    try:
        return any(r.status in ("queued", "running") for r in list_runs())
    except (LabError, sqlite3.Error, OSError):  # a damaged or unreadable index: assume none
        return False


def append_progress(folder: Path, line: dict[str, Any]) -> None:
    """Append one progress line in a single write. After a line torn by a kill or a full disk,
    start on a new line; a line that cannot be written is skipped (progress is for display,
    the results are what counts)."""
    data = (json.dumps(line) + "\n").encode()
    try:
        fd = os.open(folder / "progress.jsonl", os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        print(f"note: a progress line was not saved ({exc})", flush=True)


def _finish(folder: Path, comparison_id: str, status: dict[str, Any]) -> None:
    """Record how it ended, in the folder, then in the index."""
    write_json(folder / "status.json", status)
    _index(comparison_id, status["status"])


def execute(config: CompareConfig, folder: Path, comparison_id: str | None = None) -> dict:
    """What the background process does (also ``python -m core compare`` in the foreground)."""
    comparison_id = comparison_id or folder.name
    write_json(folder / "status.json", {"status": "running", "id": comparison_id, "pid": os.getpid()})

    def progress(done: int, total: int, name: str, examples_done: int | None = None,
                 examples: int | None = None) -> None:
        line = {"done": done, "total": total, "current": name}
        if examples:
            line.update(examples_done=examples_done, examples=examples)
        append_progress(folder, line)
        if not examples:  # the log keeps one line a variant
            print(f"[{done}/{total}] {name}", flush=True)

    cancelled = lambda: (folder / "cancel").exists()  # noqa: E731
    # share the two cores with a training run instead of fighting over them (4-15x slower)
    threads = 1 if _training_busy() else None
    try:
        _say_version(config)
        results = evaluate(config, progress, cancelled, threads)
        results["id"] = comparison_id
        write_json(folder / "results.json", results)
    except LabError as exc:
        _ended(folder, comparison_id, {"status": "cancelled" if cancelled() else "failed",
                                       "problem": exc.problem, "fix": exc.fix})
        raise
    except Exception as exc:  # recorded for the page, then re-raised for the log's traceback
        _ended(folder, comparison_id, {"status": "failed", "problem": f"{type(exc).__name__}: {exc}",
                                       "fix": "See log.txt in the comparison's folder."})
        raise
    _finish(folder, comparison_id, {"status": "succeeded"})
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


def _ended(folder: Path, comparison_id: str, status: dict[str, Any]) -> None:
    """Record a failure where possible: on a full or read-only disk the status stays running
    and the comparison later reads crashed; the error being raised says why."""
    try:
        _finish(folder, comparison_id, status)
    except StorageError:
        pass


def read_config_file(path: Path) -> CompareConfig:
    """A comparison config saved by the Compare page (or written by hand), checked."""
    if not path.is_file():
        raise ConfigError(f"There is no comparison config at {path}.",
                          "Save one from the Compare page, or write one (see README).")
    fix = "Compare it with a config the Compare page saved (config.json in a comparison's folder)."
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start} is not).",
                          "Save the config as UTF-8 JSON.") from None
    except RecursionError:
        raise ConfigError(f"{path} is nested too deeply to be a comparison config.", fix) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not a valid comparison config: {exc}.", fix) from None
    except OSError as exc:
        raise ConfigError(f"Could not read {path}: {exc.strerror}.", fix) from None
    return CompareConfig.from_dict(data)


def _prepared(path: Path, out: Path | None) -> str | None:
    """The id of the folder ``start_comparison`` prepared for this very config (the page's
    background process runs ``compare FOLDER/config.json --out FOLDER``); None otherwise."""
    if out is None or (out / "config.json").resolve() != path.resolve():
        return None
    if any((out / name).exists() for name in ("progress.jsonl", "results.json")):
        return None
    try:
        status = _read_status(out)
    except (LabError, OSError, ValueError):
        return None
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


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child stays a zombie until reaped: that is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


STATES = ("queued", "running", "succeeded", "cancelled", "failed", "crashed")


class _Damaged(Exception):
    """A comparison file that cannot be read: its name and what is wrong with it."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _Damaged(f"{path.name} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        what = "empty" if path.stat().st_size == 0 else "not valid JSON (cut short or overwritten)"
        raise _Damaged(f"{path.name} is {what}") from None
    except OSError as exc:
        raise _Damaged(f"{path.name} cannot be read ({exc.strerror})") from None


def _read_status(folder: Path) -> dict[str, Any]:
    status = _read_json(folder / "status.json")
    if not isinstance(status, dict) or status.get("status") not in STATES:
        raise _Damaged("status.json holds no known status")
    return status


def _read_config(folder: Path) -> dict[str, Any]:
    config = _read_json(folder / "config.json")
    variants = config.get("variants") if isinstance(config, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("task"), str):
        raise _Damaged("config.json names no task")
    if not isinstance(variants, list) or not all(isinstance(v, dict) and isinstance(v.get("name"), str)
                                                 for v in variants):
        raise _Damaged("config.json has no list of named variants")
    return config


def _last_progress(folder: Path) -> dict[str, Any]:
    """The last whole progress line; a torn one (a kill or a full disk mid-append) is skipped."""
    try:
        lines = (folder / "progress.jsonl").read_bytes().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise _Damaged(f"progress.jsonl cannot be read ({exc.strerror})") from None
    for line in reversed(lines):
        try:
            last = json.loads(line)
        except ValueError:
            continue
        if isinstance(last, dict) and all(isinstance(last.get(k, 0), int) and not isinstance(
                last.get(k, 0), bool) for k in ("done", "total", "examples_done", "examples")):
            return last
    return {}


def _gone(status: dict[str, Any], folder: Path) -> bool:
    """Whether the process of a live status has ended. No pid yet means it is being started
    right now, unless the app died before recording one (a minute ago or more)."""
    if status.get("pid"):
        return not _pid_alive(status["pid"])
    return time.time() - (folder / "status.json").stat().st_mtime > SPAWN_GRACE_S


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


def _crashed(comparison_id: str, folder: Path, status: dict[str, Any]) -> dict[str, Any]:
    status = _read_status(folder)  # it may have finished just before it ended: re-read
    if status["status"] not in ("queued", "running"):
        return status
    # recorded, so the list and the index stop calling it live and the page says why
    status = {"status": "crashed", "problem": "The evaluation process ended without "
              "recording a result (killed, out of memory, or the machine restarted).",
              "fix": "Run the comparison again: its settings are kept with it."}
    try:
        _finish(folder, comparison_id, status)
    except StorageError:  # a read-only folder: say it, without recording it
        pass
    return status


def _damaged(comparison_id: str, folder: Path, what: str) -> Comparison:
    """A comparison whose files cannot be read, named with what is wrong and what to do."""
    try:
        config = _read_config(folder)
    except _Damaged:
        config = {"task": "?", "variants": []}
    again = (f" or run it again: python -m core compare {folder / 'config.json'}"
             if "config.json" not in what else "")
    return Comparison(comparison_id, folder, "damaged", config["task"],
                      tuple(v["name"] for v in config["variants"]), _stamp(folder),
                      problem=f"Comparison {comparison_id} is damaged: {what} (in {folder}).",
                      fix=f"Delete the folder {folder}{again}.")


def _stamp(folder: Path) -> str:
    return datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


def get_comparison(comparison_id: str) -> Comparison:
    """A comparison by id, as its folder says; one whose files are damaged reads "damaged"."""
    folder = _folder(comparison_id)
    try:
        return _read_comparison(comparison_id, folder)
    except _Damaged as exc:
        return _damaged(comparison_id, folder, str(exc))


def _read_comparison(comparison_id: str, folder: Path) -> Comparison:
    config = _read_config(folder)
    status = _read_status(folder)
    if status["status"] in ("queued", "running") and _gone(status, folder):
        status = _crashed(comparison_id, folder, status)
    state = status["status"]
    last = _last_progress(folder)
    return Comparison(comparison_id, folder, state, config["task"],
                      tuple(v["name"] for v in config["variants"]), _stamp(folder),
                      last.get("done", 0), last.get("total", len(config["variants"])),
                      str(last.get("current", "")), status.get("problem"), status.get("fix"),
                      (folder / "config.json").stat().st_mtime,
                      None if state in ("queued", "running")
                      else (folder / "status.json").stat().st_mtime,
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
    """A finished comparison's results; a LabError when it has none or they cannot be read."""
    comparison = get_comparison(comparison_id)  # an id never leaves the folder
    if comparison.status == "damaged":
        raise LabError(comparison.problem, comparison.fix)
    path = comparison.folder / "results.json"
    if not path.is_file():
        raise LabError(f"Comparison {comparison_id} has no results yet.", "Wait for it to finish.")
    try:
        results = _read_json(path)
    except _Damaged as exc:
        results = None
        reason = str(exc)
    if not isinstance(results, dict) or not isinstance(results.get("variants"), list):
        damaged = _damaged(comparison_id, comparison.folder,
                           reason if results is None else "results.json holds no variants")
        raise LabError(damaged.problem, damaged.fix)
    return results


def cancel_comparison(comparison_id: str) -> None:
    """Ask the running evaluation to stop after its current example."""
    try:
        (get_comparison(comparison_id).folder / "cancel").touch()
    except OSError as exc:
        raise storage_error(exc, "ask the comparison to stop") from exc
