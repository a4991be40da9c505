"""The judge: its prompt is checked and shown exactly, its verdicts are read from label
probabilities, a verdict that changes with the answers' order becomes a tie (position bias),
and its votes are stored as a judge's ratings."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from core.config import ModelSpec
from core.errors import ConfigError, PromptTooLongError
from core.generation import CandidateScore
from core.judge import (DEFAULT_PROMPT, JudgeConfig, agreement_words, bias_words, judge_name,
                        judge_pairs, judge_prompt, position_bias, run_judge)
from core.review import VOTES, build_pairs

SPEC = ModelSpec(source="embedded:gemma-3-270m")

MESSAGES = ["My parcel is late.", "The lamp arrived broken.", "Can I change my address?",
            "Do you ship abroad?", "I was charged twice.", "Where is my refund?"]


def made_up_results(comparison: str = "cmp-judge", reference: bool = True) -> dict:
    """A comparison of two setups on six free-text examples: one answers in the house style
    (good), the other with a curt word (bad)."""
    return {"id": comparison, "task": {"name": "support", "title": "Support", "kind": "text"},
            "variants": [{"name": "curt"}, {"name": "house style"}],
            "examples": [{"id": str(i), "input": m,
                          "reference": "Hello, sorry about that: we will fix it. Regards" if reference else "",
                          "outputs": {"curt": {"prediction": "no"},
                                      "house style": {"prediction": f"Hello, good news about {i}. Regards"}}}
                         for i, m in enumerate(MESSAGES)]}


@pytest.fixture(scope="module")
def tiny_long_engine(tiny_long_model_dir):
    """The tiny model with a window long enough for the default judge prompt."""
    from core.hf_engine import TransformersEngine

    return TransformersEngine.load(ModelSpec(source=str(tiny_long_model_dir), dtype="float32"))


class FakeEngine:
    """An engine whose label probabilities are made to order: ``likes(prompt)`` names the label
    it favours (" A", " B" or " tie"), so the judge's logic is checked without a model."""

    def __init__(self, likes, window: int = 4096) -> None:
        self.likes = likes
        self.info = SimpleNamespace(context_window=window, title="Fake")

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def score_batch(self, prompts, candidates, batch_size=16):
        rows = []
        for prompt in prompts:
            liked = self.likes(prompt)
            if isinstance(liked, str):
                liked = {liked.lower(): 0.0}
            logprobs = [liked.get(c.strip().lower(), -3.0) for c in candidates]
            total = sum(math.exp(lp) for lp in logprobs)
            rows.append([CandidateScore(c, lp, 1, math.exp(lp) / total)
                         for c, lp in zip(candidates, logprobs)])
        return rows


def _answer_a(prompt: str) -> str:
    return prompt.split("Answer A:\n")[1].split("\n\nAnswer B:")[0]


def good_judge(prompt: str) -> str:
    """Picks the house-style answer, wherever it stands."""
    return "A" if "good news" in _answer_a(prompt) else "B"


def test_a_prompt_without_a_placeholder_it_needs_is_refused_naming_it():
    with pytest.raises(ConfigError) as caught:
        JudgeConfig(SPEC, prompt="Message: {input}\nAnswer A: {answer_a}\nBetter answer:")
    assert "{answer_b}" in caught.value.problem and "Answer B" in caught.value.fix


@pytest.mark.parametrize("prompt, named", [
    ("{input} {answer_a} {answer_b} {foo}", "{foo}"),
    ("{input} {answer_a} {answer_b} {}", "{}"),
    ("{input!r} {answer_a} {answer_b}", "{input!r}"),
])
def test_an_unknown_placeholder_is_refused_naming_it_and_the_known_ones(prompt, named):
    with pytest.raises(ConfigError) as caught:
        JudgeConfig(SPEC, prompt=prompt)
    assert named in caught.value.problem
    assert "{reference}" in caught.value.fix and "{{" in caught.value.fix


@pytest.mark.parametrize("prompt", ["{input} {answer_a} {answer_b} }", "{input {answer_a}", ""])
def test_braces_that_do_not_format_or_an_empty_prompt_are_refused(prompt):
    with pytest.raises(ConfigError) as caught:
        JudgeConfig(SPEC, prompt=prompt)
    assert caught.value.fix


def test_literal_braces_written_twice_are_kept_and_the_settings_types_checked():
    config = JudgeConfig(SPEC, prompt="JSON {{ok}}\n{input}\n{answer_a}\n{answer_b}\nBetter answer:")
    pair = build_pairs(made_up_results(), n=1)[0]
    assert judge_prompt(config, pair).startswith("JSON {ok}\n")
    with pytest.raises(ConfigError, match="both_orders"):
        JudgeConfig(SPEC, both_orders="yes")
    with pytest.raises(ConfigError, match="model"):
        JudgeConfig("embedded:gemma-3-270m")


def test_the_prompt_shown_is_the_text_the_model_reads_in_the_shown_order():
    pair = build_pairs(made_up_results(), n=1)[0]
    text = judge_prompt(JudgeConfig(SPEC), pair)
    assert pair.input in text and "Reference reply:\nHello, sorry" in text
    assert text.index(pair.answer_a) < text.index("Answer B:") < text.index(pair.answer_b)
    assert text.endswith("Better answer:")
    assert "curt" not in text and "house style" not in text  # the judge is blind too


def test_a_task_without_references_gets_no_reference_part():
    pair = build_pairs(made_up_results(reference=False), n=1)[0]
    assert "eference" not in judge_prompt(JudgeConfig(SPEC), pair)
    own = JudgeConfig(SPEC, prompt="{input}|{reference}|{answer_a}|{answer_b}")
    assert judge_prompt(own, pair).split("|")[1] == "(none)"


