"""Prompt techniques: the exact text each builds, answer extraction, structured checks."""

from __future__ import annotations

import json

import pytest

from core.chat import plain_chat_prompt
from core.errors import ConfigError
from core.prompting import (Example, PromptRecipe, build_prompt, check_structured, check_template,
                            extract_answer, first_label)

LABELS = ("POSITIVE", "NEGATIVE", "MIXED")
SHOTS = (Example("Great kettle.", "POSITIVE"), Example("Broke in a week.", "NEGATIVE"))


def test_zero_shot_is_instruction_then_the_filled_template():
    recipe = PromptRecipe("zero-shot", "Classify the review.", "Review: {input}\nSentiment:")
    built = build_prompt(recipe, "Loud but fast.")
    assert built.text == "Classify the review.\n\nReview: Loud but fast.\nSentiment:"
    assert "\n\n" in built.stops


def test_few_shot_puts_each_example_in_the_same_template_in_order():
    recipe = PromptRecipe("few-shot", "Classify.", "Review: {input}\nSentiment:", SHOTS)
    text = build_prompt(recipe, "Loud but fast.").text
    assert text == ("Classify.\n\nReview: Great kettle.\nSentiment: POSITIVE\n\n"
                    "Review: Broke in a week.\nSentiment: NEGATIVE\n\n"
                    "Review: Loud but fast.\nSentiment:")


def test_system_technique_goes_through_the_chat_format():
    recipe = PromptRecipe("system", "Classify.", "Review: {input}", system="Be terse.")
    text = build_prompt(recipe, "Nice.", chat_prompt=plain_chat_prompt).text
    assert text == "Be terse.\n\nUser: Classify.\nReview: Nice.\nAssistant:"


def test_chain_of_thought_asks_for_a_final_answer_line():
    text = build_prompt(PromptRecipe("chain-of-thought", "Classify."), "Nice.").text
    assert "Answer: <answer>" in text and text.endswith("Let's think step by step.")


def test_structured_carries_the_schema_and_constrains_only_when_asked():
    schema = '{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}'
    on = build_prompt(PromptRecipe("structured", json_schema=schema), "x")
    off = build_prompt(PromptRecipe("structured", json_schema=schema, constrained=False), "x")
    assert '"required":["a"]' in on.text.replace(" ", "") and on.json_schema
    assert off.json_schema is None


@pytest.mark.parametrize("template, message", [
    ("Review: {review}", "unknown variable(s): {review}"),
    ("Review: {input", "malformed"),
    ("No variable here", "has no {input}"),
    ("", "empty"),
])
def test_bad_templates_name_the_problem(template, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("(", r"\(").replace(")", r"\)")):
        check_template(template)


def test_literal_braces_are_allowed_when_doubled():
    assert build_prompt(PromptRecipe(template='{{"text": "{input}"}}'), "hi").text == '{"text": "hi"}'


def test_few_shot_without_examples_and_structured_without_schema_are_refused():
    with pytest.raises(ConfigError, match="set is empty"):
        PromptRecipe("few-shot")
    with pytest.raises(ConfigError, match="needs a JSON Schema"):
        PromptRecipe("structured")
    with pytest.raises(ConfigError, match="not valid JSON"):
        PromptRecipe("structured", json_schema="{nope")


def test_empty_input_is_refused():
    with pytest.raises(ConfigError, match="input is empty"):
        build_prompt(PromptRecipe(), "   ")


@pytest.mark.parametrize("text, expected", [
    ("The battery is good but the screen is bad. So it is mixed.\nAnswer: MIXED", "MIXED"),
    ("Positive words first, then negative ones... answer is negative.", "NEGATIVE"),
    ("It starts POSITIVE, ends NEGATIVE", "NEGATIVE"),
    ("no label at all", None),
])
def test_extract_answer_reads_the_final_label(text, expected):
    assert extract_answer(text, LABELS) == expected


def test_extract_answer_numbers():
    assert extract_answer("17*23 = 391, plus 29 gives 420.\nAnswer: 420", numeric=True) == "420"
    assert extract_answer("we get 1,234.50 in the end", numeric=True) == "1234.5"


def test_first_label_of_a_direct_answer():
    assert first_label(" negative, clearly", LABELS) == "NEGATIVE"
    assert first_label("meh", LABELS) is None


def test_structured_check_parses_validates_and_explains():
    schema = json.dumps({"type": "object", "properties": {"n": {"type": "integer"}},
                         "required": ["n"], "additionalProperties": False})
    assert check_structured('Sure: {"n": 3} done', schema).valid
    wrong = check_structured('{"n": "three"}', schema)
    assert wrong.parsed and not wrong.valid and "n: 'three' is not of type 'integer'" in wrong.errors[0]
    broken = check_structured('{"n": 3', schema)
    assert not broken.parsed and "no complete JSON object" in broken.errors[0]
    assert check_structured('{"s": "a } brace", "n": 1}', json.dumps({"type": "object"})).valid
