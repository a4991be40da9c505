"""Blind-review votes in the lab's database (tables ``ratings`` and ``rating_imports``).

Unlike the indexes of runs and comparisons, these rows are the only copy of a reviewer's work:
a vote that cannot be saved is an error the person sees (StorageError), never a note on stderr.
Each write is one transaction begun IMMEDIATE, so two app processes (two reviewers on two tabs
of two servers, or the app and the CLI) wait for each other instead of interleaving: a ratings
file imported by both at the same moment is counted once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from core import db
from core.errors import ConfigError, LabError, StorageError
from core.review import VOTE_WORDS, VOTES, Pair

SOURCES = ("lab", "file", "judge")
JUDGE_PREFIX = "judge: "
MAX_NAME = 60


@dataclass(frozen=True)
class Rating:
    """One reviewer's vote on one pair; ``setup_a``/``setup_b`` are the setups shown as A/B."""

    pair: str
    reviewer: str
    setup_a: str
    setup_b: str
    vote: str
    source: str
    created_at: str

    @property
    def is_judge(self) -> bool:
        return self.reviewer.startswith(JUDGE_PREFIX)


@dataclass(frozen=True)
class Imported:
    """A ratings file's record: how many votes it brought, by whom, when."""

    reviewer: str
    votes: int
    imported_at: str


def now() -> str:
    """The time of a vote, UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_reviewer(name: Any, source: str = "lab") -> str:
    """The reviewer's name, stripped: 1-60 printable characters; a judge's name starts with
    "judge: " and a person's may not (it would be counted as a judge's)."""
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise ConfigError("The reviewer's name is empty.",
                          "Type your name (or initials) so your votes are kept apart from others'.")
    if len(text) > MAX_NAME or not text.isprintable():
        raise ConfigError(f"The reviewer's name {text[:80]!r} is not usable: it must be 1-{MAX_NAME} "
                          "printable characters (no line breaks or tabs).",
                          "Use a short name, such as your first name or initials.")
    if (source == "judge") != text.startswith(JUDGE_PREFIX):
        raise ConfigError(f"The reviewer's name {text!r} "
                          + ("must start with 'judge: '." if source == "judge"
                             else "starts with 'judge: ', which marks a model's verdicts."),
                          "A person's name may not start with 'judge: '; a judge's must.")
    return text


def check_vote(vote: Any) -> str:
    """The vote, one of ``VOTES``; a ConfigError naming the four otherwise."""
    if vote not in VOTES:
        words = ", ".join(f"{v!r} ({VOTE_WORDS[v]})" for v in VOTES)
        raise ConfigError(f"{vote!r} is not a vote.", f"Vote one of {words}.")
    return vote


def _unsaved(exc: BaseException, what: str) -> StorageError:
    return StorageError(f"Could not {what} in the lab database ({exc}); nothing was changed.",
                        "Make the lab's data folder writable (or point PROMPTTUNE_HOME at a "
                        "writable one), then try again; if lab.db is damaged, move it aside.")


@contextmanager
def _transaction(what: str) -> Iterator[sqlite3.Connection]:
    """One write transaction that holds the database's write lock from its start (BEGIN
    IMMEDIATE), so a check and the writes it decides are atomic across processes."""
    try:
        with closing(db.connect()) as conn:
            conn.isolation_level = None
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    except (sqlite3.Error, OSError) as exc:
        if isinstance(exc, LabError):
            raise
        raise _unsaved(exc, what) from exc


def _read(sql: str, args: tuple) -> list[tuple]:
    """Rows of a query; none where lab.db is an older lab's opened read-only (a folder that
    cannot be written is not migrated, so it has no review tables: it has no votes either)."""
    try:
        return db.read_index(sql, args)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise _unread(exc) from exc
    except (sqlite3.Error, OSError) as exc:
        raise _unread(exc) from exc


def _unread(exc: BaseException) -> LabError:
    return LabError(f"Could not read the reviews from the lab database ({exc}).",
                    "Make the lab's data folder readable; if lab.db is damaged, move it aside "
                    "(its reviews are lost unless 'sqlite3 lab.db .recover' saves them).")


INSERT = ("INSERT OR REPLACE INTO ratings (comparison, pair, reviewer, setup_a, setup_b, vote, "
          "source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def add_vote(comparison: str, pair: Pair, reviewer: str, vote: str, source: str = "lab",
             at: str | None = None) -> Rating:
    """Save a vote; the same reviewer's earlier vote on the same pair is replaced."""
    if source not in SOURCES:
        raise ConfigError(f"{source!r} is not a source of votes.", f"Use one of {SOURCES}.")
    rating = Rating(pair.id, check_reviewer(reviewer, source), pair.setup_a, pair.setup_b,
                    check_vote(vote), source, at or now())
    with _transaction("save the vote") as conn:
        conn.execute(INSERT, (comparison, *_row(rating)))
    return rating


