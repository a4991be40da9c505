"""The learning curve: rows needed to match the best prompt, with a bootstrap interval, a flag
and words whenever the estimate reaches past the measured sizes, and "not reached" past 4x.

Every point here is built from a known curve: a tuned model trained on n rows gets the first
round(q(n) * N) test examples right, so the fit has a true answer to recover."""

from __future__ import annotations

import math

import pytest

from core.errors import ConfigError
from core.learning_curve import CurvePoint, curve_value, learning_curve

N = 200  # test examples


def _right(accuracy: float, n: int = N, shift: int = 0) -> tuple[float, ...]:
    """0/1 scores: right on ``round(accuracy * n)`` examples, starting at ``shift``."""
    count = round(accuracy * n)
    return tuple(1.0 if (i - shift) % n < count else 0.0 for i in range(n))


def _tuned(curve, sizes, **kw) -> list[CurvePoint]:
    return [CurvePoint(f"LoRA {n} rows", n, _right(curve(n), **kw)) for n in sizes]


def _law(a: float, b: float, c: float):
    return lambda n: a - b * n ** -c


def test_the_rows_needed_lie_between_the_measured_sizes_and_a_measured_size_beats_the_prompt():
    law = _law(0.9, 2.0, 0.5)                # 25: 0.50, 50: 0.62, 100: 0.70, 200: 0.76
    target = CurvePoint("4-shot", 4, _right(0.66))
    curve = learning_curve(_tuned(law, (25, 50, 100, 200)), target, "accuracy")
    needed = curve["n_needed"]
    truth = (2.0 / (0.9 - 0.66)) ** 2       # 69 rows
    assert 50 < needed["estimate"] < 100
    assert abs(needed["estimate"] - truth) / truth < 0.25
    assert needed["low"] <= needed["estimate"] <= needed["high"]
    assert needed["reached"] and not needed["extrapolated"]
    assert needed["measured"] in (100, 200)  # 100 rows: 0.70 against 0.66, paired
    assert needed["measured_pair"]["real"] and needed["measured_pair"]["leader"] == \
        f"LoRA {needed['measured']} rows"
    words = needed["words"]
    assert words.startswith("About ") and "95% interval" in words and "4-shot (0.66)" in words
    assert f"measured: LoRA {needed['measured']} rows already beats it" in words
    assert "power law" in curve["model"] and set(curve["params"]) == {"a", "b", "c"}
    assert curve["target"] == {"name": "4-shot", "value": pytest.approx(0.66)}


def test_the_fitted_curve_follows_the_points_and_is_drawn_within_then_past_them():
    law = _law(0.9, 2.0, 0.5)
    sizes = (25, 50, 100, 200)
    curve = learning_curve(_tuned(law, sizes), CurvePoint("4-shot", 4, _right(0.66)),
                           "accuracy")
    for n in sizes:  # the fit sits on the points it was fitted to
        assert curve_value(curve["params"], n) == pytest.approx(law(n), abs=0.02)
    fitted, extension = curve["fitted"], curve["extension"]
    assert fitted[0][0] == pytest.approx(25) and fitted[-1][0] == pytest.approx(200)
    assert extension[0][0] == pytest.approx(200) and extension[-1][0] <= 4 * 200
    values = [v for _, v in fitted + extension]
    assert values == sorted(values)  # a learning curve rises


def test_an_estimate_past_the_largest_measured_size_is_flagged_and_said_extrapolated():
    law = _law(0.9, 2.0, 0.5)                # the prompt's 0.75 is reached at 178 rows
    target = CurvePoint("8-shot", 8, _right(0.75))
    curve = learning_curve(_tuned(law, (25, 50, 100)), target, "accuracy")
    needed = curve["n_needed"]
    assert 100 < needed["estimate"] <= 400
    assert needed["extrapolated"] and needed["reached"]
    assert "extrapolated past the 100 rows measured" in needed["words"]
    assert needed["measured"] is None
    assert "no tuned size beats it on the paired test yet" in needed["words"]
    assert curve["extension"][-1][0] >= needed["estimate"]  # the chart reaches the estimate


def test_past_twice_the_data_the_words_say_how_far_they_reach():
    law = _law(0.9, 2.0, 0.5)                # 0.77 is reached at 237 rows, 2.4x the 100 measured
    curve = learning_curve(_tuned(law, (25, 50, 100)), CurvePoint("8-shot", 8, _right(0.77)),
                           "accuracy")
    needed = curve["n_needed"]
    assert needed["estimate"] > 200 and needed["extrapolated"]
    assert "times as many, a rough guess" in needed["words"]


def test_a_curve_that_levels_off_below_the_prompt_is_not_reached_within_the_rows_you_have():
    law = _law(0.5, 0.5, 0.5)                # levels off at 0.50; the prompt has 0.70
    curve = learning_curve(_tuned(law, (25, 50, 100, 200)),
                           CurvePoint("4-shot", 4, _right(0.70)), "accuracy")
    needed = curve["n_needed"]
    assert needed["estimate"] is None and needed["low"] is None and needed["high"] is None
    assert not needed["reached"] and not needed["extrapolated"] and needed["measured"] is None
    assert needed["words"].startswith("Not reached within the rows you have")
    assert "levels off" in needed["words"]
    assert curve["fitted"]  # the curve is still drawn


