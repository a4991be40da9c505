"""Background jobs: work that runs in a process of its own and survives a closed tab or an app
restart. Training runs (``core.runs``) and comparisons (``core.compare_runs``) are two kinds
of job; a new kind (sweeps) uses the same functions.

A job is a folder holding:

- ``status.json``: ``{"status": queued | running | succeeded | cancelled | failed | crashed,
  "pid", "pid_started", "problem", "fix", ...}``, changed only by ``write_status``: under an
  exclusive lock on ``status.lock`` (the app and the worker both write it: neither undoes the
  other's change) and atomically (``core.paths.write_json``), so a reader never sees half;
- ``cancel``: present once a cancel was asked; the worker polls it (``cancel_requested``);
- append-only JSON lines (progress, events: ``append_line`` / ``read_lines``), the log
  (``log.txt``, the process's output) and a result file, each kind naming its own.

One spawn (``spawn``: this interpreter, ``python -m core ARGS``, the lab's environment,
detached) and one liveness check (``settle``: pid and process start time, with a start-up
grace). A job created but never spawned (the app stopped in between) or whose process died
reads "crashed" with the reason, and no longer counts as live: it holds up no queue.
A folder whose status cannot be read is reported (``Damaged``), never fatal to the others.

A new kind needs: a folder of its own per job (``make_folder``) with its config and a queued
status; a ``python -m core`` command whose process calls ``started``, polls
``cancel_requested``, appends its lines, writes its result, then its final status; and a
reader that builds its typed object from ``settle`` (a ``Damaged`` one listed as damaged).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.errors import LabError
from core.paths import cache_dir, data_dir, storage_error, write_json

ROOT = Path(__file__).resolve().parent.parent
LIVE = ("queued", "running")
FINAL = ("succeeded", "cancelled", "failed", "crashed")
STATES = LIVE + FINAL
SPAWN_GRACE_S = 30.0  # a live job with no process recorded this long after its last status never started
NEVER_STARTED = "It never started: the lab stopped before it could start it."
POLL_S = 0.5  # how often a waiting worker looks again
STOPPED = ("It stopped unexpectedly: its process ended without recording a result (killed, "
           "out of memory, or the machine restarted).")


class Damaged(Exception):
    """A job file that cannot be read; the message names the file and what is wrong with it."""


def now() -> str:
    """The time now, as status files record it (ISO 8601, UTC, to the second)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def make_folder(root: Path, name: Callable[[], str], what: str) -> Path:
    """A new job folder under ``root``, made exclusively, named by ``name()`` (which should
    hold a random part): two jobs made in the same second never share one."""
    for _ in range(100):
        folder = root / name()
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise storage_error(exc, f"create the {what} folder") from exc
    raise LabError(f"Could not find a free name for a {what} folder.", "Try again.")


# -- status -------------------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    """A JSON file's content; Damaged, naming the file and what is wrong, when unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Damaged(f"{path.name} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        what = "empty" if path.stat().st_size == 0 else "not valid JSON (cut short or overwritten)"
        raise Damaged(f"{path.name} is {what}") from None
    except OSError as exc:
        raise Damaged(f"{path.name} cannot be read ({exc.strerror})") from None


def read_status(folder: Path) -> dict[str, Any]:
    """The job's status.json; Damaged when it is missing, unreadable or names no known state."""
    status = read_json(folder / "status.json")
    if not isinstance(status, dict) or status.get("status") not in STATES:
        raise Damaged("status.json holds no known status")
    pid, started = status.get("pid"), status.get("pid_started")
    if not (pid is None or type(pid) is int) or not (started is None or type(started) in (int, float)):
        raise Damaged("status.json names its process with something other than a number")
    return status


def peek_status(folder: Path) -> dict[str, Any]:
    """The status as it stands, or {} where it cannot be read (for a worker's own loops)."""
    try:
        return read_status(folder)
    except Damaged:
        return {}


def write_status(folder: Path, unless: Iterable[str] = (), what: str | None = None,
                 **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into status.json unless its status is one of ``unless``; return the
    status as it now stands. The read-merge-write is whole under the job's lock; the write is
    atomic. A failed write leaves the old status and raises a StorageError."""
    try:
        with open(folder / "status.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            status = peek_status(folder)
            if status.get("status") in tuple(unless):
                return status
            status = {**status, **changes, "updated_at": now()}
            write_json(folder / "status.json", status)
            for stale in folder.glob("status.json.*.tmp"):  # every writer holds the lock: one
                stale.unlink(missing_ok=True)                # here now was left by a killed one
    except OSError as exc:
        raise storage_error(exc, what or f"record the status of {folder.name}") from exc
    return status


# -- processes ----------------------------------------------------------------------------------


def create_time(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds); None if there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


def process_alive(pid: int, started: float | None = None) -> bool:
    """Whether ``pid`` runs: not ended, not a zombie, and (given ``started``) not a new
    process that reuses the pid of one that ended."""
    import psutil

    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it was our child and has ended
    except (ChildProcessError, OSError):
        pass
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 1.0
    except (psutil.Error, ValueError):
        return False


def gone(folder: Path, status: dict[str, Any]) -> str | None:
    """Why a job whose status is live is not: its process has ended (STOPPED), or none was
    recorded within the start-up grace (NEVER_STARTED). None while it lives or may still be
    starting, and for a job that is not live."""
    if status.get("status") not in LIVE:
        return None
    if status.get("pid"):
        return None if process_alive(status["pid"], status.get("pid_started")) else STOPPED
    try:
        age = time.time() - (folder / "status.json").stat().st_mtime
    except OSError:
        return None
    return NEVER_STARTED if age > SPAWN_GRACE_S else None


def is_live(folder: Path, status: dict[str, Any]) -> bool:
    """Queued or running, with a process that lives (or may still be starting)."""
    return status.get("status") in LIVE and gone(folder, status) is None


def settle(folder: Path, fix: str) -> dict[str, Any]:
    """The job's status, with a live one whose process is gone recorded as crashed (the
    reason in ``problem``, ``fix`` as its fix). Where the folder cannot be written, it is
    shown crashed all the same and recorded next time. Damaged when status.json is unreadable."""
    status = read_status(folder)
    reason = gone(folder, status)
    if reason is None:
        return status
    crashed = dict(status="crashed", finished_at=now(), problem=reason, fix=fix)
    try:  # it may have finished meanwhile: then its own final status stands
        return write_status(folder, unless=FINAL, **crashed)
    except OSError:
        return {**status, **crashed}


def lab_environment() -> dict[str, str]:
    """The environment a job's process gets: this one, with the lab on the module path and
    the lab's data and cache folders named, so it works where this process works."""
    path = [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), "PYTHONUNBUFFERED": "1",
            "PROMPTTUNE_HOME": str(data_dir()), "PROMPTTUNE_CACHE": str(cache_dir())}


