"""The Knowledge page after issue 15 (outside tester), under AppTest: deleting a collection empties
the upload box (a file chosen for it was one click away from landing in the next collection),
two files with one name are refused and kept in the box, and a typed name never becomes Markdown."""

from __future__ import annotations

import pytest

from core.config import ModelSpec
from core.knowledge import build_collection, collection_info, document_texts, list_collections
from tests.pages.test_pages import _page, fresh_caches  # noqa: F401 - fixture

KB = "pages/4_Knowledge.py"
KETTLE = ("kettles.md", b"# Kettles\n\nThe Ember kettle boils a litre in 3 minutes.", "text/markdown")
HANDBOOK = {"tents.md": "# Tents\n\nThe Karsk 2P tent costs 289 euros."}


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32")


def test_deleting_a_collection_empties_the_upload_box_so_its_file_cannot_go_elsewhere(tiny):
    build_collection("handbook", HANDBOOK)  # what the page falls back to after the delete
    at = _page(KB, tiny)
    at.text_input(key="kb_new").set_value("notes").run()
    at.file_uploader(key="kb_files").set_value([KETTLE]).run()
    at.button(key="kb_add").click().run()
    assert at.selectbox(key="kb_collection").value == "notes"
    at.checkbox(key="kb_delete_ok_notes").check().run()
    at.button(key="kb_delete").click().run()
    assert not at.exception, at.exception
    assert list_collections() == ["handbook"]
    assert at.selectbox(key="kb_collection").value == "handbook"
    # the box is empty and the add button cannot be clicked: before the fix it read
    # "Add to 'handbook' and index" with kettles.md still in the box
    assert [u.value for u in at.file_uploader] in ([None], [[]])
    add = at.button(key="kb_add")
    assert add.disabled, add.label
    assert collection_info("handbook").documents == ("tents.md",)
    # the new box works as the old one did
    at.file_uploader[0].set_value([KETTLE]).run()
    at.button(key="kb_add").click().run()
    assert collection_info("handbook").documents == ("kettles.md", "tents.md")


def test_two_files_with_one_name_are_refused_and_stay_in_the_box(tiny):
    build_collection("handbook", HANDBOOK)
    files = [("dup.md", b"# A\n\nThe first text.", "text/markdown"),
             ("dup.md", b"# B\n\nThe second text.", "text/markdown")]
    at = _page(KB, tiny)
    at.file_uploader(key="kb_files").set_value(files).run()
    at.button(key="kb_add").click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "2 documents are named dup.md" in errors and "Rename one" in errors
    assert document_texts("handbook") == HANDBOOK
    assert [f.name for f in at.file_uploader(key="kb_files").value] == ["dup.md", "dup.md"]


def test_re_uploading_a_document_says_it_replaced_the_old_one(tiny):
    build_collection("handbook", HANDBOOK)
    at = _page(KB, tiny)
    at.file_uploader(key="kb_files").set_value(
        [("tents.md", b"# Tents\n\nThe Karsk 2P tent costs 299 euros.", "text/markdown")]).run()
    at.button(key="kb_add").click().run()
    assert any("Replaced with the new upload: tents.md" in s.value for s in at.success)
    assert "299 euros" in document_texts("handbook")["tents.md"]


def test_a_typed_collection_name_is_shown_as_typed_never_as_markdown(tiny):
    build_collection("handbook", HANDBOOK)
    at = _page(KB, tiny)
    at.text_input(key="kb_new").set_value("![x](http://127.0.0.1:8699/x.png)").run()
    at.file_uploader(key="kb_files").set_value([KETTLE]).run()
    label = at.button(key="kb_add").label
    # a button label is Markdown, images included: unescaped, the browser would fetch the address
    assert "![" not in label and "](" not in label
    # the address reads as typed; a word joiner after its scheme keeps GFM from linking it
    assert "http://127.0.0.1:8699/x.png" in label.replace("\u2060", "")
    at.button(key="kb_add").click().run()
    assert any("not a usable collection name" in e.value for e in at.error)
    assert list_collections() == ["handbook"]


def test_a_damaged_collection_is_named_can_be_deleted_and_the_others_still_open(tiny):
    from core.knowledge import collections_dir

    build_collection("handbook", HANDBOOK)
    build_collection("broken", {"mugs.md": "# Mugs\n\nOur mugs hold 350 ml."})
    (collections_dir() / "broken" / "meta.json").write_text('{"documents": ["mugs.md"], "chu')
    at = _page(KB, tiny)
    at.selectbox(key="kb_collection").set_value("broken").run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "The collection 'broken' is damaged" in errors and "Delete it on the Knowledge page" in errors
    at.checkbox(key="kb_delete_ok_broken").check().run()
    at.button(key="kb_delete").click().run()
    assert not at.exception, at.exception
    assert list_collections() == ["handbook"]
    assert at.selectbox(key="kb_collection").value == "handbook"
    assert any("Deleted **broken**" in s.value for s in at.success)
    assert "Inside 'handbook'" in [h.value for h in at.subheader]
