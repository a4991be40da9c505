"""Paired statistics: differences between setups on the same examples, with a paired bootstrap
interval and McNemar's exact test, read from a comparison's results (new and old)."""

from __future__ import annotations

import pytest

from core import paired
from core.errors import ConfigError


def test_mcnemar_counts_the_discordant_examples_and_gives_the_exact_binomial_p():
    a = [1, 1, 1, 0, 0, 1, 1, 0]
    b = [1, 0, 0, 0, 1, 0, 1, 0]
    b01, b10, p = paired.mcnemar_exact(a, b)
    assert (b01, b10) == (1, 3)
    # two-sided exact: 2 * P(X <= 1), X ~ Bin(4, 0.5) = 2 * 5/16
    assert p == pytest.approx(10 / 16)
    assert paired.mcnemar_exact([1, 0], [1, 0]) == (0, 0, 1.0)  # never disagree: no evidence
    # 12 against 1 discordant: a real difference
    assert paired.mcnemar_exact([1] * 12 + [0], [0] * 12 + [1])[2] == \
        pytest.approx(2 * 14 / 2**13)


def test_paired_bootstrap_centres_on_the_difference_and_is_seeded():
    a = [1, 1, 0, 1, 0, 1, 1, 1, 0, 1] * 10
    b = [1, 0, 0, 1, 0, 0, 1, 1, 0, 0] * 10
    first = paired.paired_bootstrap(a, b, seed=3)
    assert first["difference"] == pytest.approx(0.3)
    assert 0 < first["low"] < 0.3 < first["high"] < 0.5
    assert paired.paired_bootstrap(a, b, seed=3) == first


def test_pairing_sees_a_consistent_lead_that_marginal_intervals_miss():
    # B is A with 8 of its 60 wrong answers put right: 0.40 -> 0.53 on 60 examples;
    # the marginal 95% intervals overlap widely, the paired ones exclude 0
    a = [1] * 24 + [0] * 36
    b = [1] * 24 + [1] * 8 + [0] * 28
    row = paired.compare_pair("A", a, "B", b, metric="accuracy")
    assert row["leader"] == "B" and row["difference"] == pytest.approx(8 / 60)
    assert row["low"] > 0 and row["p"] == pytest.approx(2 / 2**8)
    assert row["real"] and not row["tie"]


def test_bad_input_is_named():
    with pytest.raises(ConfigError) as caught:
        paired.paired_bootstrap([1, 0], [1])
    assert "same length" in caught.value.problem
    with pytest.raises(ConfigError):
        paired.paired_bootstrap([], [])


def _results(columns, key="correct", kind="classification", errors=()):
    names = list(columns)
    n = len(next(iter(columns.values())))
    examples = [{"id": i, "reference": "x",
                 "outputs": {name: {"prediction": "x", key: columns[name][i]} for name in names}}
                for i in range(n)]
    variants = [{"name": name, "kind": "zero-shot", "error": "broke" if name in errors else None}
                for name in names]
    return {"config": {"seed": 0}, "task": {"kind": kind}, "variants": variants,
            "examples": examples}


def test_old_results_pair_on_correct_and_say_accuracy():
    results = _results({"a": [True] * 30 + [False] * 10, "b": [True] * 20 + [False] * 20})
    [row] = paired.paired_differences(results)
    assert (row["leader"], row["other"], row["metric"]) == ("a", "b", "accuracy")
    assert row["difference"] == pytest.approx(0.25) and row["b10"] == 10 and row["b01"] == 0
    assert row["real"]


def test_new_scores_win_and_text_scores_get_no_mcnemar():
    scores = {"rag": [0.9, 0.8, 0.7, 0.85] * 5, "plain": [0.5, 0.8, 0.6, 0.7] * 5}
    results = _results(scores, key="score", kind="qa")
    [row] = paired.paired_differences(results)
    assert row["metric"] == "token_f1" and row["leader"] == "rag"
    assert row["p"] is None and row["b01"] is None
    assert row["real"]  # every example at least as good, most better


def test_all_pairs_when_few_each_against_the_best_when_many_and_failed_left_out():
    few = _results({n: [i % 2 == 0] * 4 for i, n in enumerate("abc")})
    assert len(paired.paired_differences(few)) == 3
    many = _results({n: [True] * (i + 1) + [False] * (9 - i) for i, n in enumerate("abcdef")},
                    errors=("a",))
    rows = paired.paired_differences(many)
    assert len(rows) == 4 and all(r["leader"] == "f" for r in rows)
    assert "a" not in {r["other"] for r in rows}
    named = paired.paired_differences(many, best="d")
    assert {r["leader"] for r in named} | {r["other"] for r in named} == set("bcdef")


def test_a_tie_is_a_tie_not_a_lead():
    results = _results({"a": [True, False] * 10, "b": [False, True] * 10})
    [row] = paired.paired_differences(results)
    assert row["tie"] and not row["real"] and row["difference"] == 0
    assert (row["b01"], row["b10"], row["p"]) == (10, 10, 1.0)


def test_setups_without_per_example_scores_are_left_out():
    results = _results({"a": [True] * 5, "b": [False] * 5})
    results["examples"][2]["outputs"]["b"].pop("correct")
    assert paired.paired_differences(results) == []
    assert paired.pair_between(results, "a", "b") is None
    assert paired.pair_between(_results({"a": [True] * 5, "b": [False] * 5}), "b", "a")[
        "leader"] == "a"


def test_a_large_comparison_resamples_in_chunks_with_the_same_figures(monkeypatch):
    a = [1, 0, 1, 1] * 50
    b = [0, 0, 1, 1] * 50
    whole = paired.paired_bootstrap(a, b, seed=1, n=500)
    monkeypatch.setattr(paired, "CHUNK_CELLS", 1000)  # 5 resamples at a time
    chunked = paired.paired_bootstrap(a, b, seed=1, n=500)
    assert chunked["difference"] == whole["difference"] == pytest.approx(0.25)
    assert 0.15 < chunked["low"] < 0.25 < chunked["high"] < 0.35
