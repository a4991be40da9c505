"""The lab's SQLite database (``$PROMPTTUNE_HOME/lab.db``): the one module that opens it.

It holds the history of generations and the indexes of training runs and comparisons (the
folders stay the truth for those two). Its schema has a version (``PRAGMA user_version``)
and an ordered list of migrations: the first connection of a newer lab brings an older lab's
database up to date, keeping every row. A database made before versions were kept reads
version 0 and holds the tables migration 1 creates (or some of them): migration 1 creates
what is missing and adds the columns added since, so it opens as made by migration 1.

To change the schema, append a migration (a function of a connection) to ``MIGRATIONS``;
never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from core.errors import LabError
from core.paths import history_db_path

TIMEOUT_S = 10  # how long a writer waits for another process's write before "locked"

GENERATIONS = """
CREATE TABLE IF NOT EXISTS generations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    model TEXT NOT NULL,
    engine TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'ui',
    prompt TEXT NOT NULL,
    params TEXT NOT NULL,
    output TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    tokens_per_s REAL NOT NULL,
    finish_reason TEXT NOT NULL,
    time_to_first_token_s REAL,
    setup TEXT
);
"""
# generations' columns added before versions were kept: an older database gains them (empty)
GENERATIONS_ADDED = {"time_to_first_token_s": "REAL", "setup": "TEXT"}
RUNS = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    method TEXT NOT NULL,
    base_model TEXT NOT NULL,
    data TEXT NOT NULL,
    status TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    metrics TEXT
);
"""
COMPARISONS = """
CREATE TABLE IF NOT EXISTS comparisons (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, task TEXT NOT NULL,
    variants TEXT NOT NULL, status TEXT NOT NULL, folder TEXT NOT NULL
);
"""


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring an older generations table up to date: its rows keep their values and read the
    new columns as empty (NULL)."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(generations)")}
    for name, kind in GENERATIONS_ADDED.items():
        if name not in present:
            conn.execute(f"ALTER TABLE generations ADD COLUMN {name} {kind}")


def _migration_1(conn: sqlite3.Connection) -> None:
    """The three tables as the lab made them before the schema had a version."""
    for statement in (GENERATIONS, RUNS, COMPARISONS):
        conn.execute(statement)
    _add_missing_columns(conn)


RATINGS = """
CREATE TABLE IF NOT EXISTS ratings (
    comparison TEXT NOT NULL, pair TEXT NOT NULL, reviewer TEXT NOT NULL,
    setup_a TEXT NOT NULL, setup_b TEXT NOT NULL, vote TEXT NOT NULL,
    source TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (comparison, pair, reviewer)
);
"""
RATING_IMPORTS = """
CREATE TABLE IF NOT EXISTS rating_imports (
    comparison TEXT NOT NULL, sha TEXT NOT NULL, reviewer TEXT NOT NULL,
    votes INTEGER NOT NULL, imported_at TEXT NOT NULL,
    PRIMARY KEY (comparison, sha)
);
"""


def _migration_2(conn: sqlite3.Connection) -> None:
    """Blind review (issue 19): people's and judges' votes on pairs of answers, one per
    reviewer and pair (a new vote replaces the old), and the ratings files imported, by their
    sha256, so the same file imported twice is counted once."""
    conn.execute(RATINGS)
    conn.execute(RATING_IMPORTS)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1, _migration_2]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's schema version: how many of ``MIGRATIONS`` it has had (0: none yet)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Run the migrations the database has not had, in order, in one transaction; a second
    process migrating at the same moment waits for the first, then finds nothing to do."""
    if schema_version(conn) >= SCHEMA_VERSION:
        return
    conn.isolation_level = None  # manage the transaction here: BEGIN IMMEDIATE takes the lock
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for number in range(schema_version(conn), SCHEMA_VERSION):
                MIGRATIONS[number](conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.isolation_level = ""


def connect(path: Path | None = None) -> sqlite3.Connection:
    """A connection to lab.db (or ``path``), migrated to the current schema. WAL lets one
    process read while another writes (two app processes, the CLI, a training run); the
    timeout makes a writer wait for another's write instead of failing at once. Raises
    sqlite3.Error or OSError (a damaged file, a read-only folder): callers say what it means."""
    conn = sqlite3.connect(path or history_db_path(), timeout=TIMEOUT_S)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def connect_read_only(path: Path | None = None) -> sqlite3.Connection:
    """lab.db opened for reading only, for a data folder that cannot be written (a normal
    connection must create the -shm file beside it, and fails there: "unable to open database
    file"). Raises sqlite3.OperationalError where that cannot be done safely: a non-empty -wal
    file holds changes that a read-only reader would miss."""
    path = path or history_db_path()
    wal = path.with_name(path.name + "-wal")
    if not path.is_file() or (wal.exists() and wal.stat().st_size > 0):
        raise sqlite3.OperationalError("unable to open database file")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)


def connect_for_reading() -> sqlite3.Connection:
    """A connection for reading: the normal one, or a read-only one where the data folder
    cannot be written. Raises sqlite3.Error or OSError as ``connect`` does."""
    try:
        return connect()
    except sqlite3.OperationalError as exc:
        if "unable to open" not in str(exc).lower():
            raise
        return connect_read_only()


_noted: set[str] = set()


def write_index(sql: str, args: tuple, what: str) -> None:
    """One write to an index (of runs, of comparisons). The job folders are the truth and the
    index a second copy: where lab.db cannot be written (damaged, read-only) the write is
    skipped with a note on stderr, once a process for each ``what``, and the lab goes on."""
    try:
        with closing(connect()) as conn, conn:
            conn.execute(sql, args)
    except (sqlite3.Error, OSError) as exc:
        if what not in _noted:
            _noted.add(what)
            print(f"warning: could not {what} in the lab's index ({history_db_path()}): {exc}; "
                  "its folder keeps it.", file=sys.stderr)


def read_index(sql: str, args: tuple = ()) -> list[tuple]:
    """The rows of one query of an index, read-only where the folder cannot be written;
    raises sqlite3.Error or OSError where lab.db cannot be read (``problem`` says what it means)."""
    with closing(connect_for_reading()) as conn:
        return conn.execute(sql, args).fetchall()


def problem(exc: Exception) -> LabError:
    """What an error opening lab.db means for the user (it cannot be written, or it is
    damaged), with its fix; the runs are listed from their folders either way."""
    try:
        where = str(history_db_path())
    except OSError:
        where = "lab.db in the lab's data folder"
    text = str(exc).lower()
    unwritable = "unable to open" in text or "readonly" in text or "read-only" in text \
        or isinstance(exc, PermissionError)
    if unwritable:
        return LabError(
            f"The lab database {where} (the index of runs, and the history) cannot be opened "
            f"for writing ({exc}). Runs are listed from their folders; runs trained into a "
            "folder of your own (--run-dir) are not.",
            "Make the data folder writable, or point PROMPTTUNE_HOME at a writable folder.")
    return LabError(
        f"The lab database {where} is damaged ({exc}): runs are listed from their folders "
        "instead of its index; runs trained into a folder of your own (--run-dir) are not, and "
        "the history of generations in it cannot be read.",
        f"Move {where} aside (e.g. rename it lab.db.damaged): the lab starts a fresh one and "
        "lists every run in runs/ again; the history it held is lost unless an SQLite repair "
        "tool (sqlite3 lab.db .recover) can save it.")
