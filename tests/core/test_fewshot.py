"""Few-shot sets: selection strategies, budgets, saved sets, the shots curve."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.fewshot import (FewShotSet, check_fits, delete_set, list_sets, load_set, prompt_budget,
                          save_set, select_examples, shots_curve)
from core.generation import normalise
from core.prompting import Example, PromptRecipe

POOL = [Example(f"good thing {i}", "POSITIVE") for i in range(5)] + \
       [Example(f"bad thing {i}", "NEGATIVE") for i in range(5)] + \
       [Example(f"good and bad {i}", "MIXED") for i in range(2)]


def test_balanced_takes_labels_in_turn():
    picked = select_examples(POOL, "balanced", 6, seed=1)
    assert sorted(e.label for e in picked) == ["MIXED", "MIXED", "NEGATIVE", "NEGATIVE",
                                               "POSITIVE", "POSITIVE"]


def test_random_is_reproducible_by_seed_and_manual_keeps_order():
    assert select_examples(POOL, "random", 4, seed=3) == select_examples(POOL, "random", 4, seed=3)
    assert select_examples(POOL, "random", 4, seed=3) != select_examples(POOL, "random", 4, seed=4)
    assert select_examples(POOL, "manual", 2) == POOL[:2]


def test_similar_puts_the_closest_example_last(monkeypatch):
    monkeypatch.setattr("core.embeddings.embeddings_available", lambda: False)  # TF-IDF path
    pool = [Example("the hotel room was dirty", "NEGATIVE"), Example("the bike arrived late", "NEGATIVE"),
            Example("light fast bike frame", "POSITIVE")]
    picked = select_examples(pool, "similar", 2, query="a light and fast bike frame")
    assert [e.input for e in picked] == ["the bike arrived late", "light fast bike frame"]
    assert "hotel" not in " ".join(e.input for e in picked)


def test_selection_errors():
    with pytest.raises(ConfigError, match="no examples"):
        select_examples([], "random", 2)
    with pytest.raises(ConfigError, match="needs a query"):
        select_examples(POOL, "similar", 2, query="")
    with pytest.raises(ConfigError, match="Unknown selection"):
        select_examples(POOL, "best", 2)


def test_budget_counts_each_part_and_says_how_many_fit():
    count = lambda text: len(text.split())  # noqa: E731 - one token per word
    recipe = PromptRecipe("few-shot", "Classify it.", "Review: {input}\nSentiment:", tuple(POOL[:4]))
    budget = prompt_budget(count, recipe, "a query", window=40, answer_tokens=4)
    assert budget.example_tokens == (6, 6, 6, 6) and budget.instruction_tokens == 2
    assert budget.total == 2 + 24 + 4 + 4 and budget.fits
    tight = prompt_budget(count, recipe, "a query", window=25, answer_tokens=4)
    assert not tight.fits and tight.fitting_examples() == 2
    with pytest.raises(ConfigError, match="Use at most 2 of the 4 examples"):
        check_fits(tight)


def test_sets_are_saved_listed_loaded_and_deleted():
    saved = FewShotSet("sentiment-4", tuple(POOL[:4]), "Classify.", "R: {input}\nS:", ("POSITIVE", "NEGATIVE"))
    save_set(saved)
    assert list_sets() == ["sentiment-4"] and load_set("sentiment-4") == saved
    assert load_set("sentiment-4").recipe(k=2).examples == tuple(POOL[:2])
    delete_set("sentiment-4")
    assert list_sets() == []


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 80])
def test_set_names_with_path_separators_are_refused(name):
    with pytest.raises(ConfigError, match="not a usable few-shot set name"):
        FewShotSet(name, tuple(POOL[:1]))


def test_empty_set_is_refused():
    with pytest.raises(ConfigError, match="no examples"):
        FewShotSet("empty", ())


class _KeywordModel:
    """Scores the label whose keyword occurs in the last review; each shot adds a token."""

    def score_batch(self, prompts, candidates, batch_size=16):
        rows = []
        for prompt in prompts:
            query = prompt.rsplit("Review:", 1)[-1]
            guess = "MIXED" if "and" in query else "POSITIVE" if "good" in query else "NEGATIVE"
            knows = prompt.count("Review:") > 2  # needs at least two shots to get it
            logprobs = [0.0 if (c.strip() == guess and knows) or
                        (not knows and c.strip() == "POSITIVE") else -5.0 for c in candidates]
            rows.append(normalise(candidates, logprobs, [1] * len(candidates)))
        return rows

    def count_tokens(self, text):
        return len(text.split())


def test_shots_curve_measures_each_k_on_the_same_validation_slice():
    validation = [Example("good one", "POSITIVE"), Example("bad one", "NEGATIVE"),
                  Example("good and bad", "MIXED")]
    points = shots_curve(_KeywordModel(), POOL, validation, ("POSITIVE", "NEGATIVE", "MIXED"),
                         "Classify.", "Review: {input}\nSentiment:", ks=(0, 1, 2, 4))
    assert [p.k for p in points] == [0, 1, 2, 4]
    assert [p.correct for p in points] == [1, 1, 3, 3]
    assert points[0].mean_prompt_tokens < points[3].mean_prompt_tokens


def test_shots_curve_needs_labels():
    with pytest.raises(ConfigError, match="at least two labels"):
        shots_curve(_KeywordModel(), POOL, POOL, (), "", "Review: {input}")
