"""The 95% intervals a comparison reports: a share of right answers never reads as certain."""

from __future__ import annotations

from core.compare import bootstrap, classification_metrics


def test_all_right_on_36_examples_is_not_an_interval_of_one_point():
    # a user's task: 36 of 36 right read "1.00 [1.00, 1.00]" with a bootstrap
    metrics, _ = classification_metrics(["a", "b", "c"] * 12, ["a", "b", "c"] * 12, ("a", "b", "c"), 0)
    accuracy = metrics["accuracy"]
    assert accuracy["value"] == 1.0 and accuracy["high"] == 1.0
    assert 0.88 < accuracy["low"] < 0.92  # Wilson's 0.904


def test_none_right_and_half_right_get_wilson_intervals():
    none = bootstrap([0.0] * 20)
    assert none["low"] == 0.0 and 0.15 < none["high"] < 0.18
    half = bootstrap([1.0, 0.0] * 15)
    assert half["value"] == 0.5 and 0.32 < half["low"] < 0.34 and 0.66 < half["high"] < 0.68


def test_a_graded_score_keeps_its_bootstrap_interval():
    scores = [0.2, 0.5, 0.9, 0.4, 0.7, 0.3, 0.6, 0.8]
    out = bootstrap(scores)
    assert out["value"] == round(sum(scores) / len(scores), 4)
    assert out["low"] < out["value"] < out["high"]