def spawn(folder: Path, args: list[str], log: str = "log.txt") -> int:
    """Start ``python -m core ARGS`` for the job in ``folder``, detached (its own session:
    it outlives the app), its output appended to ``log``; record its pid and start time
    (unless it already ended: a cancel before it started). Returns the pid. OSError (a log
    that cannot be opened) means nothing was started."""
    with open(folder / log, "ab") as out:  # the child keeps its own copy of the handle
        process = subprocess.Popen([sys.executable, "-m", "core", *args], cwd=ROOT,
                                   env=lab_environment(), stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    write_status(folder, unless=FINAL, pid=process.pid, pid_started=create_time(process.pid))
    return process.pid


def started(folder: Path, state: str, **changes: Any) -> dict[str, Any]:
    """What the job's process writes first: ``state`` with its own pid and start time, unless
    the job was cancelled before it got here (then the cancelled status, unchanged)."""
    me = os.getpid()
    return write_status(folder, unless=("cancelled",), status=state, pid=me,
                        pid_started=create_time(me), **changes)


def cancel_requested(folder: Path) -> bool:
    """Whether a cancel was asked (the worker polls this)."""
    return (folder / "cancel").exists()


def request_cancel(folder: Path, what: str) -> None:
    """Ask the job's process to stop (it polls ``cancel_requested``)."""
    try:
        (folder / "cancel").touch()
    except OSError as exc:
        raise storage_error(exc, what) from exc


# -- one at a time: the queue ----------------------------------------------------------------


def queue_order(folders: Iterable[Path]) -> list[str]:
    """The live queued jobs among ``folders`` by name, in the order they were queued
    (``queued_at``); a job that never started or whose process died is not in it."""
    queued = []
    for folder in folders:
        status = peek_status(folder)
        if status.get("status") == "queued" and is_live(folder, status):
            queued.append((status.get("queued_at", 0), folder.name))
    return [name for _, name in sorted(queued)]


def _first_in_line(folder: Path, folders: Iterable[Path]) -> bool:
    mine = peek_status(folder).get("queued_at", 0)
    return not any(other != folder and (status := peek_status(other)).get("status") == "queued"
                   and status.get("queued_at", 0) < mine and is_live(other, status)
                   for other in folders)


def wait_turn(folder: Path, folders: Callable[[], Iterable[Path]], lock_path: Path):
    """Hold the exclusive lock at ``lock_path`` (returned open: closing it releases it) once
    no live job of ``folders()`` queued earlier waits before this one; None if a cancel was
    asked meanwhile. A lock holder that dies releases it with its process."""
    lock = open(lock_path, "a+")
    while True:
        if cancel_requested(folder):
            lock.close()
            return None
        if _first_in_line(folder, folders()):
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return lock
            except BlockingIOError:
                pass
        time.sleep(POLL_S)


# -- lines: progress and events -----------------------------------------------------------------


def append_line(path: Path, line: dict[str, Any]) -> None:
    """Append one JSON line in a single write. After a line torn by a kill or a full disk,
    start on a new line; a line that cannot be written is skipped with a note in the log
    (lines are for display; the result is what counts)."""
    data = (json.dumps(line) + "\n").encode()
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        print(f"note: a line of {path.name} was not saved ({exc})", flush=True)


def read_lines(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """Complete lines written after byte ``offset``, and the offset to read from next (a line
    still being written waits for the next poll; a torn one is skipped)."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    lines = []
    for raw in chunk[:end].splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue  # torn by a kill mid-append: the next line starts afresh
    return [line for line in lines if isinstance(line, dict)], offset + end


def last_line(path: Path, valid: Callable[[dict], bool]) -> dict[str, Any]:
    """The last whole line that ``valid`` accepts; {} when there is none."""
    try:
        lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise Damaged(f"{path.name} cannot be read ({exc.strerror})") from None
    for raw in reversed(lines):
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and valid(line):
            return line
    return {}


def random_part() -> str:
    """A short random part for folder names."""
    return secrets.token_hex(3)
