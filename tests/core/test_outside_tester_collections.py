"""What the outside tester broke in collections (issue 15), as regression tests that failed on the
code before the fix: a build that deleted other collections whose names looked like its staging
folders, two documents with one file name of which one silently vanished, names and k values that
ended in raw OSError/ValueError/AssertionError, and a full or read-only data folder that left a
raw OSError and a stray ``kb.building/``.

The tests run as root here, so ``chmod a-w`` would not stop a write: a full disk and a read-only
folder are simulated by patching the write itself (``open`` for writing, ``os.rename`` and
``os.replace``) to raise OSError(ENOSPC) / OSError(EROFS), as the kernel would.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ConfigError, LabError
from core.knowledge import (ChunkSettings, build_collection, collection_info, delete_collection,
                            document_texts, list_collections, read_document, search)
from core.paths import data_dir
from core.rag import RagConfig
from tests.config_properties import check_every_field

ROOT = Path(__file__).resolve().parents[2]
KETTLE = {"kettles.md": "# Kettles\n\nThe Ember kettle boils a litre in 3 minutes. It costs 49 euros."}


def _files(home: Path) -> dict[str, str]:
    """sha256 of every file under the data folder, by relative path."""
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.rglob("*")) if p.is_file()}


def _folders(home: Path) -> set[str]:
    return {str(p.relative_to(home)) for p in home.rglob("*") if p.is_dir()}


# -- 1. staging folders never share the namespace of user names ------------------------------


ALLOWED = ["x", "x.old", "x.building", "x.old.old", "x.building.old", "x.tmp", "x-1", "x_1",
           "x 1", "X", "a.b.c", "9", "x" * 64, "y" + "." * 63, "z-" * 31 + "zz"]


def test_every_name_the_checks_allow_is_its_own_collection():
    for name in ALLOWED:
        build_collection(name, {f"{name[:20]}.md": f"# {name}\n\nThis is the collection {name}."})
    build_collection("x", {"again.md": "# x\n\nThe collection x, built a second time."})
    build_collection("x.old", {"again.md": "# x.old\n\nx.old, built a second time."})
    assert list_collections() == sorted(ALLOWED)
    for name in ALLOWED:
        texts = document_texts(name)
        if name in ("x", "x.old"):
            assert list(texts) == ["again.md"] and "second time" in texts["again.md"]
        else:
            assert texts == {f"{name[:20]}.md": f"# {name}\n\nThis is the collection {name}."}
            assert collection_info(name).documents == (f"{name[:20]}.md",)


def test_a_build_killed_before_it_finished_is_never_listed_and_the_next_build_works():
    build_collection("kb", KETTLE)
    before = _files(data_dir())
    # a second process builds "kb" again and is killed (os._exit) the moment it would swap the
    # new collection in: everything is written, nothing is in place
    script = ("import os, core.knowledge as k\n"
              "os.rename = os.replace = lambda *a, **kw: os._exit(9)\n"
              "k.build_collection('kb', {'mugs.md': '# Mugs\\n\\nOur mugs hold 350 ml.'})\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=os.environ.copy(),
                          capture_output=True, timeout=300)
    assert done.returncode == 9, done.stderr.decode()[-2000:]
    assert list_collections() == ["kb"]
    assert {k: v for k, v in _files(data_dir()).items() if k.startswith("collections/kb/")} == \
        {k: v for k, v in before.items() if k.startswith("collections/kb/")}
    build_collection("kb", {"mugs.md": "# Mugs\n\nOur mugs hold 350 ml."})
    assert list_collections() == ["kb"] and collection_info("kb").documents == ("mugs.md",)
    # the dead build's staging is cleared by the next build: only the collection's files remain
    assert all(k.startswith("collections/kb/") for k in _files(data_dir())), _files(data_dir())


# -- 2. one file name, one document -----------------------------------------------------------


def test_two_documents_with_one_file_name_are_refused_by_name():
    build_collection("kb", KETTLE)
    before = _files(data_dir())
    with pytest.raises(ConfigError) as caught:
        build_collection("kb", {"a/dup.md": "# A\n\nThe first text.", "b/dup.md": "# B\n\nThe second."})
    assert "dup.md" in caught.value.problem and "a/dup.md" in caught.value.problem
    assert "Rename" in caught.value.fix
    assert _files(data_dir()) == before


def test_a_document_is_stored_and_listed_under_its_file_name():
    info = build_collection("kb", {"folder/kettles.md": KETTLE["kettles.md"]})
    assert info.documents == ("kettles.md",) and list(document_texts("kb")) == ["kettles.md"]
    assert search("kb", "What does the kettle cost?", 1)[0].chunk.doc == "kettles.md"


# -- 3. names and k -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, problem", [
    ("n" * 297 + ".md", "too long"),
    ("a\x00b.md", "control character"),
    ("tab\there.md", "control character"),
])
def test_a_document_name_the_disk_cannot_take_is_named_with_a_fix(name, problem):
    build_collection("kb", KETTLE)
    before = _files(data_dir())
    for attempt in (lambda: build_collection("kb", {name: "# Hi\n\nSome text."}),
                    lambda: read_document(b"# Hi\n\nSome text.", name)):
        with pytest.raises(LabError) as caught:
            attempt()
        assert problem in caught.value.problem and caught.value.fix
        assert len(caught.value.problem) < 300  # the name is shortened, not repeated in full
    assert _files(data_dir()) == before


@pytest.mark.parametrize("name", ["c" * 300, "a\x00b", "", "   ", "../up", ".hidden"])
def test_a_collection_name_that_cannot_be_a_folder_is_named(name):
    with pytest.raises(ConfigError, match="not a usable collection name"):
        build_collection(name, KETTLE)
    assert list_collections() == []


@pytest.mark.parametrize("k", [0, -1, 2.5, "3", True, None])
def test_search_refuses_a_k_that_is_not_a_positive_whole_number(k):
    build_collection("kb", KETTLE)
    with pytest.raises(ConfigError, match="at least 1"):
        search("kb", "kettle", k)


@pytest.mark.parametrize("cls, valid", [(RagConfig, {"collection": "kb"}), (ChunkSettings, {})],
                         ids=["RagConfig", "ChunkSettings"])
def test_every_field_of_the_collection_configs_is_checked_by_name(cls, valid):
    check_every_field(cls, valid)


def test_rag_config_ranges_are_named():
    with pytest.raises(ConfigError, match="top_k|top-k"):
        RagConfig("kb", top_k=0)
    with pytest.raises(ConfigError, match="passage"):
        RagConfig("kb", passage_chars=-5)


# -- 4. a full disk or a read-only data folder ---------------------------------------------------


def _failing_writes(monkeypatch, code: int, fail_at: int) -> list[str]:
    """From the ``fail_at``-th file opened for writing on, opening for writing raises OSError
    ``code``, as on a full disk; returns the paths tried."""
    real_open, tried = io.open, []

    def fake_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            tried.append(str(file))
            if len(tried) >= fail_at:
                raise OSError(code, os.strerror(code), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(builtins, "open", fake_open)
    return tried


def _failing_renames(monkeypatch, code: int) -> None:
    def fake(src, dst, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(src))
    monkeypatch.setattr(os, "rename", fake)
    monkeypatch.setattr(os, "replace", fake)


def _faiss_write_fails(monkeypatch) -> None:
    """faiss writing an index file (not into memory) fails as on a full disk."""
    import faiss

    real = faiss.write_index

    def fake(index, target, *args):
        if isinstance(target, str):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
        return real(index, target, *args)
    monkeypatch.setattr(faiss, "write_index", fake)


def _check_intact(before: dict[str, str], caught: LabError, reason: str) -> None:
    assert isinstance(caught, LabError)
    assert "Could not" in caught.problem and "'kb'" in caught.problem and reason in caught.problem
    assert caught.fix
    assert _files(data_dir()) == before, "the old collection changed or a staging file was left"
    assert not {d for d in _folders(data_dir()) if d.endswith((".building", ".old"))}
    assert list_collections() == ["kb"]
    assert search("kb", "What does the kettle cost?", 1)[0].chunk.doc == "kettles.md"


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4])
def test_a_full_disk_under_a_build_names_the_problem_and_keeps_the_old_collection(monkeypatch,
                                                                                  fail_at):
    build_collection("kb", KETTLE)
    before = _files(data_dir())
    with monkeypatch.context() as patched, pytest.raises(LabError) as caught:
        _failing_writes(patched, errno.ENOSPC, fail_at)
        _faiss_write_fails(patched)  # the code before the fix wrote the index through faiss
        build_collection("kb", {**KETTLE, "mugs.md": "# Mugs\n\nOur mugs hold 350 ml."})
    _check_intact(before, caught.value, "the disk is full")
    assert "Free some disk space" in caught.value.fix


def test_a_read_only_data_folder_under_a_build_names_the_problem_and_keeps_the_old_collection(
        monkeypatch):
    build_collection("kb", KETTLE)
    before = _files(data_dir())
    with monkeypatch.context() as patched, pytest.raises(LabError) as caught:
        _failing_renames(patched, errno.EROFS)
        build_collection("kb", {"mugs.md": "# Mugs\n\nOur mugs hold 350 ml."})
    _check_intact(before, caught.value, "read-only")


def test_a_read_only_data_folder_under_a_delete_says_so_and_keeps_the_collection(monkeypatch):
    build_collection("kb", KETTLE)
    before = _files(data_dir())

    def fake_remove(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
    with monkeypatch.context() as patched, pytest.raises(LabError) as caught:
        _failing_renames(patched, errno.EROFS)
        patched.setattr(os, "unlink", fake_remove)
        patched.setattr(os, "rmdir", fake_remove)
        delete_collection("kb")
    assert "Could not delete the collection 'kb'" in caught.value.problem
    assert _files(data_dir()) == before and list_collections() == ["kb"]


# -- a damaged collection is named, and the others work as before --------------------------------


@pytest.mark.parametrize("file, damage", [
    ("meta.json", b""), ("meta.json", b"\xff\xfe garbage"), ("meta.json", b"[1, 2]"),
    ("meta.json", b'{"documents": [], "chunks": 1, "settings": {"size": -3}, "embedder": "e"}'),
    ("chunks.jsonl", b'{"doc": "kettles.md", "heading"'), ("index.faiss", b"not an index"),
    ("docs/kettles.md.txt", b"\xff\xfe\x00"),
])
def test_a_damaged_collection_is_named_and_the_others_still_work(file, damage):
    from core.knowledge import DamagedCollectionError, collections_dir

    build_collection("kb", KETTLE)
    build_collection("other", {"mugs.md": "# Mugs\n\nOur mugs hold 350 ml."})
    (collections_dir() / "kb" / file).write_bytes(damage)
    with pytest.raises(DamagedCollectionError) as caught:
        collection_info("kb"), document_texts("kb"), search("kb", "What does the kettle cost?", 1)
    assert "The collection 'kb' is damaged" in caught.value.problem
    assert "Delete it on the Knowledge page" in caught.value.fix
    assert list_collections() == ["kb", "other"]
    assert search("other", "How much do the mugs hold?", 1)[0].chunk.doc == "mugs.md"
    delete_collection("kb")
    assert list_collections() == ["other"]
