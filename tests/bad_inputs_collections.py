"""Bad-input catalogue cases (issue 15, outside tester): collections.

Registered into tests/test_bad_inputs.py's CASES with its @case decorator, and checked by its one
test with the same two assertions: the message names the problem and the fix, and the lab's data
is byte for byte what it was.

The seeded lab holds one collection, ``notes`` (kettles.md), which the Knowledge page opens.
A full disk and a read-only data folder are simulated by patching the writes under the lab's
data folder (opening a file for writing, renaming) to raise OSError(ENOSPC) / OSError(EROFS):
the tests run as root, for whom ``chmod a-w`` stops nothing.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from core.errors import LabError
from tests.test_bad_inputs import FIX, KB, case, seen, upload  # noqa: F401

MUGS = b"# Mugs\n\nOur mugs hold 350 ml."


def _kb_add(lab, files: list[tuple[str, bytes, str]], new: str = ""):
    """The Knowledge page after uploading ``files`` (to ``new``, or the open collection) and
    clicking add; the AppTest, to look at what the page kept."""
    at = lab.page(KB)
    if new:
        at.text_input(key="kb_new").set_value(new).run()
    at.file_uploader(key="kb_files").set_value(files).run()
    return at.button(key="kb_add").click().run()


def _kept(at, files: list[tuple[str, bytes, str]], new: str = "") -> None:
    """What the user chose is still there: the upload box holds the same files, the typed name
    is unchanged, and the add button can be clicked again."""
    held = at.file_uploader(key="kb_files").value or []
    assert [f.name for f in held] == [f[0] for f in files], held
    assert at.text_input(key="kb_new").value == new
    assert not at.button(key="kb_add").disabled


@case("knowledge-two-documents-one-name")
def _(lab):
    files = [("dup.md", b"# A\n\nThe first text.", "text/markdown"),
             ("dup.md", b"# B\n\nThe second text.", "text/markdown")]
    at = _kb_add(lab, files)
    message = seen(at)
    _kept(at, files)
    return message, ["2 documents are named dup.md", "one would replace the other", "Rename one"]


@case("knowledge-document-name-too-long")
def _(lab):
    name = "n" * 297 + ".md"
    at = _kb_add(lab, [(name, MUGS, "text/markdown")])
    return seen(at), ["is too long (300 characters", "Rename the file to a shorter name",
                      "Nothing was added"]


@case("knowledge-document-name-with-line-break")
def _(lab):
    # a line break is legal in a Linux file name; Streamlit itself refuses an upload whose name
    # holds a NUL byte, so the NUL case is the core's (next case)
    at = _kb_add(lab, [("mu\ngs.md", MUGS, "text/markdown")])
    return seen(at), ["contains a control character", "Rename the file", "Nothing was added"]


@case("knowledge-document-name-with-nul-byte")
def _(lab):
    from core.knowledge import build_collection

    try:
        build_collection("notes", {"mu\x00gs.md": MUGS.decode()})
    except LabError as exc:
        return str(exc), ["'mu\\x00gs.md' contains a control character", "Rename the file"]
    return "build_collection took the name", ["control character"]


@case("knowledge-collection-name-too-long")
def _(lab):
    at = _kb_add(lab, [("mugs.md", MUGS, "text/markdown")], new="c" * 300)
    return seen(at), ["is not a usable collection name", "Use 1-64 letters"]


@case("knowledge-search-k-zero")
def _(lab):
    from core.knowledge import search

    try:
        search("notes", "How fast does the kettle boil?", 0)
    except LabError as exc:
        return str(exc), ["must be a whole number of at least 1, got 0", "Fetch 1 to 20"]
    return "search(k=0) answered", ["at least 1"]


@contextmanager
def _failing_lab_writes(code: int):
    """Writing a file or renaming anything under the lab's data folder raises OSError ``code``."""
    home = str(Path(os.environ["PROMPTTUNE_HOME"]).resolve())
    real_open, real_rename, real_replace = io.open, os.rename, os.replace

    def under_home(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and str(Path(path).resolve()).startswith(home)

    def fake_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and under_home(file):
            raise OSError(code, os.strerror(code), str(file))
        return real_open(file, mode, *args, **kwargs)

    def fake_rename(real):
        def rename(src, dst, *args, **kwargs):
            if under_home(src):
                raise OSError(code, os.strerror(code), str(src))
            return real(src, dst, *args, **kwargs)
        return rename

    with mock.patch.object(io, "open", fake_open), mock.patch.object(builtins, "open", fake_open), \
            mock.patch.object(os, "rename", fake_rename(real_rename)), \
            mock.patch.object(os, "replace", fake_rename(real_replace)):
        yield


def _add_on_broken_disk(lab, code: int):
    files = [("mugs.md", MUGS, "text/markdown")]
    at = lab.page(KB)
    at.text_input(key="kb_new").set_value("notes").run()
    at.file_uploader(key="kb_files").set_value(files).run()
    with _failing_lab_writes(code):
        at.button(key="kb_add").click().run()
    message = seen(at)  # also: no exception box
    _kept(at, files, new="notes")
    return message


@case("knowledge-full-disk-under-add")
def _(lab):
    return _add_on_broken_disk(lab, errno.ENOSPC), \
        ["Could not index the collection 'notes': the disk is full", "Free some disk space"]


@case("knowledge-read-only-folder-under-add")
def _(lab):
    return _add_on_broken_disk(lab, errno.EROFS), \
        ["Could not index the collection 'notes': the data folder is on a read-only file system",
         "Make the data folder writable"]


@case("knowledge-read-only-folder-under-delete")
def _(lab):
    at = lab.page(KB)
    at.checkbox(key="kb_delete_ok_notes").check().run()
    with _failing_lab_writes(errno.EROFS):
        at.button(key="kb_delete").click().run()
    assert at.selectbox(key="kb_collection").value == "notes"
    return seen(at), ["Could not delete the collection 'notes'", "read-only",
                      "Make the data folder writable"]