def test_a_crossing_beyond_four_times_the_data_gives_no_estimate():
    law = _law(0.95, 2.0, 0.3)               # reaches 0.75 near 4,800 rows, far past 4 x 100
    curve = learning_curve(_tuned(law, (25, 50, 100)), CurvePoint("4-shot", 4, _right(0.75)),
                           "accuracy")
    needed = curve["n_needed"]
    assert needed["estimate"] is None and not needed["reached"]
    assert needed["words"].startswith("Not reached within the rows you have")
    assert curve["extension"][-1][0] <= 4 * 100 + 1e-6


def test_two_sizes_fit_a_line_in_log_n_and_say_so():
    law = _law(0.9, 2.0, 0.5)
    curve = learning_curve(_tuned(law, (25, 100)), CurvePoint("4-shot", 4, _right(0.62)),
                           "accuracy")
    assert "line in log n" in curve["model"] and set(curve["params"]) == {"intercept", "slope"}
    assert 25 < curve["n_needed"]["estimate"] < 100
    assert "line in log n" in curve["n_needed"]["words"]


def test_one_size_gives_no_curve_but_still_the_measured_answer():
    target = CurvePoint("zero-shot", 0, _right(0.5))
    curve = learning_curve([CurvePoint("LoRA 50 rows", 50, _right(0.8))], target, "accuracy")
    assert curve["params"] is None and curve["fitted"] == []
    assert curve["n_needed"]["measured"] == 50 and curve["n_needed"]["reached"]
    assert "Only one training size" in curve["n_needed"]["words"]


def test_no_tuned_point_and_no_prompt_are_said_not_guessed():
    curve = learning_curve([], CurvePoint("zero-shot", 0, _right(0.5)), "accuracy")
    assert curve["n_needed"]["estimate"] is None and "No tuned point ran" in \
        curve["n_needed"]["words"]
    law = _law(0.9, 2.0, 0.5)
    curve = learning_curve(_tuned(law, (25, 50, 100)), None, "accuracy")
    assert curve["target"] is None and curve["n_needed"]["estimate"] is None
    assert "No prompted point ran" in curve["n_needed"]["words"]


def test_seeds_at_one_size_are_averaged_for_the_measured_answer():
    """Two seeds at 50 rows: one lucky (0.80), one poor (0.60); averaged they are 0.70, which
    beats the prompt's 0.55 for real: said as the seeds averaged, never as the lucky one."""
    target = CurvePoint("4-shot", 4, _right(0.55))
    points = [CurvePoint("LoRA 25 rows", 25, _right(0.5)),
              CurvePoint("LoRA 50 rows", 50, _right(0.8)),
              CurvePoint("LoRA 50 rows (seed 1)", 50, _right(0.6, shift=10)),
              CurvePoint("LoRA 100 rows", 100, _right(0.8))]
    needed = learning_curve(points, target, "accuracy")["n_needed"]
    assert needed["measured"] == 50
    assert needed["measured_pair"]["leader"] == "LoRA 50 rows (2 seeds averaged)"
    assert needed["measured_pair"]["difference"] == pytest.approx(0.15)


def test_the_bootstrap_is_seeded_so_the_same_points_give_the_same_advice():
    law = _law(0.9, 2.0, 0.5)
    args = (_tuned(law, (25, 50, 100, 200)), CurvePoint("4-shot", 4, _right(0.66)), "accuracy")
    assert learning_curve(*args) == learning_curve(*args)
    other = learning_curve(*args, seed=7)["n_needed"]
    assert other["estimate"] == learning_curve(*args)["n_needed"]["estimate"]  # the fit itself
    assert math.isfinite(other["low"]) and math.isfinite(other["high"])


def test_points_scored_on_different_numbers_of_examples_are_refused():
    target = CurvePoint("4-shot", 4, _right(0.6))
    points = [CurvePoint("LoRA 25 rows", 25, _right(0.5)),
              CurvePoint("LoRA 50 rows", 50, _right(0.7, n=100))]
    with pytest.raises(ConfigError, match="different numbers of test examples"):
        learning_curve(points, target, "accuracy")
    with pytest.raises(ConfigError, match="no per-example scores"):
        CurvePoint("LoRA 25 rows", 25, ())


def test_the_grid_fit_is_as_good_as_a_general_bounded_least_squares_solver():
    """The fit takes c on a grid and a, b in closed form: on noisy points its squared error is
    within a hair of scipy's bounded solver started from many places."""
    optimize = pytest.importorskip("scipy.optimize")
    import numpy as np

    from core.learning_curve import _power_fit

    rng = np.random.default_rng(3)
    ns = np.array([25, 25, 50, 100, 100, 200, 400], dtype=float)
    shapes = [0.85 - 1.5 * ns ** -0.6, 1.1 - 2.0 * ns ** -0.4,  # rising; levelling above 1
              0.6 + 0.5 * ns ** -0.5]                           # falling: the bound b >= 0 binds
    for trial, shape in enumerate(shapes * 3):
        y = np.clip(shape + rng.normal(0, 0.04, ns.size), 0, 1)
        a, b, c = (float(v[0]) for v in _power_fit(ns, y[None, :]))
        ours = float(np.sum((y - (a - b * ns ** -c)) ** 2))
        best = min(optimize.least_squares(lambda p: y - (p[0] - p[1] * ns ** -p[2]), start,
                                          bounds=([0, 0, 1e-3], [1, np.inf, 2])).cost * 2
                   for start in ([0.5, 1, 0.5], [0.9, 3, 1.0], [0.7, 0.5, 0.2], [1, 10, 1.5]))
        assert 0 <= a <= 1 and b >= 0 and 0 < c <= 2
        assert ours <= best * 1.02 + 1e-9, trial
