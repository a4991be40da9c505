"""The shape of the prompts the lab builds: no query among its own shots, stops that fit the
template, a system prompt a base model answers, a compact schema, RAG stops and citations."""

from __future__ import annotations

from core.prompting import Example, PromptRecipe, build_prompt

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
