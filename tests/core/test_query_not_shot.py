"""A query is never one of its own shots: every selection strategy leaves it out, k is still
honoured from the rest of the pool, and the lesson asks about test reviews only."""

from __future__ import annotations

import pytest

from core import tour
from core.fewshot import (STRATEGIES, select_examples, shots_curve, validation_split,
                          without_query, wilson)
from core.prompting import Example
from tests.core.test_fewshot import _KeywordModel

POOL = [Example(f"good thing number {i}", "POSITIVE") for i in range(6)] + \
       [Example(f"bad thing number {i}", "NEGATIVE") for i in range(6)] + \
       [Example(f"good and bad thing {i}", "MIXED") for i in range(3)]


@pytest.fixture(autouse=True)
def _tfidf(monkeypatch):
    monkeypatch.setattr("core.embeddings.embeddings_available", lambda: False)  # no model load


def _spellings(text: str) -> list[str]:
    """The same input as a user might paste it: other case, extra spaces, a trailing newline."""
    return [text, text.upper(), f"  {text.replace(' ', '   ')}\n"]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("seed", [0, 1, 7, 42])
@pytest.mark.parametrize("k", [1, 2, 4, 8, len(POOL) - 1, len(POOL)])
def test_no_strategy_returns_the_query_and_k_comes_from_the_rest(strategy, seed, k):
    for position in (0, 5, len(POOL) - 1):  # first row (manual's first shot), middle, last
        for query in _spellings(POOL[position].input):
            picked = select_examples(POOL, strategy, k, seed=seed, query=query)
            assert POOL[position] not in picked, (strategy, seed, k, query)
            assert len(picked) == min(k, len(POOL) - 1), (strategy, seed, k, len(picked))
            assert len(set(picked)) == len(picked)


def test_a_query_copied_twice_into_the_pool_is_left_out_both_times():
    pool = POOL + [Example("Good thing number 0", "POSITIVE")]  # a duplicate row, other case
    for strategy in STRATEGIES:
        picked = select_examples(pool, strategy, len(pool), query="good thing number 0")
        assert all(e.input.lower() != "good thing number 0" for e in picked), strategy
        assert len(picked) == len(pool) - 2


def test_a_query_that_is_no_example_changes_nothing():
    for strategy in ("manual", "random", "balanced"):
        assert select_examples(POOL, strategy, 4, seed=3, query="something else entirely") == \
            select_examples(POOL, strategy, 4, seed=3)
    assert without_query(POOL, "") == POOL and without_query(POOL, None) == POOL


def test_a_pool_that_is_only_the_query_gives_no_shots():
    for strategy in STRATEGIES:
        assert select_examples([POOL[0]], strategy, 4, query=POOL[0].input) == []


def test_the_shots_curve_draws_no_shot_that_is_a_validation_input():
    seen: list[str] = []

    class Recording(_KeywordModel):
        def score_batch(self, prompts, candidates, batch_size=16):
            seen.extend(prompts)
            return super().score_batch(prompts, candidates, batch_size)

    validation = [POOL[0], POOL[6], POOL[12]]  # also in the pool: they must not be shots
    shots_curve(Recording(), POOL, validation, ("POSITIVE", "NEGATIVE", "MIXED"), "Classify.",
                "Review: {input}\nSentiment:", ks=(1, 2, 4, 8))
    for prompt in seen:
        asked = prompt.rsplit("Review:", 1)[-1]
        shots = prompt.rsplit("Review:", 1)[0]
        assert asked.split("\n")[0].strip() not in shots, prompt


def test_the_validation_slice_shrinks_to_leave_a_pool_and_says_so():
    rows = [Example(f"row {i}", "A" if i % 2 else "B") for i in range(30)]
    pool, validation, note = validation_split(rows, 30)
    assert (len(pool), len(validation)) == (8, 22)
    assert "too few to keep 30 for validation" in note and "last 22 rows" in note
    pool, validation, note = validation_split(rows * 4, 30)
    assert (len(pool), len(validation), note) == (90, 30, None)
    with pytest.raises(Exception, match="too few to measure"):
        validation_split(rows[:5], 30)


def test_wilson_intervals_are_wide_on_a_small_slice_and_never_a_point():
    low, high = wilson(30, 30)
    assert 0.88 < low < 0.9 and high == 1.0  # 30 of 30 is not "certainly 100%"
    low, high = wilson(15, 30)
    assert 0.31 < low < 0.34 and 0.66 < high < 0.69
    assert wilson(0, 0) == (0.0, 1.0)


def test_the_lesson_asks_test_reviews_and_shows_training_examples():
    asked = [e.input for e in tour.quick_reviews()]
    task = tour.task()
    assert asked == [e.input for e in task.examples("test", limit=12)]
    shots = [e.input for e in tour.tour_set().examples]
    train = {e.input for e in task.examples("train")}
    assert set(shots) <= train and not set(shots) & set(asked)
    # the Playground's review, with or without checks, is a test review and never a shot
    assert tour.playground_review() in asked and tour.playground_review() not in shots
