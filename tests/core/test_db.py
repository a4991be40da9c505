"""core.db: the lab database's schema version and migrations. An older lab's lab.db (no
version, the tables as the lab made them before) opens in this lab with every row kept."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from core import db
from core.paths import history_db_path

# lab.db as the lab made it before the schema had a version (history, runs and comparisons)
OLD_LAB = """
CREATE TABLE generations (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,
    model TEXT NOT NULL, engine TEXT NOT NULL, source TEXT NOT NULL DEFAULT 'ui',
    prompt TEXT NOT NULL, params TEXT NOT NULL, output TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, latency_s REAL NOT NULL,
    tokens_per_s REAL NOT NULL, finish_reason TEXT NOT NULL);
CREATE TABLE runs (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, method TEXT NOT NULL,
    base_model TEXT NOT NULL, data TEXT NOT NULL, status TEXT NOT NULL, run_dir TEXT NOT NULL,
    metrics TEXT);
CREATE TABLE comparisons (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, task TEXT NOT NULL,
    variants TEXT NOT NULL, status TEXT NOT NULL, folder TEXT NOT NULL);
INSERT INTO generations (created_at, model, engine, source, prompt, params, output, prompt_tokens,
    completion_tokens, latency_s, tokens_per_s, finish_reason)
    VALUES ('2026-01-01T00:00:00+00:00', 'm', 'e', 'ui', 'old prompt', '{}', 'old answer', 3, 2,
            1.0, 2.0, 'stop');
INSERT INTO runs VALUES ('r1', '2026-01-01', 'lora', 'm', 'task:t', 'succeeded', '/x/r1', NULL);
INSERT INTO comparisons VALUES ('c1', '2026-01-01', 't', '["a"]', 'succeeded', '/x/c1');
"""


def _tables(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {name: conn.execute(f"SELECT * FROM {name}").fetchall() for name in names}


def test_a_new_database_gets_every_table_and_the_current_version():
    with closing(db.connect()) as conn:
        assert db.schema_version(conn) == db.SCHEMA_VERSION == len(db.MIGRATIONS)
        assert set(_tables(conn)) == {"generations", "runs", "comparisons", "ratings",
                                      "rating_imports"}


def test_an_older_labs_database_is_migrated_with_every_row_kept():
    with closing(sqlite3.connect(history_db_path())) as conn:
        conn.executescript(OLD_LAB)
        assert db.schema_version(conn) == 0
    with closing(db.connect()) as conn:
        assert db.schema_version(conn) == db.SCHEMA_VERSION
        tables = _tables(conn)
        columns = [r[1] for r in conn.execute("PRAGMA table_info(generations)")]
    assert columns[-2:] == ["time_to_first_token_s", "setup"]  # added, empty in the old row
    assert tables["generations"][0][6:8] == ("{}", "old answer")
    assert tables["generations"][0][-2:] == (None, None)
    assert tables["runs"] == [("r1", "2026-01-01", "lora", "m", "task:t", "succeeded", "/x/r1", None)]
    assert tables["comparisons"] == [("c1", "2026-01-01", "t", '["a"]', "succeeded", "/x/c1")]

    from core.history import list_generations  # the history reads it as before

    assert [e.output for e in list_generations()] == ["old answer"]


def test_a_later_migration_runs_once_on_a_database_of_the_version_before(monkeypatch):
    with closing(db.connect()) as conn, conn:
        conn.execute("INSERT INTO runs VALUES ('r1', 'c', 'lora', 'm', 'd', 'queued', '/x', NULL)")
    ran = []

    def add_notes(conn: sqlite3.Connection) -> None:
        ran.append(True)
        conn.execute("ALTER TABLE runs ADD COLUMN notes TEXT")

    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, add_notes])
    monkeypatch.setattr(db, "SCHEMA_VERSION", len(db.MIGRATIONS))
    for _ in range(2):  # a second connection finds it done
        with closing(db.connect()) as conn:
            assert db.schema_version(conn) == len(db.MIGRATIONS)
            assert conn.execute("SELECT id, notes FROM runs").fetchall() == [("r1", None)]
    assert ran == [True]


def test_a_failing_migration_leaves_the_database_as_it_was(monkeypatch):
    with closing(db.connect()):
        pass

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN half TEXT")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, broken])
    monkeypatch.setattr(db, "SCHEMA_VERSION", len(db.MIGRATIONS))
    with pytest.raises(sqlite3.OperationalError):
        db.connect()
    with closing(sqlite3.connect(history_db_path())) as conn:
        assert db.schema_version(conn) == len(db.MIGRATIONS) - 1
        assert "half" not in [r[1] for r in conn.execute("PRAGMA table_info(runs)")]


def test_a_read_only_connection_reads_without_writing(lab_home):
    with closing(db.connect()) as conn, conn:
        conn.execute("INSERT INTO comparisons VALUES ('c', 't', 'x', '[]', 'queued', '/f')")
    with closing(db.connect_read_only()) as conn:
        assert conn.execute("SELECT id FROM comparisons").fetchall() == [("c",)]
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("DELETE FROM comparisons")
