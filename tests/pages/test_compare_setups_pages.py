"""The Compare page builds setups (issue 17): a hybrid of a finished run and 2 shots is added
from its parts, listed with its description, saved in the comparison's config and measured
with its paired differences; a combination that cannot work says why and keeps the other
rows; a saved setup joins with one click; a comparison saved before setups still opens."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import runs
from core.compare_runs import comparisons_dir, list_comparisons
from core.config import ModelSpec
from core.setups import ModelChoice, PromptChoice, Setup, save_setup
from core.train_config import TrainConfig
from tests.pages.test_compare_page import CMP, _wait
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture
from ui.controls import plain
from ui.model_picker import OTHER

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "lab_2026_12_01" / "comparisons" \
    / "20261201-050937-4da750"


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32", engine="transformers")


def _finished_run(model_dir: Path) -> str:
    """A real two-step LoRA run of the tiny model on the sentiment task, finished."""
    config = TrainConfig(model=str(model_dir), template="Review: {text}\nSentiment:",
                         max_steps=2, batch_size=2, max_train_examples=8, max_eval_examples=4,
                         threads=1, learning_rate=1e-2, name="tiny tuned")
    run_dir = runs.create_run(config)
    assert runs.execute(config, run_dir, echo=False) == 0
    return run_dir.name


def _rows(at) -> list[str]:
    """The numbered rows of the setup list, as drawn."""
    return [m.value for m in at.markdown if m.value[:1].isdigit() and ". **" in m.value]


def test_a_tuned_run_with_two_shots_is_built_listed_saved_and_measured(tiny, tiny_long_model_dir):
    run_id = _finished_run(tiny_long_model_dir)
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    at.number_input(key="cmp_n").set_value(5)
    at.multiselect(key="cmp_basic").set_value(["zero-shot"])
    at.radio(key="cmp_b_kind").set_value("run").run()
    assert at.selectbox(key="cmp_b_run").value == run_id  # the only one, picked at once
    at.selectbox(key="cmp_b_technique").set_value("few-shot")
    at.number_input(key="cmp_b_shots").set_value(2)
    at.number_input(key="cmp_draws").set_value(1)
    at.button(key="cmp_b_add").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    described = f"run {run_id} (LoRA) + 2-shot"
    rows = _rows(at)
    assert len(rows) == 2 and "**zero-shot**" in rows[0]
    assert plain(described) in rows[1] and f"**{plain(described)}**" in rows[1]  # named by it

    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    [comparison] = list_comparisons()
    saved = json.loads((comparison.folder / "config.json").read_text())
    hybrid = next(s for s in saved["setups"] if s["name"] == described)
    assert hybrid["model"]["run_id"] == run_id
    assert hybrid["model"]["source"] == str(tiny_long_model_dir)
    assert hybrid["prompt"] == {"technique": "few-shot", "shots": 2} and saved["draws"] == 1
    assert _wait(comparison.id) == "succeeded", (comparison.folder / "log.txt").read_text()[-2000:]

    again = _page(CMP, tiny)  # the results, in a new session
    assert not again.exception, again.exception
    metrics = next(d.value for d in again.dataframe if "Variant" in d.value.columns)
    row = metrics[metrics["Variant"] == described].iloc[0]
    assert row["Model"] == f"run {run_id}" and row["Prompt"] == "2-shot" and not row["Error"]
    assert "Paired differences" in [h.value for h in again.subheader]
    paired = next(d.value for d in again.dataframe if "Leader" in d.value.columns)
    assert len(paired) == 1
    assert {paired["Leader"][0], paired["Other"][0]} == {described, "zero-shot"}
    assert paired["Verdict"][0] in ("tie", "within noise", "real lead")
    spread = [c.value for c in again.caption
              if "another draw or order of the same 2 examples" in c.value]
    assert len(spread) == 1 and spread[0].startswith(plain(described))  # one draw more: 2 draws
    assert "over 2 draws" in spread[0]


def test_a_combination_that_cannot_work_says_why_and_keeps_the_other_rows(tiny):
    at = _page(CMP, tiny)
    before = _rows(at)
    assert len(before) == 2  # zero-shot and few-shot 4, the page's first choice
    at.selectbox(key="cmp_b_technique").set_value("cot")
    at.checkbox(key="cmp_b_calibrate").check()
    at.button(key="cmp_b_add").click().run()
    assert not at.exception, at.exception
    said = " ".join(e.value for e in at.error)
    assert "Calibration corrects label scores" in said and "Turn calibrate off" in said
    assert _rows(at) == before

    at.checkbox(key="cmp_b_calibrate").uncheck()
    at.selectbox(key="cmp_b_technique").set_value("react")
    at.button(key="cmp_b_add").click().run()
    said = " ".join(e.value for e in at.error)
    assert "ReAct answers questions with tools" in said and "shop-math" in said
    assert _rows(at) == before

    at.selectbox(key="cmp_b_technique").set_value("zero-shot")
    at.selectbox(key="cmp_b_model_choice").set_value(OTHER).run()  # the lab's model picker
    at.text_input(key="cmp_b_model_source").set_value("  ")  # its Hub id or folder: empty
    at.button(key="cmp_b_add").click().run()
    assert any("The model source is empty" in e.value for e in at.error)
    assert _rows(at) == before

    at.selectbox(key="cmp_b_model_choice").set_value("embedded:gemma-3-270m")
    at.text_input(key="cmp_b_name").set_value("few-shot 4")  # a preset's name
    at.button(key="cmp_b_add").click().run()
    assert any("already in the list" in e.value for e in at.error)
    assert _rows(at) == before and list_comparisons() == []


def test_a_calibrated_few_shot_setup_is_marked_and_a_row_can_be_removed(tiny):
    at = _page(CMP, tiny)
    at.checkbox(key="cmp_b_calibrate").check()
    at.text_area(key="cmp_b_system").set_value("You label product reviews.")
    at.button(key="cmp_b_add").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    rows = _rows(at)
    assert len(rows) == 3
    assert "2-shot + system prompt calibrated" in rows[2] and "calibrated label scores" in rows[2]
    at.button(key="cmp_rm_0").click().run()  # zero-shot, a quick preset
    assert at.multiselect(key="cmp_basic").value == ["few-shot 4"]
    at.button(key="cmp_rm_1").click().run()  # the built one
    assert len(_rows(at)) == 1 and at.session_state["cmp_built"] == []


def test_a_saved_setup_joins_with_one_click(tiny, tiny_long_model_dir):
    save_setup(Setup("terse reviewer", ModelChoice(source=str(tiny_long_model_dir),
                                                   engine="transformers", dtype="float32"),
                     PromptChoice("zero-shot", system="Answer with one word.")))
    at = _page(CMP, tiny)
    assert at.multiselect(key="cmp_saved").options == ["terse reviewer"]
    at.multiselect(key="cmp_saved").set_value(["terse reviewer"]).run()
    assert not at.exception, at.exception
    assert any("**terse reviewer**" in r and "zero-shot + system prompt" in r for r in _rows(at))


def test_a_setup_sent_from_another_page_arrives_in_the_list(tiny, tiny_long_model_dir):
    from streamlit.testing.v1 import AppTest

    from tests.pages.test_pages import ROOT, TIMEOUT
    from ui.engine import SPEC_KEY
    from ui.navigate import REQUESTS

    save_setup(Setup("from the playground", ModelChoice(source=str(tiny_long_model_dir)),
                     PromptChoice("few-shot", shots=2, calibrate=True)))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state[SPEC_KEY] = tiny
    # what ask("compare", setup=...) leaves for the page
    at.session_state[REQUESTS] = {"compare": {"setup": "from the playground"}}
    at.switch_page(CMP).run()
    assert not at.exception, at.exception
    assert at.multiselect(key="cmp_saved").value == ["from the playground"]
    assert "2-shot calibrated" in _rows(at)[-1] and "calibrated label scores" in _rows(at)[-1]
    at.run()  # read once: a rerun does not add it again
    assert len(_rows(at)) == 3


def test_a_comparison_saved_before_setups_opens_with_its_paired_differences(tiny):
    shutil.copytree(OLD, comparisons_dir() / OLD.name)
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    assert not [e.value for e in at.error]
    assert "Verdict" in [h.value for h in at.subheader]
    metrics = next(d.value for d in at.dataframe if "Variant" in d.value.columns)
    assert list(metrics["Variant"]) == ["zero-shot", "one shot a label", "saved set", "tuned"]
    assert "Model" in metrics.columns and "Prompt" not in metrics.columns  # no parts then
    paired = next(d.value for d in at.dataframe if "Leader" in d.value.columns)
    assert len(paired) == 6  # every pair of four setups, from the answers kept per example
    assert at.selectbox(key="cmp_selected").options == [
        f"{OLD.name} · review-sentiment · 4 setups · succeeded"]
    assert "tuned" in _text(at)


def test_on_a_question_task_the_rag_presets_read_as_retrieval_and_calibration_is_not_offered(tiny):
    at = _page(CMP, tiny)
    at.selectbox(key="cmp_task").set_value("handbook-qa").run()
    assert not at.exception, at.exception
    at.multiselect(key="cmp_basic").set_value(["zero-shot", "RAG top-3"]).run()
    rows = _rows(at)
    assert len(rows) == 2 and plain("zero-shot + retrieval from lumen-outfitters (k=3)") in rows[1]
    assert "cmp_b_calibrate" not in [c.key for c in at.checkbox]  # no labels to calibrate


def test_a_fresh_lab_offers_the_sample_collection_for_retrieval(tiny):
    """Before the sample collection is first used (a fresh data folder), the builder's
    Retrieval list still offers it: a setup that searches it builds it."""
    from core.knowledge import SAMPLE_COLLECTION, list_collections

    assert SAMPLE_COLLECTION not in list_collections()
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    retrieval = at.selectbox(key="cmp_b_collection")
    assert f"from collection {SAMPLE_COLLECTION}" in retrieval.options
