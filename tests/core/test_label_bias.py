"""Label bias: a setup that answers one label for (almost) every input is named in plain
words, and contextual calibration divides out what the prompt favours."""

from __future__ import annotations

import numpy as np
import pytest

from core import label_bias
from core.errors import ConfigError

LABELS = ["positive", "negative", "neutral"]
BALANCED = [label for label in LABELS for _ in range(50)]  # 150 references, 50 each


# --- contextual calibration -----------------------------------------------------------------

def test_calibration_divides_out_the_label_the_prompt_favours():
    # the prompt alone (content-free input) gives 'positive' 0.7: every input leans positive
    content_free = [0.7, 0.2, 0.1]
    rows = [[0.60, 0.30, 0.10],   # a negative input that still reads positive uncalibrated
            [0.80, 0.15, 0.05]]
    calibrated = label_bias.calibrate(rows, content_free)
    assert calibrated.shape == (2, 3)
    assert np.allclose(calibrated.sum(axis=1), 1.0)
    assert np.argmax(rows[0]) == 0 and np.argmax(calibrated[0]) == 1  # the answer changes
    expected = np.array([0.60 / 0.7, 0.30 / 0.2, 0.10 / 0.1])
    assert np.allclose(calibrated[0], expected / expected.sum())


def test_a_uniform_content_free_input_changes_nothing_and_one_row_stays_one_row():
    row = [0.5, 0.3, 0.2]
    assert np.allclose(label_bias.calibrate(row, [1 / 3] * 3), row)
    assert label_bias.calibrate(row, [0.2, 0.3, 0.5]).shape == (3,)


def test_probabilities_from_log_scores_then_calibrated():
    log_scores = np.log([[0.6, 0.3, 0.1]]) - 5.0  # unnormalised log-likelihoods
    assert np.allclose(label_bias.probabilities(log_scores), [[0.6, 0.3, 0.1]])


@pytest.mark.parametrize("rows, free", [([[0.5, 0.5]], [0.2, 0.3, 0.5]),
                                        ([[0.5, 0.3, 0.2]], [0.0, 0.5, 0.5]),
                                        ([[-2.0, -1.0, -0.5]], [0.2, 0.3, 0.5])])
def test_calibration_refuses_mismatched_or_impossible_probabilities(rows, free):
    with pytest.raises(ConfigError) as caught:
        label_bias.calibrate(rows, free)
    assert caught.value.fix


# --- collapse onto one label ----------------------------------------------------------------

def test_the_measured_collapse_eight_shots_one_label_for_all_150_inputs():
    eight_shots = ["positive"] * 150
    said = label_bias.collapse(eight_shots, BALANCED, LABELS)
    assert said == "answered 'positive' for all 150 inputs, though only 50 of them are positive"


def test_zero_shot_at_0_51_on_the_same_set_is_not_a_collapse():
    # 0.51 zero-shot: spread over the labels, leaning positive but far from one label
    zero_shot = ["positive"] * 70 + ["negative"] * 45 + ["neutral"] * 35
    assert label_bias.collapse(zero_shot, BALANCED, LABELS) is None


def test_nearly_all_one_label_is_a_collapse_and_the_rule_edges():
    answers = ["positive"] * 146 + ["negative"] * 4
    assert label_bias.collapse(answers, BALANCED, LABELS) == \
        "answered 'positive' for 146 of 150 inputs, though only 50 of them are positive"
    # 127 of 150 is under 85%: not said
    assert label_bias.collapse(["positive"] * 127 + ["neutral"] * 23, BALANCED, LABELS) is None
    # references that are themselves one-sided: answering that label is no collapse
    skewed = ["positive"] * 135 + ["negative"] * 15
    assert label_bias.collapse(["positive"] * 150, skewed, LABELS) is None
    # five answers say too little
    assert label_bias.collapse(["positive"] * 5, BALANCED[:5], LABELS) is None


def test_unparsed_answers_are_no_vote_and_lengths_must_match():
    answers = ["positive"] * 140 + [None] * 10
    assert "for all 140 inputs" in label_bias.collapse(answers, BALANCED, LABELS)
    with pytest.raises(ConfigError):
        label_bias.collapse(["positive"], BALANCED, LABELS)


def _results(label_counts=None, predictions=None, calibrated=False):
    examples = [{"id": i, "reference": ref,
                 "outputs": {"8-shot": {"prediction": (predictions or ["positive"] * 150)[i],
                                        "correct": False},
                             "zero-shot": {"prediction": ref if i % 2 else "positive",
                                           "correct": bool(i % 2)}}}
                for i, ref in enumerate(BALANCED)]
    return {"task": {"kind": "classification", "labels": LABELS},
            "variants": [{"name": "zero-shot", "kind": "zero-shot", "error": None},
                         {"name": "8-shot", "kind": "few-shot", "error": None,
                          "label_counts": label_counts, "calibrated": calibrated},
                         {"name": "broken", "kind": "few-shot", "error": "gone"}],
            "examples": examples}


def test_results_name_the_collapsed_setup_from_old_answers_and_from_label_counts():
    old = _results()  # no label_counts: read from the answers kept per example
    assert label_bias.collapsed_setups(old) == {
        "8-shot": "answered 'positive' for all 150 inputs, though only 50 of them are positive"}
    counted = _results(label_counts={"positive": 146, "negative": 4, "neutral": 0},
                       predictions=["negative"] * 150)  # the counts win over the answers
    assert "146 of 150" in label_bias.collapsed_setups(counted)["8-shot"]
    [sentence] = label_bias.collapse_sentences(old)
    assert sentence.startswith("8-shot answered 'positive' for all 150 inputs")
    assert "contextual calibration" in sentence
    [calibrated] = label_bias.collapse_sentences(_results(calibrated=True))
    assert "did not undo it" in calibrated


def test_only_classification_comparisons_are_read_for_collapse():
    results = _results()
    results["task"]["kind"] = "qa"
    assert label_bias.collapsed_setups(results) == {}


def test_unparsed_answers_in_label_counts_are_no_vote():
    # a chain-of-thought setup that named no label for 140 inputs has not collapsed onto one
    results = _results(label_counts={"positive": 6, "negative": 2, "neutral": 2,
                                     "(no label)": 140})
    assert "8-shot" not in label_bias.collapsed_setups(results)
