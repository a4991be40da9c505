"""The shape of the prompts the lab builds: no query among its own shots, stops that fit the
template, a system prompt a base model answers, a compact schema, RAG stops and citations."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from core.answers import empty_answer_reason
from core.chat import plain_chat_prompt
from core.config import GenerationParams
from core.prompting import Example, PromptRecipe, answer_cue, build_prompt
from core.tasks import list_tasks, load_split, load_task

TEMPLATE = "Review: {input}\nSentiment:"
SHOTS = (Example("Wore these boots for a 12-hour shift.", "POSITIVE"),
         Example("Broke in a week.", "NEGATIVE"),
         Example("Loud but fast.", "MIXED"))


def test_the_query_is_never_one_of_its_own_shots():
    recipe = PromptRecipe("few-shot", "Classify.", TEMPLATE, SHOTS)
    # the same text with other case and spacing is still the same query
    built = build_prompt(recipe, "  wore these boots for a   12-hour SHIFT. ")
    assert "Wore these boots" not in built.text
    assert built.text.count("Review:") == 3  # two shots and the query
    assert (built.shots, built.dropped_shots) == (2, 1)
    assert "1 example left out: it is the query itself" in built.shots_note


def test_a_query_that_is_no_shot_keeps_every_shot_and_says_nothing():
    built = build_prompt(PromptRecipe("few-shot", "Classify.", TEMPLATE, SHOTS), "Nice kettle.")
    assert (built.shots, built.dropped_shots, built.shots_note) == (3, 0, None)
    assert built.text.count("Review:") == 4


def test_dropping_the_only_shot_builds_a_zero_shot_prompt_and_says_so():
    recipe = PromptRecipe("few-shot", "Classify.", TEMPLATE, SHOTS[:1])
    built = build_prompt(recipe, SHOTS[0].input)
    zero = build_prompt(PromptRecipe("zero-shot", "Classify.", TEMPLATE), SHOTS[0].input)
    assert built.text == zero.text
    assert (built.shots, built.dropped_shots) == (0, 1)
    assert "the prompt is zero-shot" in built.shots_note


def test_structured_examples_leave_out_the_query_too():
    schema = '{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}'
    shots = (Example("one apple", '{"a": 1}'), Example("two pears", '{"a": 2}'))
    built = build_prompt(PromptRecipe("structured", "Count.", "Text: {input}\nJSON:", shots,
                                      json_schema=schema), "Two pears")
    assert '{"a": 2}' not in built.text and '{"a": 1}' in built.text
    assert (built.shots, built.dropped_shots) == (1, 1)


def test_stops_come_from_the_template_in_use():
    review = build_prompt(PromptRecipe("zero-shot", "Classify.", TEMPLATE), "Nice.")
    assert review.stops == ("\n\n", "\nReview:")
    assert "\nInput:" not in review.stops
    few = build_prompt(PromptRecipe("few-shot", "Classify.", TEMPLATE, SHOTS), "Nice.")
    assert few.stops == ("\n\n", "\nReview:")
    default = build_prompt(PromptRecipe("zero-shot", "Classify."), "Nice.")
    assert default.stops == ("\n\n", "\nInput:")
    # a marker on the input's own line after an instruction line, literal braces rendered
    odd = build_prompt(PromptRecipe("zero-shot", "", "Read this.\n{{Q}} {input}\nA:"), "x")
    assert odd.stops == ("\n\n", "\n{Q}")
    bare = build_prompt(PromptRecipe("zero-shot", "", "{input}\nSentiment:"), "x")
    assert bare.stops == ("\n\n",)


def test_reasoning_may_run_over_lines_but_stops_at_a_new_input():
    cot = build_prompt(PromptRecipe("chain-of-thought", "Solve.", "Question: {input}\nAnswer:"),
                       "2+2?")
    assert cot.stops == ("\n\n\n", "\nQuestion:")


def test_the_answer_cue_is_the_templates_last_line_without_the_input():
    assert answer_cue(TEMPLATE) == ("Review: {input}", "Sentiment:")
    assert answer_cue("Q: {input}") == ("Q: {input}", "")
    assert answer_cue("Text:\n{input}") == ("Text:\n{input}", "")
    assert answer_cue("Q: {input}\n{{JSON}}:") == ("Q: {input}", "{JSON}:")


def test_system_prompt_opens_the_assistant_turn_on_the_cue_instead_of_stacking_both():
    recipe = PromptRecipe("system", "Classify.", TEMPLATE, system="Be terse.")
    built = build_prompt(recipe, "Nice.", chat_prompt=plain_chat_prompt)
    assert built.text == "Be terse.\n\nUser: Classify.\nReview: Nice.\nAssistant: Sentiment:"
    assert "Sentiment:\nAssistant:" not in built.text
    # the plain turn format's stop and the template's own
    assert built.stops == ("\nUser:", "\n\n", "\nReview:")


def test_system_prompt_through_a_chat_template_starts_the_assistant_line_with_the_cue():
    def chatml(messages):
        return "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages) + \
            "<|im_start|>assistant\n"

    built = build_prompt(PromptRecipe("system", "Classify.", TEMPLATE, system="Be terse."),
                         "Nice.", chat_prompt=chatml)
    assert built.text.endswith("Review: Nice.<|im_end|>\n<|im_start|>assistant\nSentiment:")
    assert built.stops == ("\n\n", "\nReview:")


def test_an_empty_answer_says_why():
    assert empty_answer_reason(" POSITIVE", "stop", ("\nUser:",), 2) is None
    newline = empty_answer_reason("", "stop", ("\nUser:", "\n\n"), 3)
    assert "first token was a newline" in newline and "'\\nUser:'" in newline
    assert "3 answer tokens" in newline
    assert "end-of-text" in empty_answer_reason("", "stop", (), 1)
    assert "token limit" in empty_answer_reason("\n\n ", "length", ("\nUser:",), 8)
    assert "stopped" in empty_answer_reason("", "cancelled", (), 0)


@pytest.mark.integration
@pytest.mark.parametrize("task_name", list_tasks())
def test_system_prompt_on_gemma_answers_every_sample_task(gemma_engine, task_name):
    """The reported case: Gemma (no chat template) gave an empty answer to the system
    technique, because the task's cue sat over 'Assistant:'."""
    task = load_task(task_name)
    recipe = PromptRecipe("system", task.instruction, task.prompt_template,
                          system="You are a helpful assistant. Answer in one word.")
    for row in load_split(task_name, "test", limit=2):
        built = build_prompt(recipe, row[task.input_field], gemma_engine.chat_prompt)
        answer = gemma_engine.generate(built.text, GenerationParams(
            max_new_tokens=12, temperature=0.0, stop=built.stops))
        assert answer.text.strip(), empty_answer_reason(answer.text, answer.finish_reason,
                                                        built.stops, answer.completion_tokens)


