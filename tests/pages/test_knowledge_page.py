"""The Knowledge page under AppTest: build, upload, inspect, retrieve, ask with and without."""

from __future__ import annotations

import pytest

from core.config import ModelSpec
from core.knowledge import collection_info, list_collections
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

KB = "pages/4_Knowledge.py"


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32")


def _upload(at, *files):
    at.file_uploader[0].set_value(list(files)).run()  # the one box (its key changes after an add)
    return at


def test_empty_lab_offers_the_sample_and_builds_it(tiny):
    at = _page(KB, tiny)
    assert any("No collection yet" in i.value for i in at.info)
    at.button(key="kb_sample").click().run()
    assert not at.exception, at.exception
    assert list_collections() == ["lumen-outfitters"]
    text = _text(at)
    assert "22 documents" in text and "similarity" in text
    assert "<mark>" in at.get("html")[0].proto.body


def test_uploads_index_good_files_and_explain_bad_ones_without_losing_the_rest(tiny):
    at = _page(KB, tiny)
    at.text_input(key="kb_new").set_value("notes").run()
    _upload(at, ("kettles.md", b"# Kettles\n\nThe Ember kettle boils a litre in 3 minutes.", "text/markdown"))
    at.button(key="kb_add").click().run()
    assert collection_info("notes").documents == ("kettles.md",)
    # the box is empty again: what was added cannot go into the next collection by mistake
    assert [u.value for u in at.file_uploader] in ([None], [[]])
    _upload(at, ("empty.txt", b"", "text/plain"), ("scan.pdf", b"%PDF-1.4 broken", "application/pdf"),
            ("mugs.txt", b"Our mugs hold 350 ml.", "text/plain"))
    at.button(key="kb_add").click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "empty.txt is empty" in errors and "scan.pdf is not a readable PDF" in errors
    assert collection_info("notes").documents == ("kettles.md", "mugs.txt")
    assert any("2 file(s) were skipped" in s.value for s in at.success)


def test_only_bad_files_change_nothing(tiny):
    at = _page(KB, tiny)
    at.text_input(key="kb_new").set_value("notes").run()
    _upload(at, ("bin.txt", b"\x00\x01\x02", "text/plain"))
    at.button(key="kb_add").click().run()
    assert any("bin.txt is binary" in e.value for e in at.error)
    assert any("Nothing was added" in w.value for w in at.warning)
    assert list_collections() == []


def test_ask_with_and_without_the_documents(tiny):
    at = _page(KB, tiny)
    at.button(key="kb_sample").click().run()
    at.button(key="kb_ask").click().run()
    assert not at.exception, at.exception
    text = _text(at)
    assert "Without the documents" in text and "With 3 passages (RAG)" in text and "Cites:" in text


def test_bad_rag_template_is_named(tiny):
    at = _page(KB, tiny)
    at.button(key="kb_sample").click().run()
    at.text_area(key="kb_template").set_value("Answer: {question}").run()
    at.button(key="kb_ask").click().run()
    assert any("lacks {context}" in e.value for e in at.error)
    assert at.text_area(key="kb_template").value == "Answer: {question}"