def test_a_judge_that_always_picks_the_first_answer_gives_ties_counted_as_position_bias():
    pairs = build_pairs(made_up_results(), n=None)
    verdicts = judge_pairs(pairs, JudgeConfig(SPEC), FakeEngine(lambda p: "A"))
    assert [v.vote for v in verdicts] == ["tie"] * len(pairs)
    bias = position_bias(verdicts)
    assert bias["order_dependent"] == len(pairs) and bias["rate"] == 1.0
    assert bias["first_position_twice"] == len(pairs)
    assert f"on {len(pairs)} of {len(pairs)} pairs" in bias_words(bias)


def test_a_judge_that_sees_quality_is_consistent_in_both_orders():
    pairs = build_pairs(made_up_results(), n=None)
    verdicts = judge_pairs(pairs, JudgeConfig(SPEC), FakeEngine(good_judge))
    for pair, verdict in zip(pairs, verdicts):
        assert verdict.vote == ("A" if pair.setup_a == "house style" else "B")
        assert not verdict.order_dependent
    assert position_bias(verdicts)["rate"] == 0.0


def test_a_judge_biased_to_the_first_place_still_shows_where_it_leans():
    """First place gets most of the probability, the house-style answer a little more: every
    verdict is a tie by the rule, and the lean (position averaged out) finds the better one."""
    def biased(prompt):
        first_good = "good news" in _answer_a(prompt)
        return {"a": 0.0 if first_good else -0.5, "b": -2.0 if first_good else -2.5}

    pairs = build_pairs(made_up_results(), n=None)
    verdicts = judge_pairs(pairs, JudgeConfig(SPEC), FakeEngine(biased))
    assert {v.vote for v in verdicts} == {"tie"}
    assert [v.lean for v in verdicts] == ["A" if p.setup_a == "house style" else "B" for p in pairs]


def test_asked_once_the_first_verdict_stands_and_bias_is_not_measured():
    pairs = build_pairs(made_up_results(), n=3)
    verdicts = judge_pairs(pairs, JudgeConfig(SPEC, both_orders=False), FakeEngine(lambda p: "A"))
    assert [v.vote for v in verdicts] == ["A"] * 3 and all(v.second is None for v in verdicts)
    assert all(v.lean is None for v in verdicts)
    assert "not measured" in bias_words(position_bias(verdicts))


def test_a_prompt_too_long_for_the_judge_is_refused_naming_the_pair():
    pairs = build_pairs(made_up_results(), n=2)
    with pytest.raises(PromptTooLongError) as caught:
        judge_pairs(pairs, JudgeConfig(SPEC), FakeEngine(good_judge, window=20))
    assert pairs[0].id in caught.value.problem


def test_verdicts_are_stored_as_the_judges_ratings_and_a_rerun_replaces_them(
        tiny_long_engine, tiny_long_model_dir):
    from core import review_store

    results = made_up_results()
    pairs = build_pairs(results, n=4)
    config = JudgeConfig(ModelSpec(source=str(tiny_long_model_dir), dtype="float32"))
    seen = []
    verdicts = run_judge(results["id"], pairs, config, tiny_long_engine,
                         progress=lambda done, total: seen.append((done, total)))
    assert [v.pair for v in verdicts] == [p.id for p in pairs]
    assert all(v.vote in VOTES and abs(sum(v.probabilities) - 1) < 0.01 for v in verdicts)
    assert seen[-1] == (8, 8)  # both orders of four pairs
    stored = review_store.ratings(results["id"])
    name = judge_name(config.model)
    assert {(r.pair, r.reviewer, r.source) for r in stored} == {(p.id, name, "judge") for p in pairs}
    run_judge(results["id"], pairs, config, tiny_long_engine)
    assert review_store.reviewers(results["id"]) == {name: 4}


def test_judge_names_are_short_and_marked():
    assert judge_name(SPEC) == "judge: gemma-3-270m"
    assert judge_name("HuggingFaceTB/SmolLM2-360M-Instruct") == "judge: SmolLM2-360M-Instruct"
    assert judge_name(ModelSpec(source="/models/qwen/", adapter="/runs/r1/adapter")) == \
        "judge: qwen + adapter"


def test_agreement_words_say_plainly_when_not_to_trust_the_judge():
    small = agreement_words(0.75, 40, "embedded:smollm2-135m-instruct")
    assert "poor" in small and "do not trust" in small and "stand in" not in small
    big = agreement_words(0.75, 40, "Qwen/Qwen2.5-7B-Instruct")
    assert "substantial" in big and "stand in" in big and "poor" not in big
    assert "rate some of the same pairs" in agreement_words(None, 0, SPEC)
    assert "too few" in agreement_words(0.9, 4, "org/big")
    assert "no better than chance" in agreement_words(-0.1, 30, "org/big")


@pytest.mark.integration
def test_the_embedded_gemma_judges_six_pairs(gemma_engine):
    from core import review_store

    results = made_up_results("cmp-gemma")
    pairs = build_pairs(results, n=6)
    verdicts = run_judge(results["id"], pairs, JudgeConfig(SPEC), gemma_engine)
    assert len(verdicts) == 6 and all(v.vote in ("A", "B", "tie") for v in verdicts)
    assert review_store.reviewers(results["id"]) == {"judge: gemma-3-270m": 6}
    assert position_bias(verdicts)["asked_twice"] == 6