def test_structured_prompt_shows_the_schemas_rules_not_its_labels():
    task = load_task("event-extraction")
    built = build_prompt(PromptRecipe("structured", task.instruction, task.prompt_template,
                                      json_schema=task.schema), "Picnic in Leeds on 2027-06-01.")
    for word in ("$schema", "$id", "Event extraction answer", "description",
                 "Short name of the event"):
        assert word not in built.text
    # every field and rule the answer must follow is still there
    for rule in ('"title"', '"date"', '"time"', '"city"', '"attendees"', '"required"',
                 "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", '"additionalProperties": false'):
        assert rule in built.text
    full = build_prompt(PromptRecipe("structured", task.instruction, task.prompt_template,
                                     json_schema=task.schema), "x")
    # constrained decoding gets the whole schema
    assert json.loads(full.json_schema) == json.loads(task.schema)
    full_length = len(task.schema.replace(" ", "").replace("\n", ""))
    schema_line = built.text.split("JSON Schema:\n", 1)[1].split("\n", 1)[0]
    assert len(schema_line) < 0.5 * full_length


def test_fields_named_like_annotations_are_kept():
    schema = ('{"title": "Note", "type": "object", "properties": {"title": {"type": "string", '
              '"description": "a name"}, "description": {"type": "string"}}}')
    text = build_prompt(PromptRecipe("structured", json_schema=schema), "x").text
    shown = json.loads(text.split("JSON Schema:\n", 1)[1].split("\n", 1)[0])
    assert shown == {"type": "object", "properties": {"title": {"type": "string"},
                                                      "description": {"type": "string"}}}


RAG_DOCS = {"tents.md": "# Tents\n\n## Karsk 2P\nThe Karsk 2P tent costs 289 euros.\n\n"
                        "## Fjell 3P\nThe Fjell 3P tent costs 412 euros.\n\n"
                        "## Vidde 4P\nThe Vidde 4P tent costs 349 euros.",
            "hours.md": "# Opening hours\n\nThe Valdmark store opens at 09:30 on weekdays."}


def test_a_rag_answer_stops_where_the_model_starts_a_passage_of_its_own():
    from core.generation import cut_at_stop
    from core.knowledge import ChunkSettings, build_collection, format_hits, search
    from core.rag import RagConfig, build_rag_prompt

    build_collection("shop", RAG_DOCS, ChunkSettings(size=100, overlap=0))
    rag = build_rag_prompt(RagConfig("shop", top_k=3), "How much is the Vidde 4P?")
    assert len(rag.hits) == 3 and "[3] (" in rag.text and "[4]" not in rag.text
    # what the model wrote: its answer, then a fourth passage in the prompt's own format
    fourth = search("shop", "How much is the Vidde 4P?", k=4)[3]
    invented = format_hits([dataclasses.replace(fourth, rank=4)])
    assert invented.startswith("[4] (")
    answer, stopped = cut_at_stop(" 349 euros [1]\n" + invented, rag.stops)
    assert stopped and answer == " 349 euros [1]"
    answer, _ = cut_at_stop(" 349 euros [1]\n\nQuestion: And the Karsk?", rag.stops)
    assert answer == " 349 euros [1]"


def test_citations_to_passages_the_prompt_does_not_have_are_named():
    from core.rag import citations, unknown_citations

    assert unknown_citations("279 euros [4], see [1] and [2, 5], again [4]", 3) == [4, 5]
    assert unknown_citations("349 euros [3]", 3) == []
    assert unknown_citations("no citation", 3) == []
    assert unknown_citations("see [0]", 2) == [0]
    assert citations("[3][1] and [1, 2]") == [3, 1, 2]


@pytest.mark.integration
def test_gemma_answers_a_sample_question_without_inventing_a_passage(gemma_engine):
    from core.knowledge import ensure_sample_collection
    from core.rag import RagConfig, build_rag_prompt, unknown_citations

    collection = ensure_sample_collection()
    question = load_split("handbook-qa", "test", limit=1)[0]["question"]
    # the reported run-on: Gemma answered 'Ingrid Halvorsen and Tomas Brandt', then wrote
    # '[4] (company-history.md) # Lumen Outfitters: ...', a passage the prompt did not have
    rag = build_rag_prompt(RagConfig(collection, top_k=3), question)
    answer = gemma_engine.generate(rag.text, GenerationParams(max_new_tokens=48,
                                                              temperature=0.0, stop=rag.stops))
    assert answer.text.strip()
    assert not re.search(r"\[\d+\] \(", answer.text), answer.text
    assert unknown_citations(answer.text, len(rag.hits)) == []