def _row(r: Rating) -> tuple:
    return (r.pair, r.reviewer, r.setup_a, r.setup_b, r.vote, r.source, r.created_at)


def remove_vote(comparison: str, pair_id: str, reviewer: str) -> bool:
    """Undo a reviewer's vote on a pair; False when there was none."""
    with _transaction("remove the vote") as conn:
        cursor = conn.execute("DELETE FROM ratings WHERE comparison = ? AND pair = ? AND reviewer = ?",
                              (comparison, pair_id, reviewer.strip()))
    return cursor.rowcount > 0


def ratings(comparison: str) -> list[Rating]:
    """Every vote on the comparison, people's and judges', oldest first."""
    rows = _read("SELECT pair, reviewer, setup_a, setup_b, vote, source, created_at FROM ratings "
                 "WHERE comparison = ? ORDER BY created_at, reviewer, pair", (comparison,))
    return [Rating(*row) for row in rows]


def reviewers(comparison: str) -> dict[str, int]:
    """Each reviewer (judges included) and how many pairs they rated, by name."""
    rows = _read("SELECT reviewer, COUNT(*) FROM ratings WHERE comparison = ? GROUP BY reviewer "
                 "ORDER BY reviewer", (comparison,))
    return {name: int(count) for name, count in rows}


def rated_pairs(comparison: str, reviewer: str) -> set[str]:
    """The ids of the pairs this reviewer has rated (to resume where they stopped)."""
    rows = _read("SELECT pair FROM ratings WHERE comparison = ? AND reviewer = ?",
                 (comparison, reviewer.strip()))
    return {row[0] for row in rows}


def imported(comparison: str, sha: str) -> Imported | None:
    """The record of a ratings file (by the sha256 of its bytes) imported into the comparison."""
    rows = _read("SELECT reviewer, votes, imported_at FROM rating_imports WHERE comparison = ? "
                 "AND sha = ?", (comparison, sha))
    return Imported(rows[0][0], int(rows[0][1]), rows[0][2]) if rows else None


def import_votes(comparison: str, sha: str, votes: list[Rating],
                 reviewer: str) -> tuple[Imported, bool]:
    """Save a ratings file's votes and its record in one transaction, unless a file with the same
    sha256 is already recorded (checked inside the transaction, so two processes importing it at
    once count it once). Returns the record and whether it was new."""
    with _transaction("import the ratings file") as conn:
        earlier = conn.execute("SELECT reviewer, votes, imported_at FROM rating_imports WHERE "
                               "comparison = ? AND sha = ?", (comparison, sha)).fetchone()
        if earlier:
            return Imported(earlier[0], int(earlier[1]), earlier[2]), False
        conn.executemany(INSERT, [(comparison, *_row(r)) for r in votes])
        record = Imported(reviewer, len(votes), now())
        conn.execute("INSERT INTO rating_imports VALUES (?, ?, ?, ?, ?)",
                     (comparison, sha, reviewer, record.votes, record.imported_at))
    return record, True

