"""The Compare page's Free-form tab answers one input with every setup in the comparison's
list (issue 17): quick presets and built setups (a tuned run with shots, a system prompt,
calibrated label scores) each in their own column, with the exact prompt the comparison
scores; a setup that cannot answer says why in its column while the others answer."""

from __future__ import annotations

import pytest

from core.config import ModelSpec
from core.setups import ModelChoice, PromptChoice, RetrievalChoice, Setup
from tests.pages.test_compare_page import CMP
from tests.pages.test_compare_setups_pages import _finished_run
from tests.pages.test_pages import _page, fresh_caches  # noqa: F401 - fixture


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32", engine="transformers")


def _model(spec: ModelSpec, run_id: str | None = None) -> ModelChoice:
    return ModelChoice(spec.source, spec.engine, spec.device, spec.dtype, spec.threads, run_id)


def _ask(at, built: list[Setup], text: str = "Loud but fast.") -> None:
    at.session_state["cmp_built"] = [setup.to_dict() for setup in built]
    at.text_area(key="cmp_free").set_value(text)
    at.button(key="cmp_free_run").click().run()
    assert not at.exception, at.exception


def _headers(at) -> list[str]:
    return [m.value for m in at.markdown if "prompt tokens" in m.value]


def _labels(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("Label Compare counts")]


def test_built_setups_answer_each_in_their_column(tiny, tiny_long_model_dir):
    run_id = _finished_run(tiny_long_model_dir)
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    built = [Setup("tuned + 2 shots", _model(tiny, run_id), PromptChoice("few-shot", shots=2)),
             Setup("with a system prompt", _model(tiny),
                   PromptChoice(system="You read product reviews.")),
             Setup("calibrated", _model(tiny), PromptChoice("few-shot", shots=2, calibrate=True))]
    _ask(at, built)
    headers = _headers(at)  # two quick presets (zero-shot, few-shot 4) and the three built
    assert len(headers) == 5, headers
    for name in ("zero-shot", "few-shot 4", "tuned + 2 shots", "with a system prompt",
                 "calibrated"):
        assert any(h.startswith(f"**{name}** · ") for h in headers), (name, headers)
    captions = " ".join(c.value for c in at.caption)
    assert f"run {run_id}" in captions and "calibrated label scores" in captions
    assert len(_labels(at)) == 5 and sum("(calibrated)" in m for m in _labels(at)) == 1
    assert sum(e.label == "The exact prompt" for e in at.expander) == 5
    prompts = [c.value for c in at.code]
    # the run's shots in its own template, without the task's instruction
    assert any(p.count("Review: ") == 3 and p.endswith("Review: Loud but fast.\nSentiment:")
               and "Classify" not in p for p in prompts)
    assert sum(" tokens · " in c.value for c in at.caption) == 5  # tokens and time, each
    assert not at.error


def test_a_broken_setup_says_why_in_its_column_and_the_others_answer(tiny):
    at = _page(CMP, tiny)
    at.multiselect(key="cmp_basic").set_value(["zero-shot"]).run()
    built = [Setup("gone run", _model(tiny, "20990101-000000-gone")),
             Setup("gone collection", _model(tiny),
                   retrieval=RetrievalChoice("lost-handbook", top_k=2)),
             Setup("two shots", _model(tiny), PromptChoice("few-shot", shots=2))]
    _ask(at, built)
    errors = " ".join(e.value for e in at.error)
    assert "20990101-000000-gone" in errors and "lost-handbook" in errors
    headers = _headers(at)
    assert len(headers) == 2 and len(_labels(at)) == 2, headers  # zero-shot and two shots
    names = [m.value for m in at.markdown if m.value.startswith("**gone ")]
    assert names == ["**gone run**", "**gone collection**"]  # named in their own columns


def test_more_than_four_setups_wrap_into_rows_of_four(tiny):
    at = _page(CMP, tiny)
    at.multiselect(key="cmp_basic").set_value(["zero-shot", "few-shot 2", "few-shot 4",
                                               "few-shot 8", "chain-of-thought"]).run()
    _ask(at, [])
    assert len(_headers(at)) == 5
    free = at.tabs[2]
    rows = [b for b in free.children.values() if getattr(b, "type", None) == "flex_container"]
    assert [len(row.children) for row in rows] == [4, 4]  # two rows of four columns


def test_a_react_setup_shows_its_transcript_and_final_answer(tiny):
    at = _page(CMP, tiny)
    at.selectbox(key="cmp_task").set_value("shop-math").run()
    at.multiselect(key="cmp_basic").set_value([]).run()
    agent = Setup("agent", _model(tiny), PromptChoice("react", tools=("calculator",),
                                                      max_steps=2))
    _ask(at, [agent], "What do 3 mugs at $4 cost?")
    assert len(_headers(at)) == 1 and not at.error
    assert any(c.value.endswith("Question: What do 3 mugs at $4 cost?\nThought:")
               for c in at.code)  # the exact opening prompt
    assert any(m.value.startswith("Final answer: ") for m in at.markdown)
    assert not _labels(at)  # no label to count on a numeric task
