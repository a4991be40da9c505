"""The Playground's techniques and the Few-shot builder under AppTest, on the tiny model."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core.config import ModelSpec
from core.fewshot import FewShotSet, list_sets, load_set, save_set
from core.history import list_generations
from core.prompting import Example
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

PLAY = "pages/1_Playground.py"
BUILDER = "pages/3_Few-shot_builder.py"


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32")


def _technique(at, name):
    at.radio(key="play_mode").set_value(name).run()
    assert not at.exception, at.exception
    return at


def _exact_text(at) -> str:
    return at.code[0].value


def test_every_technique_shows_its_prompt_before_it_runs(tiny):
    at = _technique(_page(PLAY, tiny), "Zero-shot")
    at.selectbox(key="play_task").set_value("event-extraction").run()
    for name, marker in [("Zero-shot", "Message:"), ("Chain-of-thought", "Let's think step by step."),
                         ("Structured output", "follows this JSON Schema"),
                         ("System prompt", "Assistant:"), ("ReAct", "Action: calculator[")]:
        _technique(at, name)
        assert marker in _exact_text(at), name
        expander = next(e.label for e in at.expander if "exact text" in e.label)
        assert "tokens of 4,096" in expander


def test_zero_shot_classification_answers_with_label_probabilities(tiny):
    at = _technique(_page(PLAY, tiny), "Zero-shot")
    at.number_input(key="play_max_new").set_value(4)
    at.button(key="play_run").click().run()
    assert not at.exception
    chart = at.get("plotly_chart")
    assert chart and "Probability of each label" in chart[0].proto.spec
    assert list_generations()[0].source == "playground:Zero-shot"


@pytest.mark.integration
def test_structured_output_constrained_always_parses_and_is_marked_valid():
    smol = ModelSpec(source="embedded:smollm2-135m-instruct", engine="llama.cpp")
    at = _technique(_page(PLAY, smol), "Structured output")
    at.selectbox(key="play_task").set_value("event-extraction").run()
    at.number_input(key="play_max_new").set_value(96)
    at.button(key="play_run").click().run()
    assert not at.exception
    # green only when the values match the example's reference too; neutral when they do not
    assert any("Valid: the answer parses" in s.value for s in [*at.success, *at.info]), _text(at)


def test_structured_answer_cut_off_by_the_token_limit_says_so(tiny):
    at = _technique(_page(PLAY, tiny), "Structured output")
    at.selectbox(key="play_task").set_value("event-extraction").run()
    at.number_input(key="play_max_new").set_value(3)
    at.button(key="play_run").click().run()
    assert not at.exception
    assert any("cut off" in e.value and "max new tokens" in e.value for e in at.error), _text(at)


def test_structured_output_on_the_sentiment_task_has_a_label_schema_ready(tiny):
    at = _technique(_page(PLAY, tiny), "Structured output")  # opens on event-extraction
    at.selectbox(key="play_task").set_value("review-sentiment").run()
    assert not at.error, [e.value for e in at.error]
    schema = json.loads(at.text_area(key="play_schema").value)
    assert schema["properties"]["label"]["enum"] == ["POSITIVE", "NEGATIVE", "MIXED"]
    assert not at.button(key="play_run").disabled
    at.number_input(key="play_max_new").set_value(24)
    at.button(key="play_run").click().run()
    assert any("Valid: the answer parses" in s.value for s in [*at.success, *at.info]), \
        [e.value for e in at.error] + [c.value for c in at.code]


def test_invalid_schema_is_named_and_kept(tiny):
    at = _page(PLAY, tiny)
    _technique(at, "Structured output")
    at.text_area(key="play_schema").set_value('{"type": "object", "properties": {"a": {"type": 5}}}').run()
    assert any("not a valid JSON Schema at properties/a/type" in e.value for e in at.error)
    assert at.text_area(key="play_schema").value.startswith('{"type": "object"')
    assert at.button(key="play_run").disabled


def test_unknown_template_variable_is_named_and_the_text_kept(tiny):
    at = _technique(_page(PLAY, tiny), "Zero-shot")
    at.text_area(key="play_template").set_value("Review: {review}").run()
    assert any("unknown variable(s): {review}" in e.value for e in at.error)
    assert at.text_area(key="play_template").value == "Review: {review}"


def test_chain_of_thought_extracts_an_answer_or_says_there_is_none(tiny):
    at = _technique(_page(PLAY, tiny), "Chain-of-thought")
    at.number_input(key="play_max_new").set_value(8)
    at.button(key="play_run").click().run()
    assert not at.exception
    assert any("extracted from the reasoning" in i.value or "No final answer found" in i.value
               for i in at.info)


@pytest.mark.integration
def test_react_runs_the_loop_and_shows_the_trace():
    smol = ModelSpec(source="embedded:smollm2-135m-instruct", engine="llama.cpp")
    at = _technique(_page(PLAY, smol), "ReAct")
    at.text_input(key="play_question").set_value("What is 17 * 23?")
    at.number_input(key="play_steps").set_value(2)
    at.button(key="play_run").click().run()
    assert not at.exception
    text = _text(at)
    assert "Step 1:" in text
    # not a sample question: no reference, so the final answer is neutral, never green
    assert any("Final answer" in s.value for s in at.info) or \
        any("No answer within 2 steps" in w.value for w in at.warning)
    assert not any("Final answer" in s.value for s in at.success)
    assert "Observation" in text or "finish[" in text
    assert any("engine: llama.cpp" in c.value and "tokens/s" in c.value for c in at.caption)
    # every step's generation is in History, like any other answer
    from core.history import list_generations

    steps = [s for s in list_generations() if s.source == "playground:ReAct"]
    assert len(steps) == text.count("Step ") and steps[-1].prompt.startswith("Answer the question")
    assert "Question: What is 17 * 23?" in steps[-1].prompt


def test_few_shot_uses_a_saved_set(tiny):
    save_set(FewShotSet("two", (Example("good", "POSITIVE"), Example("bad", "NEGATIVE")),
                        "Classify.", "Review: {input}\nSentiment:", ("POSITIVE", "NEGATIVE")))
    at = _technique(_page(PLAY, tiny), "Few-shot")
    at.slider(key="play_k").set_value(2).run()
    assert "Review: good\nSentiment: POSITIVE\n\nReview: bad\nSentiment: NEGATIVE" in _exact_text(at)


def test_few_shot_without_sets_points_to_the_builder(tiny):
    at = _technique(_page(PLAY, tiny), "Few-shot")
    assert any("build one in the Few-shot builder" in i.value for i in at.info)


def test_input_survives_switching_techniques_and_pages(tiny):
    at = _technique(_page(PLAY, tiny), "Zero-shot")
    at.text_area(key="play_input").set_value("my own careful input").run()
    _technique(at, "Free text")
    _technique(at, "Zero-shot")
    assert at.text_area(key="play_input").value == "my own careful input"
    at.switch_page("pages/2_History.py").run()
    at.switch_page(PLAY).run()
    assert at.text_area(key="play_input").value == "my own careful input"


def _builder(tiny):
    at = _page(BUILDER, tiny)
    assert not at.exception, at.exception
    return at


def test_builder_loads_a_task_previews_budgets_and_saves_a_set(tiny):
    at = _builder(tiny)
    at.number_input(key="fs_n").set_value(12)
    at.button(key="fs_load_task").click().run()
    assert not at.exception
    at.text_area(key="fs_query").set_value("The lid leaks but the tea tastes great.").run()
    preview = next(c.value for c in at.code if "The lid leaks" in c.value)
    assert preview.count("Sentiment:") == 5  # 4 examples and the query
    assert any("Context budget" in c.proto.spec for c in at.get("plotly_chart"))
    at.text_input(key="fs_name").set_value("demo-4").run()
    at.button(key="fs_save").click().run()
    assert list_sets() == ["demo-4"] and len(load_set("demo-4").examples) == 4
    assert load_set("demo-4").labels == ("POSITIVE", "NEGATIVE", "MIXED")


def test_builder_measures_how_many_shots(tiny):
    at = _builder(tiny)
    at.number_input(key="fs_n").set_value(30)
    at.button(key="fs_load_task").click().run()
    at.number_input(key="fs_val_n").set_value(6)
    at.button(key="fs_curve").click().run()
    assert not at.exception, at.exception
    frame = at.dataframe[-1].value
    assert list(frame["k"]) == [0, 1, 2, 4, 8]
    assert any("How many shots?" in c.proto.spec for c in at.get("plotly_chart"))


def test_builder_bad_inputs_are_named(tiny):
    at = _builder(tiny)
    at.button(key="fs_load_task").click().run()
    at.text_area(key="fs_template").set_value("Review: {text}").run()
    assert any("unknown variable(s): {text}" in e.value for e in at.error)
    at.text_area(key="fs_template").set_value("Review: {input}\nSentiment:")
    at.text_input(key="fs_name").set_value("../evil").run()
    at.button(key="fs_save").click().run()
    assert any("not a usable few-shot set name" in e.value for e in at.error)
    assert list_sets() == []


def test_builder_overflowing_set_says_how_many_fit(tiny):
    at = _builder(tiny)
    at.session_state["fs_table"] = pd.DataFrame(
        [{"use": True, "order": i, "input": "word " * 150, "label": "POSITIVE"} for i in range(20)])
    at.session_state["fs_table_version"] = 99
    at.selectbox(key="fs_strategy").set_value("manual").run()
    assert any("Use at most" in e.value and "of the 20 examples" in e.value for e in at.error)


def test_builder_empty_table_is_explained(tiny):
    at = _builder(tiny)  # a first visit: a note on where to start, not an error
    assert not at.error and any("No examples yet" in i.value for i in at.info)
    at.button(key="fs_curve").click().run()  # measuring an empty table is one
    assert any("example table is empty" in e.value for e in at.error)


def test_rag_technique_puts_retrieved_passages_in_the_prompt_and_lists_citations(tiny):
    at = _technique(_page(PLAY, tiny), "RAG")
    assert "[1] (catalogue-tents.md)" in _exact_text(at)
    assert ("Question: How much does the Karsk 2P tent cost and how much does it weigh?\nAnswer:"
            in _exact_text(at))
    at.number_input(key="play_max_new").set_value(6)
    at.button(key="play_run").click().run()
    assert not at.exception, at.exception
    assert any("Cites:" in c.value for c in at.caption)
    assert any("retrieved passages" in e.label for e in at.expander)
