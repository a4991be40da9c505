"""Every generation the lab makes, kept in SQLite under the lab's data folder.

One row per answer: the exact prompt, the settings, the text, the figures and
the time. The database lives at ``$PROMPTTUNE_HOME/lab.db``, so a restart of
the app loses nothing and tests use a folder of their own.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core import db
from core.config import GenerationParams
from core.errors import LabError
from core.generation import Completion, decode_speed, prompt_speed
from core.paths import history_db_path

# columns added after the first release (migration 1 of core.db adds them to an older table)
ADDED_COLUMNS = db.GENERATIONS_ADDED
COLUMNS = ("id", "created_at", "model", "engine", "source", "prompt", "params", "output",
           "prompt_tokens", "completion_tokens", "latency_s", "tokens_per_s", "finish_reason",
           *ADDED_COLUMNS)


@dataclass(frozen=True)
class HistoryEntry:
    """One saved generation."""

    id: int
    created_at: str
    model: str
    engine: str
    source: str
    prompt: str
    params: dict[str, Any]
    output: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    tokens_per_s: float  # answer tokens per second of the whole latency, prompt included
    finish_reason: str
    time_to_first_token_s: float | None = None  # None in rows saved before it was kept
    # how the answer was asked for (technique, task, the page's fields, recipe, model spec);
    # None for answers saved before it was kept, or by the CLI
    setup: dict[str, Any] | None = None

    @property
    def generation_params(self) -> GenerationParams:
        return GenerationParams.from_dict(self.params)

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Decoding speed (see ``core.generation.decode_speed``); None where unknown."""
        return decode_speed(self.completion_tokens, self.latency_s, self.time_to_first_token_s)

    @property
    def prompt_tokens_per_s(self) -> float | None:
        """Prompt-processing speed (see ``core.generation.prompt_speed``); None where unknown."""
        return prompt_speed(self.prompt_tokens, self.time_to_first_token_s)


def _connect(path: Path | None = None) -> sqlite3.Connection:
    return db.connect(path)


@contextmanager
def _database(action: str, write: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection for one action; a failing database (disk full, read-only, locked by
    another process) becomes a LabError that names the file and what to do, never a raw
    sqlite3 traceback. ``write`` wraps the action in a transaction."""
    try:
        with closing(_connect_for(write)) as conn:
            if write:
                with conn:
                    yield conn
            else:
                yield conn
    except (sqlite3.Error, OSError) as exc:
        raise _history_error(action, exc) from exc


def _connect_for(write: bool) -> sqlite3.Connection:
    """A connection; for reading, one that also works in a read-only data folder."""
    try:
        return _connect()
    except sqlite3.OperationalError as exc:
        if write or "unable to open" not in str(exc).lower():
            raise
        return db.connect_read_only()


def _history_error(action: str, exc: Exception) -> LabError:
    """The LabError for a database that failed ``action``, with the fix its cause calls for."""
    try:
        where = str(history_db_path())
    except OSError:  # the data folder itself cannot be created
        where = "the lab's data folder (PROMPTTUNE_HOME)"
    text = str(exc).lower()
    if "full" in text or getattr(exc, "errno", None) == 28:
        fix = f"Free some disk space on the drive that holds {where}, then try again."
    elif "locked" in text or "busy" in text:
        fix = ("Another program (a second lab, the CLI, an SQLite browser) holds the database: "
               "close it or wait until it finishes, then try again.")
    elif "readonly" in text or "read-only" in text or "unable to open" in text \
            or isinstance(exc, PermissionError):
        fix = (f"Make {where} and its folder writable, or set PROMPTTUNE_HOME to a writable "
               "folder and restart the lab.")
    else:
        fix = (f"Check that {where} is a readable, writable SQLite file (move it aside to start "
               "a fresh history), or set PROMPTTUNE_HOME to another folder.")
    return LabError(f"Could not {action} the history database: {exc}", fix)


def record_generation(prompt: str, params: GenerationParams, completion: Completion,
                      source: str = "ui", setup: dict[str, Any] | None = None) -> int:
    """Save one generation; return its id.

    An unseeded sample is saved with the seed the engine drew for it, so that the
    saved settings redo exactly this answer. ``setup`` (JSON-able) says how it was asked
    for, so that the Playground can reopen it as it was.
    """
    settings = params.to_dict()
    if params.seed is None and completion.seed is not None:
        settings["seed"] = completion.seed
    row = (datetime.now(timezone.utc).isoformat(timespec="seconds"), completion.model,
           completion.engine, source, prompt, json.dumps(settings), completion.text,
           completion.prompt_tokens, completion.completion_tokens, completion.latency_s,
           completion.tokens_per_s, completion.finish_reason, completion.time_to_first_token_s,
           json.dumps(setup, ensure_ascii=False) if setup is not None else None)
    with _database("save the answer in", write=True) as conn:
        cursor = conn.execute(f"INSERT INTO generations ({', '.join(COLUMNS[1:])}) "
                              f"VALUES ({', '.join('?' * len(row))})", row)
        return int(cursor.lastrowid)


def list_generations(limit: int = 200, search: str = "") -> list[HistoryEntry]:
    """Newest first; ``search`` filters on prompt or output text (as typed, any case)."""
    query = f"SELECT {', '.join(COLUMNS)} FROM generations"
    args: tuple = ()
    if search:
        # escaped, so that "100%" or "snake_case" match themselves and not every row
        query += r" WHERE prompt LIKE ? ESCAPE '\' OR output LIKE ? ESCAPE '\'"
        pattern = f"%{_escape_like(search)}%"
        args = (pattern, pattern)
    query += " ORDER BY id DESC LIMIT ?"
    with _database("read") as conn:
        rows = conn.execute(query, (*args, limit)).fetchall()
    return [_entry(row) for row in rows]


def _escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern that uses ``ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_generation(entry_id: int) -> HistoryEntry | None:
    with _database("read") as conn:
        row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM generations WHERE id = ?",
                           (entry_id,)).fetchone()
    return _entry(row) if row else None


def delete_generation(entry_id: int) -> bool:
    """Delete one entry; say whether it existed."""
    with _database("delete an entry from", write=True) as conn:
        return conn.execute("DELETE FROM generations WHERE id = ?", (entry_id,)).rowcount > 0


def count_generations() -> int:
    with _database("read") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM generations").fetchone()[0])


def export_history(entries: list[HistoryEntry], fmt: str) -> str:
    """The entries as JSON (a list of objects) or CSV (params as a JSON column)."""
    records = [entry.__dict__ for entry in entries]
    if fmt == "json":
        return json.dumps(records, indent=2, ensure_ascii=False)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
        writer.writeheader()
        for record in records:
            writer.writerow({**record, "params": json.dumps(record["params"]),
                             "setup": json.dumps(record["setup"]) if record["setup"] else ""})
        return buffer.getvalue()
    raise ValueError(f"Unknown export format {fmt!r}; use 'json' or 'csv'.")


def _entry(row: tuple) -> HistoryEntry:
    data = dict(zip(COLUMNS, row))
    data["params"] = json.loads(data["params"])
    try:
        data["setup"] = json.loads(data["setup"]) if data["setup"] else None
    except ValueError:  # written by hand or by another tool: reopen as if it had none
        data["setup"] = None
    return HistoryEntry(**data)
