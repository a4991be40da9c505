"""The Playground and History as a first-time user meets them (issue 14), under AppTest on the
tiny model: answers judged against the example's reference, in the colour that says so;
the two readings of a classification answer side by side; empty answers explained; speeds
apart; structured output opening on its task; History reopening an answer as it was asked."""

from __future__ import annotations

from core.config import GenerationParams, ModelSpec
from core.generation import Completion
from core.history import list_generations, record_generation
from core.reference import find_reference, tasks_of
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture
from ui.engine import SPEC_KEY

PLAY = "pages/1_Playground.py"
HISTORY = "pages/2_History.py"


def _tiny(tiny_long_model_dir) -> ModelSpec:
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32")


def _technique(at, name):
    at.radio(key="play_mode").set_value(name).run()
    assert not at.exception, at.exception
    return at


def test_a_classification_answer_shows_both_readings_and_its_reference(tiny_long_model_dir):
    at = _technique(_page(PLAY, _tiny(tiny_long_model_dir)), "Zero-shot")  # input: a test review
    at.number_input(key="play_max_new").set_value(3)
    at.button(key="play_run").click().run()
    assert not at.exception, at.exception
    text = _text(at)
    assert "The answer it wrote" in text and "Scored prediction (what Compare counts)" in text
    boxes = [*at.success, *at.error, *at.warning]
    reference = next(b.value for b in boxes if "Reference answer: MIXED" in b.value)
    assert "The answer it wrote" in reference and "The scored prediction" in reference
    green = [b.value for b in at.success if "Reference answer" in b.value]
    # green only where both readings are right
    assert not green or ("**wrong**" not in green[0] and "**no answer**" not in green[0])
    if "**wrong**" in reference:
        assert not green


def test_a_wrong_or_missing_react_answer_on_the_sample_question_is_never_green(tiny_long_model_dir):
    at = _technique(_page(PLAY, _tiny(tiny_long_model_dir)), "ReAct")  # 17 * 23 + 348 / 12
    at.number_input(key="play_steps").set_value(1)
    at.button(key="play_run").click().run()
    assert not at.exception, at.exception
    assert not at.success, [s.value for s in at.success]  # the tiny model never answers 420
    assert any("Reference answer: 420" in e.value and "shop-math" in e.value for e in at.error)


def test_an_empty_answer_says_why(tiny_long_model_dir):
    at = _page(PLAY, _tiny(tiny_long_model_dir))
    at.session_state["play_last"] = {
        "mode": "Free text", "labels": (), "schema": None, "stops": ("\n",), "reference": None,
        "completion": Completion("", 12, 1, 0.4, "stop", "llama.cpp", "m", 0.3)}
    at.run()
    warning = next(w.value for w in at.warning if "Empty answer" in w.value)
    assert "first token" in warning or "end" in warning
    assert "'\\n'" in warning or "stop" in warning


def test_figures_show_decoding_and_prompt_speed_apart(tiny_long_model_dir):
    at = _page(PLAY, _tiny(tiny_long_model_dir))
    at.text_area(key="play_prompt").set_value("The quick brown")
    at.number_input(key="play_max_new").set_value(6)
    at.button(key="play_run").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert "Tokens/s" in metrics and metrics["Prompt speed"].endswith("tok/s")
    assert "First token" in metrics
    done = list_generations()[0]
    if done.completion_tokens >= 2:
        assert float(metrics["Tokens/s"]) > done.tokens_per_s  # decoding alone is faster
    assert any("over the whole latency" in c.value for c in at.caption)
    # one element reads "Tokens/s" (the browser tests wait for it): no other label says it
    assert [label for label in metrics if "tokens/s" in label.lower()] == ["Tokens/s"]
    assert not any("tokens/s" in c.value.lower() for c in at.caption)


def test_structured_output_opens_on_a_task_with_a_schema_and_gives_the_task_back(tiny_long_model_dir):
    at = _technique(_page(PLAY, _tiny(tiny_long_model_dir)), "Zero-shot")
    assert at.session_state["play_task"] == "review-sentiment"
    _technique(at, "Structured output")
    assert at.session_state["play_task"] == "event-extraction"
    assert "Message:" in at.code[0].value and '"date"' in at.text_area(key="play_schema").value
    # room for a whole JSON object: the default 64 tokens cut the sample's answer every time
    assert at.number_input(key="play_max_new").value >= 160
    _technique(at, "Zero-shot")
    assert at.session_state["play_task"] == "review-sentiment"


