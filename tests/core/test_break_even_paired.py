"""Break-even is weighed only between setups of comparable quality, decided as the verdict
decides leads: on the paired test where both setups kept their answers (issue 17)."""

from __future__ import annotations

from core import report
from core.report_break_even import comparable
from tests.core.test_report_paired import _leads, _results

PRICES = {"input_per_million": 0.10, "output_per_million": None, "cpu_hour": 0.05}


def _tuned_against_prompt(tuned_right: list[bool], prompt_right: list[bool]) -> dict:
    results = _results({"prompt": prompt_right, "tuned": tuned_right},
                       kinds={"tuned": "fine-tuned"}, scores=True,
                       tuned={"train_seconds": 60.0, "train_device": "cpu",
                              "training_cost": 0.001, "prompt_tokens_mean": 20.0},
                       prompt={"prompt_tokens_mean": 200.0})
    results["prices"] = PRICES
    return results


def test_a_tuned_model_really_worse_on_the_paired_test_gets_no_break_even():
    # 200 examples: the prompt gets 12 right that the tuned model misses, and none the other
    # way; the two 95% ranges still overlap (0.64 against 0.70), the paired test does not
    prompt, tuned = _leads(140, 128, n=200)
    results = _tuned_against_prompt(tuned, prompt)
    accuracy = [v["metrics"]["accuracy"] for v in results["variants"]]
    assert comparable(*accuracy)  # what the ranges alone would have said: level
    row = report.break_even_rows(results).iloc[0]
    assert row["Break-even (queries)"] == "– (less accurate)"
    assert "a real difference on the paired test" in row["What it means"]
    assert "pays back" not in report.verdict(results)


def test_a_tuned_model_level_on_the_paired_test_keeps_its_break_even():
    prompt, tuned = _leads(40, 38, only_b=2)  # each right where the other is wrong: level
    results = _tuned_against_prompt(tuned, prompt)
    row = report.break_even_rows(results).iloc[0]
    assert row["Break-even (queries)"] not in ("– (less accurate)", "–", "never")
    assert "pays back its training after about" in row["What it means"]
