"""What a first-time user met on the Knowledge page and on every page, under AppTest: a new
collection is shown once indexed, deleting asks first and the sample is kept, the sample
questions come with their reference answers, and no page waits for a model it does not use."""

from __future__ import annotations

import shutil

import pytest

from core.config import ModelSpec
from core.knowledge import (SAMPLE_COLLECTION, collection_info, find_sample_question,
                            list_collections, sample_questions)
from ui.engine import loaded_engine
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

KB = "pages/4_Knowledge.py"
KETTLE = ("kettles.md", b"# Kettles\n\nThe Ember kettle boils a litre in 3 minutes.", "text/markdown")


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32")


def _new_collection(at, name: str, *files):
    at.text_input(key="kb_new").set_value(name).run()
    # the page's one upload box; its key changes after a delete (which empties it)
    at.file_uploader[0].set_value(list(files or [KETTLE])).run()
    return at.button(key="kb_add").click().run()


def test_indexing_a_new_collection_switches_the_page_to_it(tiny):
    at = _page(KB, tiny)
    at.button(key="kb_sample").click().run()
    assert at.selectbox(key="kb_collection").value == SAMPLE_COLLECTION
    _new_collection(at, "notes")
    assert not at.exception, at.exception
    assert at.selectbox(key="kb_collection").value == "notes"
    assert "Inside 'notes'" in [h.value for h in at.subheader]
    assert "1 document · " in _text(at)  # the caption of notes, not of the 22-document sample
    assert at.text_input(key="kb_new").value == ""  # the next upload goes to notes, as its button says
    assert any("notes**: 1 document, 1 chunk indexed" in s.value for s in at.success)
    assert "kettles.md" in at.selectbox(key="kb_doc").options


def test_deleting_asks_first_and_names_the_collection_and_its_size(tiny):
    at = _new_collection(_page(KB, tiny), "notes")
    expander = next(e for e in at.expander if e.label == "Delete 'notes'")
    assert "1 document, 1 chunk, " in " ".join(m.value for m in expander.markdown)
    assert at.button(key="kb_delete").disabled  # one click is not enough
    at.checkbox(key="kb_delete_ok_notes").check().run()
    assert not at.button(key="kb_delete").disabled
    at.button(key="kb_delete").click().run()
    assert not at.exception, at.exception
    assert list_collections() == []
    assert any("Deleted **notes**" in s.value for s in at.success)
    # a collection made later under the same name must not inherit the confirmation
    _new_collection(at, "notes")
    assert at.button(key="kb_delete").disabled


def test_the_sample_cannot_be_deleted_by_accident_and_restores_from_its_files(tiny):
    at = _page(KB, tiny)
    at.button(key="kb_sample").click().run()
    assert not [b for b in at.button if b.key == "kb_delete"]
    at.file_uploader(key="kb_files").set_value([KETTLE]).run()
    at.button(key="kb_add").click().run()  # the user adds a document to the sample
    assert "kettles.md" in collection_info(SAMPLE_COLLECTION).documents
    assert any("removes the 1 document(s) you added to it: kettles.md" in w.value for w in at.warning)
    assert at.button(key="kb_restore").disabled
    at.checkbox(key="kb_restore_ok").check().run()
    at.button(key="kb_restore").click().run()
    assert not at.exception, at.exception
    info = collection_info(SAMPLE_COLLECTION)
    assert "kettles.md" not in info.documents and len(info.documents) == 22
    assert any("restored: 22 documents" in s.value for s in at.success)


def test_sample_questions_are_a_pick_list_that_fills_the_question_and_shows_the_reference(tiny):
    at = _page(KB, tiny)
    at.button(key="kb_sample").click().run()
    picker = at.selectbox(key="kb_pick")
    assert len(picker.options) == 81  # the 80 shipped questions and "your own"
    assert "Who founded Lumen Outfitters?  →  Ingrid Halvorsen and Tomas Brandt" in picker.options
    picker.set_value("q025").run()
    assert at.text_input(key="kb_question").value == "How much does the Lumen pump sack cost?"
    assert any("Reference answer:** €19" in i.value for i in at.info)
    assert "catalogue-sleeping-mats.md" in _text(at)  # the retriever's hits for that question
    at.text_input(key="kb_question").set_value("Which tent is lightest?").run()
    assert at.selectbox(key="kb_pick").value == ""  # the list follows the box: an own question
    assert not any("Reference answer" in i.value for i in at.info)


