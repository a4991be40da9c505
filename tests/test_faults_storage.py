"""Storage faults (issue 15): a read-only data folder and a full disk, for the CLI's stores (the runs
index and run folders, the history, few-shot sets).

The tests run as root here, where ``chmod -R a-w`` does not stop a single write, so both faults
are simulated with patches, in-process: ``read_only(monkeypatch, folder)`` makes every write under
``folder`` fail with ``OSError(EROFS)`` (opening for writing, creating folders and files,
renaming, deleting) and the lab database fail as SQLite does there ("unable to open database
file"); ``full_disk(monkeypatch, folder)`` lets files be created but makes every write into them
fail with ``OSError(ENOSPC)`` (so a staging file half-made is seen), and the database fail with
"database or disk is full". A real read-only bind mount and a 1 MB tmpfs gave the same errors
(checked by hand when these were written).

Each test asserts what a user notices: a named problem with its fix (never a raw OSError or
sqlite3 error), nothing written, no stray staging file, the old data byte for byte.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import sqlite3
from pathlib import Path

import pytest

from core.errors import LabError, StorageError

_REAL_OPEN, _REAL_OS_OPEN, _REAL_CONNECT = io.open, os.open, sqlite3.connect
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _under(path, folder: Path) -> bool:
    try:
        return Path(os.fsdecode(path)).resolve().is_relative_to(folder.resolve())
    except (TypeError, ValueError):
        return False


def _fail(code: int, path) -> OSError:
    return OSError(code, os.strerror(code), os.fsdecode(path))


def read_only(monkeypatch, folder: Path) -> None:
    """Every write under ``folder`` fails as on a read-only file system (EROFS)."""
    def guarded_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and _under(file, folder):
            raise _fail(errno.EROFS, file)
        return _REAL_OPEN(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & WRITE_FLAGS and _under(path, folder):
            raise _fail(errno.EROFS, path)
        return _REAL_OS_OPEN(path, flags, *args, **kwargs)

    def refuse(real):
        def call(path, *args, **kwargs):
            if _under(path, folder):
                raise _fail(errno.EROFS, path)
            return real(path, *args, **kwargs)
        return call

    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr("builtins.open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    for name in ("mkdir", "replace", "rename", "unlink", "rmdir"):
        monkeypatch.setattr(os, name, refuse(getattr(os, name)))
    _database_fails(monkeypatch, folder, "unable to open database file")


class _FullFile:
    """A file opened for writing on a full disk: it exists, and every write fails."""

    def __init__(self, handle, path) -> None:
        self._handle, self._path = handle, path

    def write(self, data):
        raise _fail(errno.ENOSPC, self._path)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._handle.close()

    def __getattr__(self, name):
        return getattr(self._handle, name)


def full_disk(monkeypatch, folder: Path) -> None:
    """Files under ``folder`` can be created, but nothing can be written into them (ENOSPC)."""
    def guarded_open(file, mode="r", *args, **kwargs):
        handle = _REAL_OPEN(file, mode, *args, **kwargs)
        if any(c in mode for c in "wax+") and _under(file, folder):
            return _FullFile(handle, file)
        return handle

    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr("builtins.open", guarded_open)
    _database_fails(monkeypatch, folder, "database or disk is full")


def _database_fails(monkeypatch, folder: Path, message: str) -> None:
    def connect(database, *args, **kwargs):
        if _under(database, folder):
            raise sqlite3.OperationalError(message)
        return _REAL_CONNECT(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path (stray files show up too)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- few-shot sets ------------------------------------------------------------------------------


def _a_set(name: str = "keep", label: str = "POSITIVE"):
    from core.fewshot import FewShotSet
    from core.prompting import Example

    return FewShotSet(name, (Example("Great kettle!", label), Example("It leaks.", "NEGATIVE")),
                      labels=(label, "NEGATIVE"))


@pytest.mark.parametrize("fault, reason", [(full_disk, "the disk is full"),
                                           (read_only, "read-only")])
def test_saving_a_few_shot_set_on_a_failing_disk_is_named_and_keeps_the_old_set(
        lab_home, fault, reason):
    from core.fewshot import load_set, save_set

    save_set(_a_set())
    before = snapshot(lab_home)
    with pytest.MonkeyPatch.context() as patch, pytest.raises(LabError) as caught:
        fault(patch, lab_home)
        save_set(_a_set(label="GOOD"))
    assert isinstance(caught.value, StorageError)
    assert reason in caught.value.problem and "keep" in caught.value.problem
    assert caught.value.fix
    assert snapshot(lab_home) == before, "a stray staging file or a changed set was left"
    assert load_set("keep").labels == ("POSITIVE", "NEGATIVE")


def test_deleting_a_few_shot_set_on_a_read_only_folder_is_named(lab_home):
    from core.fewshot import delete_set, list_sets, save_set

    save_set(_a_set())
    with pytest.MonkeyPatch.context() as patch, pytest.raises(StorageError, match="read-only"):
        read_only(patch, lab_home)
        delete_set("keep")
    assert list_sets() == ["keep"]


def test_few_shot_sets_list_on_a_read_only_folder_that_has_none(lab_home):
    """A data folder without a fewshot/ folder yet, made read-only: nothing to list, no error."""
    from core.fewshot import list_sets

    lab_home.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        read_only(patch, lab_home)
        assert list_sets() == []


# -- runs ---------------------------------------------------------------------------------------


def test_starting_a_run_on_a_read_only_folder_is_named_and_leaves_nothing(lab_home,
                                                                          tiny_model_dir):
    from core import runs
    from core.train_config import TrainConfig

    runs.runs_dir()
    before = snapshot(lab_home)
    with pytest.MonkeyPatch.context() as patch, pytest.raises(StorageError) as caught:
        read_only(patch, lab_home)
        runs.start_run(TrainConfig(model=str(tiny_model_dir), task="review-sentiment"))
    assert "read-only" in caught.value.problem and caught.value.fix
    assert snapshot(lab_home) == before
    assert not any((lab_home / "runs").iterdir())


def test_starting_a_run_on_a_full_disk_removes_the_half_made_folder(lab_home, tiny_model_dir):
    from core import runs
    from core.train_config import TrainConfig

    runs.runs_dir()
    with pytest.MonkeyPatch.context() as patch, pytest.raises(StorageError, match="disk is full"):
        full_disk(patch, lab_home)
        runs.create_run(TrainConfig(model=str(tiny_model_dir), task="review-sentiment"))
    assert not any((lab_home / "runs").iterdir()), "a half-made run folder was left"
    assert runs.list_runs() == []


def test_runs_list_on_a_read_only_folder_with_a_dead_run(lab_home, tiny_model_dir, capsys):
    """A run whose process died reads crashed, even where that cannot be written down."""
    from core import runs
    from core.cli import main
    from core.train_config import TrainConfig

    run_dir = runs.create_run(TrainConfig(model=str(tiny_model_dir), task="review-sentiment"))
    runs.write_status(run_dir, status="running", pid=2**22 + 1)  # no such process
    status = (run_dir / "status.json").read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        read_only(patch, lab_home)
        assert main(["runs", "--json"]) == 0
    out, err = capsys.readouterr()
    listed = json.loads(out)
    assert [(r["id"], r["status"]) for r in listed] == [(run_dir.name, "crashed")]
    assert "error" not in err  # the index is read read-only: the list is whole, no warning
    assert (run_dir / "status.json").read_bytes() == status


# -- history --------------------------------------------------------------------------------------


def test_history_reads_on_a_read_only_folder_and_a_save_says_why_not(lab_home, capsys):
    """Reading needs no write: the history opens read-only where lab.db cannot be written."""
    from core.cli import main
    from core.config import GenerationParams
    from core.generation import Completion
    from core.history import list_generations, record_generation

    completion = Completion(" fox jumps", 4, 3, 0.2, "length", "transformers", "tiny")
    record_generation("The quick brown", GenerationParams(max_new_tokens=4), completion)
    before = snapshot(lab_home)
    with pytest.MonkeyPatch.context() as patch:
        read_only(patch, lab_home)
        assert main(["history"]) == 0
        assert [e.output for e in list_generations()] == [" fox jumps"]
        with pytest.raises(LabError) as caught:
            record_generation("again", GenerationParams(max_new_tokens=4), completion)
    assert "' fox jumps'" in capsys.readouterr().out
    assert "writable" in caught.value.fix and "move it aside" not in caught.value.fix
    assert snapshot(lab_home) == before