def test_history_reopens_a_structured_answer_as_it_was_asked(tiny_long_model_dir):
    tiny = _tiny(tiny_long_model_dir)
    at = _technique(_page(PLAY, tiny), "Structured output")
    at.toggle(key="play_constrained").set_value(False)
    at.number_input(key="play_max_new").set_value(3)
    at.button(key="play_run").click().run()
    assert not at.exception, at.exception
    schema = at.session_state["play_schema"]
    saved = list_generations()[0]
    assert saved.setup["technique"] == "Structured output" and saved.setup["task"] == "event-extraction"
    _technique(at, "Free text")
    at.switch_page(HISTORY).run()
    assert "Structured output · event-extraction" in list(at.dataframe[0].value["how"])
    at.button(key="hist_reload").click().run()
    assert not at.exception, at.exception
    state = at.session_state
    assert state["play_mode"] == "Structured output" and state["play_task"] == "event-extraction"
    assert state["play_schema"] == schema and state["play_constrained"] is False
    assert state["play_max_new"] == 3
    assert any("Reopened History entry" in i.value for i in at.info)


def test_history_reopen_switches_back_to_the_model_that_answered(tiny_long_model_dir):
    tiny = _tiny(tiny_long_model_dir)
    setup = {"technique": "Zero-shot", "task": "review-sentiment",
             "fields": {"play_task": "review-sentiment", "play_instruction": "Classify.",
                        "play_template": "Review: {input}\nSentiment:", "play_input": "Fine."},
             "recipe": None, "user_stops": [],
             "model": {"source": "embedded:smollm2-135m-instruct", "engine": "llama.cpp"}}
    done = Completion(" Mixed.", 20, 3, 0.5, "stop", "llama.cpp", "embedded:smollm2-135m-instruct")
    record_generation("Classify.\n\nReview: Fine.\nSentiment:", GenerationParams(), done,
                      source="playground:Zero-shot", setup=setup)
    at = _page(HISTORY, tiny)
    at.button(key="hist_reload").click().run()
    assert not at.exception, at.exception
    assert at.session_state[SPEC_KEY].source == "embedded:smollm2-135m-instruct"
    assert at.session_state["play_input"] == "Fine."
    assert any("switched back to embedded:smollm2-135m-instruct" in w.value for w in at.warning)


def test_an_old_history_row_reopens_as_free_text_with_a_note(tiny_long_model_dir):
    done = Completion("an answer", 3, 2, 0.2, "stop", "transformers", "someone-else/model")
    record_generation("old prompt", GenerationParams(max_new_tokens=9), done)
    at = _page(HISTORY, _tiny(tiny_long_model_dir))
    assert any("reopens as free text" in c.value for c in at.caption)
    at.button(key="hist_reload").click().run()
    assert at.session_state["play_mode"] == "Free text"
    assert at.session_state["play_prompt"] == "old prompt"
    notice = " ".join(w.value for w in at.warning)
    assert "technique and task are not known" in notice and "someone-else/model" in notice


def test_a_rag_answer_with_the_wrong_price_and_an_invented_passage_is_flagged(tiny_long_model_dir):
    from core.rag import RagConfig, build_rag_prompt

    at = _technique(_page(PLAY, _tiny(tiny_long_model_dir)), "RAG")  # builds the sample collection
    question = at.session_state["play_rag_question"]  # a sample question: €349, 2,140 g
    rag = build_rag_prompt(RagConfig("lumen-outfitters", 3), question)
    reference = find_reference(question, tasks_of(("qa",), "lumen-outfitters"))
    at.session_state["play_last"] = {
        "mode": "RAG", "labels": (), "schema": None, "stops": rag.stops, "hits": rag.hits,
        "reference": reference,
        "completion": Completion("€279 [1]. [4] (company-history.md) Founded in 2009.", 300, 20,
                                 1.0, "stop", "llama.cpp", "m", 0.8)}
    at.run()
    assert not at.exception, at.exception
    assert any("cites [4]" in w.value and "held 3 passages" in w.value for w in at.warning)
    assert any("Reference answer: €349, 2,140 g" in e.value for e in at.error)
    assert not at.success
