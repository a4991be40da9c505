"""The Compare page as a first user meets it: progress and finish where Run was pressed,
saved sets that fit the task, and results that say what is missing."""

from __future__ import annotations

import json

import pytest

from core.compare_runs import list_comparisons
from core.config import ModelSpec
from core.fewshot import FewShotSet, save_set
from core.prompting import Example
from tests.pages.test_compare_page import CMP, _wait, save_finished
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32", engine="transformers")


def test_the_new_tab_shows_progress_then_the_finish_and_opens_the_results(tiny):
    at = _page(CMP, tiny)
    at.number_input(key="cmp_n").set_value(5)
    at.multiselect(key="cmp_basic").set_value(["zero-shot"])
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    [comparison] = list_comparisons()
    bars = at.get("progress")
    if comparison.status in ("queued", "running") and bars:  # it may already have finished
        assert "variant 1 of 1" in bars[0].proto.text and "elapsed" in bars[0].proto.text
    assert "Started: follow it in the Results tab" not in _text(at)
    assert _wait(comparison.id) == "succeeded", (comparison.folder / "log.txt").read_text()[-2000:]
    at.run()  # the next poll
    assert not at.get("progress")
    done = [s.value for s in at.success if s.value.startswith("Finished")]
    assert done and comparison.id in done[0] and "1 variant(s) in 0:" in done[0]
    at.button(key="cmp_open").click().run()
    assert not at.exception, at.exception
    assert at.session_state["cmp_tab"] == "Results"
    assert at.session_state["cmp_selected"] == comparison.id
    assert "Verdict" in [h.value for h in at.subheader]


def test_a_failed_comparison_says_so_where_run_was_pressed(tiny):
    at = _page(CMP, tiny)
    at.number_input(key="cmp_n").set_value(5)
    at.multiselect(key="cmp_basic").set_value(["zero-shot"])
    at.button(key="cmp_run").click().run()
    [comparison] = list_comparisons()
    _wait(comparison.id)
    (comparison.folder / "status.json").write_text(json.dumps(
        {"status": "failed", "problem": "The model ran out of memory.", "fix": "Use fewer."}))
    at.run()
    assert any("failed after" in e.value and "ran out of memory" in e.value for e in at.error)


def test_only_saved_sets_labelled_for_the_task_are_offered(tiny):
    save_set(FewShotSet("tickets", (Example("App crashes", "bug"), Example("Dark mode", "feature"),
                                    Example("How to export?", "question")),
                        labels=("bug", "feature", "question")))
    save_set(FewShotSet("reviews", (Example("Great kettle", "POSITIVE"),
                                    Example("Broke in a week", "NEGATIVE"))))
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    assert at.multiselect(key="cmp_sets").options == ["reviews"]
    assert any("1 saved set(s) hidden" in c.value for c in at.caption)


def test_a_clearly_worse_tuned_variant_shows_no_break_even_count(tiny):
    from tests.core.test_report import results as results_fixture

    results = results_fixture.__wrapped__()
    tuned = next(v for v in results["variants"] if v["name"] == "lora-live-demo")
    tuned["metrics"]["accuracy"] = {"value": 0.53, "low": 0.45, "high": 0.60}
    for example in results["examples"]:  # an older comparison, without the tuned model's
        example["outputs"].pop("lora-live-demo", None)  # answers: the 95% ranges decide
    save_finished(results)
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "Break-even (queries)" in d.value.columns)
    assert list(table["Break-even (queries)"]) == ["– (less accurate)"]
    assert "pays back its training" not in " ".join(i.value for i in at.info)
