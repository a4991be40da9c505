"""The Compare page under AppTest: a real background comparison on the tiny model, then its results."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.compare_runs import get_comparison, list_comparisons
from core.config import ModelSpec
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

CMP = "pages/7_Compare.py"


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32", engine="transformers")


def _wait(comparison_id: str, timeout: float = 240) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = get_comparison(comparison_id).status
        if status not in ("queued", "running"):
            return status
        time.sleep(1)
    return "timeout"


def test_a_comparison_runs_in_the_background_and_reopens_with_its_report(tiny):
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    at.number_input(key="cmp_n").set_value(6)
    at.multiselect(key="cmp_basic").set_value(["zero-shot", "few-shot 2", "chain-of-thought"])
    at.number_input(key="cmp_price_out").set_value(None)  # cleared: unknown, not a price of 0
    at.button(key="cmp_run").click().run()
    assert not at.exception, at.exception
    [comparison] = list_comparisons()
    assert _wait(comparison.id) == "succeeded", (comparison.folder / "log.txt").read_text()[-2000:]
    prices = json.loads((comparison.folder / "config.json").read_text())["prices"]
    assert prices["output_per_million"] is None and prices["input_per_million"] == 0.10

    again = _page(CMP, tiny)  # a new session: a closed tab, a restarted app
    assert not again.exception, again.exception
    text = _text(again)
    assert "zero-shot" in text and "chain-of-thought" in text
    titles = " ".join(c.proto.spec for c in again.get("plotly_chart"))
    assert "accuracy" in titles.lower()
    assert any(b.proto.label.startswith("Download the report") for b in again.get("download_button"))
    assert len(again.dataframe) >= 2  # metrics, per example
    # when to use which: a static table whose cells wrap, with all four columns
    assert list(again.table[0].value.columns) == ["Prompting", "Few-shot", "RAG", "Fine-tuning"]
    assert any("needs a fine-tuned variant" in i.value for i in again.info)  # break-even: what to add


def test_no_variant_is_named_and_nothing_starts(tiny):
    at = _page(CMP, tiny)
    at.multiselect(key="cmp_basic").set_value([]).run()
    at.button(key="cmp_run").click().run()
    assert any("No variant is selected" in e.value for e in at.error)
    assert list_comparisons() == []


def test_free_form_answers_in_columns(tiny):
    at = _page(CMP, tiny)
    at.text_area(key="cmp_free").set_value("Loud but fast.")
    at.button(key="cmp_free_run").click().run()
    assert not at.exception, at.exception
    assert sum("prompt tokens" in m.value for m in at.markdown) == 2


def save_finished(results: dict) -> None:
    """A finished comparison's folder, as the comparison process leaves it."""
    from core.compare_runs import comparisons_dir

    folder = comparisons_dir() / results["id"]
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(results["config"]))
    (folder / "status.json").write_text(json.dumps({"status": "succeeded"}))
    (folder / "results.json").write_text(json.dumps(results))


def test_a_past_comparison_with_a_tuned_variant_shows_break_even_and_the_calculator(tiny):
    from tests.core.test_report import results as results_fixture

    results = results_fixture.__wrapped__()
    save_finished(results)
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    assert any("pays back" in s.value for s in at.success)  # the calculator's answer
    assert any("Break-even" in m.value for m in at.markdown)
    assert any("could not run" in c.value for c in at.caption)  # the failed variant is named


def test_tuned_variants_are_named_after_their_runs_and_never_clash():
    from core.runs import Run
    from ui.compare import tuned_variant_names

    def run(run_id, name):
        return Run(id=run_id, run_dir=Path("/nowhere"), status="succeeded", created_at="",
                   config={"name": name})

    names = tuned_variant_names([run("r1", "lora r16"), run("r2", ""), run("r3", "same"),
                                 run("r4", "same")])
    assert names == {"r1": "tuned lora r16", "r2": "tuned r2", "r3": "tuned r3", "r4": "tuned r4"}
