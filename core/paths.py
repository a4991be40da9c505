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
import secrets
from collections.abc import Callable
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


def _write_atomically(path: Path, write: Callable[[Path], Any], what: str | None) -> None:
    """THE atomic write of the lab: ``write`` fills a staging file of this process's own (its
    pid and a random part, so two processes, or two threads, never share one), which is then
    renamed over ``path``: a reader sees the old file or the new one whole, never half of it.
    A write killed midway leaves the old file (and perhaps a staging file nobody reads). A
    failed write (full disk, read-only folder) leaves the old file and no staging file, and
    raises a StorageError (a LabError and an OSError) saying ``what`` could not be done."""
    staging = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(staging)
        staging.replace(path)
    except OSError as exc:
        staging.unlink(missing_ok=True)
        raise storage_error(exc, what or f"write {path.name}") from exc


def write_bytes(path: Path, data: bytes, what: str | None = None) -> None:
    """``data`` written to ``path`` atomically (see ``_write_atomically``)."""
    _write_atomically(path, lambda staging: staging.write_bytes(data), what)


def write_text(path: Path, text: str, what: str | None = None) -> None:
    """``text`` written to ``path`` atomically as UTF-8 (see ``_write_atomically``)."""
    _write_atomically(path, lambda staging: staging.write_text(text, encoding="utf-8"), what)


def write_json(path: Path, data: Any, what: str | None = None) -> None:
    """``data`` written to ``path`` atomically as JSON (see ``_write_atomically``)."""
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False), what)
