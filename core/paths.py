"""Where the lab keeps its data and its model cache.

Two folders, both set by environment variables so that tests (and users with
several labs) can point them elsewhere:

- ``PROMPTTUNE_HOME``: the lab's data (history database, runs, few-shot sets).
  Default ``~/.prompttune-lab``.
- ``PROMPTTUNE_CACHE``: rebuildable files (assembled GGUF, converted
  safetensors copies of the embedded models). Default
  ``~/.cache/prompttune-lab``.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from core.errors import StorageError


def data_dir() -> Path:
    """The lab's data folder, created if missing."""
    path = Path(os.environ.get("PROMPTTUNE_HOME") or Path.home() / ".prompttune-lab")
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """The folder of rebuildable model files, created if missing."""
    default = Path.home() / ".cache" / "prompttune-lab"
    path = Path(os.environ.get("PROMPTTUNE_CACHE") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def history_db_path() -> Path:
    """The SQLite database that records every generation."""
    return data_dir() / "lab.db"


def open_database_read_only(path: Path) -> sqlite3.Connection:
    """The lab database opened for reading only, for a data folder that cannot be written (a
    normal connection must create the -shm file beside it, and fails there: "unable to open
    database file"). Raises sqlite3.OperationalError where that cannot be done safely: a
    non-empty -wal file holds changes that a read-only reader would miss."""
    wal = path.with_name(path.name + "-wal")
    if not path.is_file() or (wal.exists() and wal.stat().st_size > 0):
        raise sqlite3.OperationalError("unable to open database file")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)


def storage_error(exc: OSError, what: str) -> StorageError:
    """An OSError met while the lab reads or writes its data, as a LabError that says what
    could not be done, why (full disk, read-only folder, name too long...) and what to do.

    ``what``: the action in words, e.g. "save the few-shot set 'x'". A StorageError already
    (from a helper below) is returned as it is: it already says what and why."""
    if isinstance(exc, StorageError):
        return exc
    reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
              errno.EROFS: "the data folder is on a read-only file system",
              errno.EACCES: "the data folder is not writable", errno.EPERM: "the data folder is "
              "not writable", errno.ENAMETOOLONG: "a file name is too long"}.get(
                  exc.errno, exc.strerror or type(exc).__name__)
    where = f" ({exc.filename})" if exc.filename else ""
    fixes = {errno.ENOSPC: "Free some disk space, then try again.",
             errno.EDQUOT: "Free some disk space, then try again.",
             errno.ENAMETOOLONG: "Use a shorter name."}
    return StorageError(f"Could not {what}: {reason}{where}.",
                    fixes.get(exc.errno, "Make the data folder writable, or point PROMPTTUNE_HOME "
                                         "at a writable folder, then try again."))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically: a reader sees the old file or the new
    one whole, never half of it (the staging file is renamed over it). A failed write (full
    disk, read-only folder) leaves the old file and no staging file, and raises a StorageError (a LabError and an OSError)."""
    staging = path.with_name(path.name + ".tmp")
    try:
        staging.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        staging.replace(path)
    except OSError as exc:
        staging.unlink(missing_ok=True)
        raise storage_error(exc, f"write {path.name}") from exc