def test_answers_are_judged_against_the_reference_and_green_only_when_right(tiny):
    at = _page(KB, tiny)
    at.button(key="kb_sample").click().run()
    at.selectbox(key="kb_pick").set_value("q025").run()
    at.button(key="kb_ask").click().run()
    assert not at.exception, at.exception
    # the tiny random model never writes "19": both answers are judged, neither in green
    verdicts = [e.value for e in at.error if "reference answer (€19)" in e.value]
    assert len(verdicts) == 2
    assert not any("Holds the reference" in s.value for s in at.success)


def test_the_verdict_reads_the_answer_as_compare_does():
    from streamlit.testing.v1 import AppTest

    def script():
        from core.knowledge import find_sample_question
        from ui.knowledge import show_verdict

        reference = find_sample_question("lumen-outfitters", "How much does the Lumen pump sack cost?")
        show_verdict("The pump sack costs €19 [2].", reference)
        show_verdict("€349", find_sample_question(
            "lumen-outfitters", "How much does the Karsk 2P tent cost and how much does it weigh?"))
        show_verdict("It costs €29.", reference)

    at = AppTest.from_function(script).run()
    assert [s.value for s in at.success] == ["Holds the reference answer (€19)."]
    assert len(at.warning) == 1 and "Partly matches the reference (€349, 2,140 g)" in at.warning[0].value
    assert [e.value for e in at.error] == ["Does not match the reference answer (€19)."]


def test_only_the_sample_collection_has_questions():
    assert len(sample_questions(SAMPLE_COLLECTION)) == 80
    assert sample_questions("notes") == ()
    assert find_sample_question(SAMPLE_COLLECTION, "  who founded LUMEN outfitters? ").id == "q001"
    assert find_sample_question(SAMPLE_COLLECTION, "Who founded it?") is None


@pytest.mark.parametrize("page", ["app.py", "pages/5_Train.py", "pages/6_Runs.py",
                                  "pages/2_History.py", "pages/7_Compare.py", KB])
def test_pages_that_need_no_model_draw_without_loading_it(tiny, page):
    at = _page(page, tiny)
    assert not at.exception, at.exception
    assert loaded_engine(tiny) is None
    assert "not loaded yet" in " ".join(c.value for c in at.sidebar.caption)


def test_the_model_loads_where_it_is_used_and_the_sidebar_then_shows_it(tiny):
    at = _page(KB, tiny)
    at.button(key="kb_sample").click().run()
    at.button(key="kb_ask").click().run()
    assert loaded_engine(tiny) is not None
    assert "float32" in " ".join(c.value for c in at.sidebar.caption)
    at.switch_page("pages/6_Runs.py").run()  # now in memory: every page shows its status
    assert "loaded in" in " ".join(c.value for c in at.sidebar.caption)


def test_a_model_that_fails_to_load_is_named_in_the_sidebar_and_keeps_the_page(tmp_path, tiny_model_dir):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    for weights in broken.glob("*.safetensors"):
        weights.write_bytes(b"not safetensors")
    at = _page(KB, ModelSpec(source=str(broken)))
    at.button(key="kb_sample").click().run()
    at.text_input(key="kb_question").set_value("How much does the Lumen pump sack cost?").run()
    at.button(key="kb_ask").click().run()  # the first use loads it: the load fails
    assert not at.exception, at.exception
    assert at.sidebar.error, "the sidebar names the failed model"
    assert at.button(key="kb_ask").disabled
    assert at.text_input(key="kb_question").value == "How much does the Lumen pump sack cost?"
    assert [b.key for b in at.sidebar.button] == ["sidebar_retry"]


def test_no_page_icon_is_fetched_from_the_network():
    """A ':material/...:' page_icon is an image the browser fetches from fonts.gstatic.com on
    every page load (a failed name lookup offline); an emoji or a local file is not."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    fetched = [p.name for p in [root / "app.py", *sorted((root / "pages").glob("*.py"))]
               if 'page_icon=":material' in p.read_text(encoding="utf-8")]
    assert fetched == [], f"use an emoji page_icon in {fetched}"
