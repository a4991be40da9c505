"""The lesson's wording on a task the user made, after a user walked it in a browser on their
support tickets: no "review" on a ticket task, step 5 a click rather than "not measured",
and every break-even named with the setup it is measured against."""

from __future__ import annotations

import pytest

from core import tour
from core.report import break_even_rows
from core.tour_tasks import lesson_task
from tests.core.test_tour_any_task import make_tickets
from ui.tour import stakeholder_text


def test_the_steps_tables_head_the_asked_rows_with_the_tasks_own_field(tmp_path):
    assert lesson_task(make_tickets(tmp_path)).input_column == "text"  # the CSV's column
    assert lesson_task().input_column == "review"  # the shipped lesson reads as before
    # a field the table already has a column of is not used twice
    assert tour.LessonTask("t", "T", ("a", "b"), 5, 5, False, "answer").input_column == "input"


def _results(task: str, few_shot_8: float) -> dict:
    def variant(name, kind, acc, tokens, **extra):
        return {"name": name, "kind": kind, "prompt_tokens_mean": tokens,
                "completion_tokens_mean": 1.0, "error": None,
                "metrics": {"accuracy": {"value": acc, "low": acc - 0.05, "high": acc + 0.05}},
                **extra}

    return {"id": "c1", "config": {"task": task, "n_examples": 30},
            "prices": {"input_per_million": 0.1, "output_per_million": 0.4},
            "variants": [variant("zero-shot", "zero-shot", 0.4, 35),
                         variant("few-shot 4", "few-shot", 0.7, 120),
                         variant("few-shot 8", "few-shot", few_shot_8, 230),
                         variant(tour.TUNED, "fine-tuned", 0.9, 20, training_cost=0.001,
                                 train_seconds=70.0)]}


@pytest.mark.parametrize("task", ["review-sentiment", "tickets"])
def test_every_break_even_names_its_baseline(tmp_path, task):
    if task == "tickets":
        make_tickets(tmp_path)
    # few-shot 8 the best prompt: the report weighs the training against it, not few-shot 4
    results = _results(task, 0.85)
    facts = tour.takeaways(results)
    text = stakeholder_text(facts, task)
    assert f"**{facts.break_even:,} queries against four examples in the prompt (few-shot 4)**" \
        in text
    report = break_even_rows(results).iloc[0]
    assert report["Compared with"] == "few-shot 8"
    assert f"about **{report['Break-even (queries)']} queries against few-shot 8**" in text
    for line in text.splitlines():  # no break-even number without its baseline
        if "queries" in line:
            assert "against" in line, line
    # few-shot 4 the report's baseline too: one number, said once
    same = stakeholder_text(tour.takeaways(_results(task, 0.6)), task)
    assert "The report's break-even" not in same and "(few-shot 4)" in same
