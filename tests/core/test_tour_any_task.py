"""The lesson on a task the user made (issue 16): it is offered, its steps ask the task's own
test rows with its own labels and draw shots from its train split, its state is its own, and
an ordering that fails on the measured figures is said plainly, never pretended.

Every test runs in its own PROMPTTUNE_HOME (conftest's autouse ``lab_home``); the user's
task is made with plan_task + create_task, as the Tasks page and the CLI make one.
"""

from __future__ import annotations

import json

import pytest

from core import tour
from core.fewshot import list_sets
from core.task_builder import TaskRequest, create_task, plan_task
from core.task_sources import read_source
from core.tasks import load_task
from core.tour_tasks import lesson_task, lesson_tasks, ordering_note, set_name_for, task_steps
from tests.core.test_user_tasks import LABELS, ticket_rows, write_csv
from ui.tour import stakeholder_text

SHIPPED_FIGURES = ("POSITIVE", "MIXED", "270M", "0.93", "300 labelled", "~190", "a sixth")


def make_tickets(tmp_path, name: str = "tickets", n: int = 60, **choices) -> str:
    """A three-label task of support tickets, made as the user makes one."""
    data = read_source(write_csv(tmp_path / f"{name}.csv", ticket_rows(n)))
    request = TaskRequest(name, "classification", "text", "label",
                          instruction="Which team should answer this ticket?",
                          template="Ticket: {text}\nTeam:", **choices)
    create_task(plan_task(request, data))
    return name


def test_the_lesson_offers_classification_tasks_the_users_included(tmp_path):
    # json, qa and numeric samples are not offered; the shipped lesson's task comes first
    assert lesson_tasks() == ["review-sentiment", "review-polarity"]
    make_tickets(tmp_path)
    assert lesson_tasks() == ["review-sentiment", "review-polarity", "tickets"]
    assert tour.current_task() == "review-sentiment"  # the default stays the shipped lesson
    tour.set_current_task("tickets")
    assert tour.current_task() == "tickets"


def test_its_steps_ask_its_test_rows_and_show_training_rows_of_its_labels(tmp_path):
    name = make_tickets(tmp_path)
    task, lesson = load_task(name), lesson_task(name)
    test = [e.input for e in task.examples("test")]
    asked = [e.input for e in tour.quick_reviews(task=name)]
    assert asked == test[:12] and lesson.n_quick == len(asked) == min(12, len(test))
    shots = tour.tour_set(name)
    train = {e.input for e in task.examples("train")}
    assert shots.name == "tour-4-shot-tickets" == lesson.set_name
    assert {e.input for e in shots.examples} <= train and not {e.input for e in shots.examples} & set(test)
    assert {e.label for e in shots.examples} <= set(LABELS) and shots.labels == LABELS
    assert shots.template == task.prompt_template and shots.instruction == task.instruction
    review = tour.playground_review(task=name)
    assert review in asked and review not in {e.input for e in shots.examples}
    recipe = tour.zero_shot_recipe(name)
    assert recipe.labels == LABELS and recipe.template == "Ticket: {input}\nTeam:"


def test_a_quick_check_on_the_users_task_scores_its_rows_with_its_labels(tmp_path, tiny_engine):
    name = make_tickets(tmp_path)
    check = tour.quick_check(tiny_engine, tour.zero_shot_recipe(name), "Zero-shot", task=name)
    rows = load_task(name).examples("test", limit=12)
    assert [r["review"] for r in check.rows] == [r.input for r in rows]
    assert [r["true label"] for r in check.rows] == [r.label for r in rows]
    assert set(check.answers) <= set(LABELS) and check.seconds is not None
    tour.save_check("zero", check, name)
    again = tour.saved_checks(name)["zero"]
    assert again.rows == check.rows and again.seconds == check.seconds


def test_fewer_than_12_test_rows_are_all_asked_and_said_so(tmp_path):
    name = make_tickets(tmp_path, "small", n=24, test_size=6)
    lesson = lesson_task(name)
    assert lesson.n_test == 6 and lesson.n_quick == 6
    assert "only 6 test rows" in lesson.quick_note and "all 6, not 12" in lesson.quick_note
    assert len(tour.quick_reviews(lesson.n_quick, name)) == 6
    assert lesson_task("review-sentiment").quick_note == ""


def test_each_task_keeps_its_own_lesson(tmp_path):
    name = make_tickets(tmp_path)
    check = tour.QuickCheck("Zero-shot", ({"review": "r", "true label": "billing",
                                           "answer": "billing", "right": True},), 20.0)
    tour.save_check("zero", check, name)
    tour.save_tour_set(name)
    tour.mark_report_downloaded("c-1", name)
    assert tour.saved_checks() == {} and not tour.set_saved() and not tour.report_downloaded("c-1")
    tour.save_check("zero", check)  # the shipped lesson's own step 1
    tour.start_over(name)           # forgets the tickets lesson only
    assert tour.saved_checks(name) == {} and not tour.set_saved(name)
    assert "zero" in tour.saved_checks() and tour.tour_started_at() is None
    assert tour.tour_started_at(name) is not None


def test_an_older_tour_json_is_the_shipped_lessons(lab_home):
    lab_home.mkdir(parents=True, exist_ok=True)
    old = {"recipe_name": "Zero-shot", "rows": [{"review": "r", "true label": "MIXED",
                                                  "answer": "POSITIVE", "right": False}],
           "prompt_tokens": 40.0, "model": "m"}
    (lab_home / "tour.json").write_text(json.dumps({"started_at": "2025-01-01T00:00:00+00:00",
                                                    "checks": {"zero": old}}))
    assert tour.saved_checks()["zero"].correct == 0 and tour.saved_checks()["zero"].seconds is None
    assert tour.tour_started_at() == "2025-01-01T00:00:00+00:00"
    tour.mark_report_downloaded("c-9")  # written per task from now on, nothing lost
    assert "zero" in tour.saved_checks() and tour.report_downloaded("c-9")
    assert tour.tour_started_at() == "2025-01-01T00:00:00+00:00"


def test_its_run_and_comparison_are_of_its_task(tmp_path):
    name = make_tickets(tmp_path)
    config = tour.train_config(name)
    assert config.task == name and config.validation_split == "validation"
    assert config.max_steps == tour.tour_train_config().max_steps
    assert tour.train_config() == tour.tour_train_config()  # the shipped lesson's, unchanged
    assert tour.tour_compare_config("r1", 12, task=name).task == name
    no_val = make_tickets(tmp_path, "no-val", validation_size=0)
    assert tour.train_config(no_val).validation_split is None  # a part of train, then


def test_its_notes_quote_no_shipped_figure_and_say_what_was_measured(tmp_path):
    name = make_tickets(tmp_path)
    lesson = lesson_task(name)
    steps = task_steps(lesson)
    said = " ".join(s.say for s in steps) + " ".join(tour.task_talk())
    assert not [f for f in SHIPPED_FIGURES if f in said], said
    # nothing measured yet on this task; step 5 (a download and talk) has nothing to time
    assert [s.seconds for s in steps] == [None] * 4 + [tour.CLICK]
    rows = tuple({"review": f"r{i}", "true label": "billing", "answer": "billing",
                  "right": i < 5} for i in range(12))
    zero = tour.QuickCheck("Zero-shot", rows, 31.0, seconds=4.2)
    shots = tour.QuickCheck("Few-shot", rows, 170.0, seconds=9.6)
    measured = task_steps(lesson, zero, shots)
    assert "5 of 12 right, and it answered billing 12 times of 12" in measured[0].say
    assert "170 prompt tokens a row instead of 31" in measured[1].say
    assert [s.seconds for s in measured[:2]] == [4, 10]
    # the tuned model's tokens are not zero-shot's: no number for it until step 4 measures it
    talk = " ".join(tour.task_talk(zero, shots))
    assert "31 prompt tokens" not in talk and "170 prompt tokens (measured in step 2)" in talk
    measured_talk = " ".join(tour.task_talk(zero, shots, {tour.TUNED: 20.4, "few-shot 4": 170.0},
                                            tour.TUNED))
    assert "about 20 prompt tokens a query instead of 170 with 4 shots (measured in step 4)" \
        in measured_talk


def test_set_names_fit_any_task_name():
    assert set_name_for("review-sentiment") == "tour-4-shot"
    assert set_name_for("my task.v2") == "tour-4-shot-my task.v2"
    odd = set_name_for("x" * 60)
    assert odd.startswith("tour-4-shot-") and len(odd) <= 64
    assert set_name_for("tâche") != set_name_for("tache") and list_sets() == []


# -- the ordering, as measured ----------------------------------------------------------------


def _acc(zero: float, four: float, tuned: float) -> dict:
    return {name: {"value": v, "low": v - 0.05, "high": v + 0.05}
            for name, v in (("zero-shot", zero), ("few-shot 4", four), (tour.TUNED, tuned))}


def test_an_ordering_that_holds_says_nothing_extra():
    assert ordering_note(_acc(0.4, 0.7, 0.9), tour.TUNED) == ""


@pytest.mark.parametrize("measured, expected", [
    ((0.55, 0.50, 0.90), ["Four examples in the prompt did not improve on zero-shot: it scored "
                          "0.05 lower than zero-shot (0.50 against 0.55 accuracy)"]),
    ((0.40, 0.80, 0.80), ["The tuned model did not improve on four examples: it scored the same "
                          "as four examples (0.80 against 0.80 accuracy)"]),
    ((0.60, 0.50, 0.30), ["Four examples in the prompt did not improve on zero-shot",
                          "The tuned model did not improve on four examples: it scored 0.20 "
                          "lower than four examples (0.30 against 0.50 accuracy)"]),
])
def test_an_ordering_that_fails_says_which_step_and_by_how_much(measured, expected):
    note = ordering_note(_acc(*measured), tour.TUNED)
    assert note.startswith("On this task the ordering zero-shot < few-shot < fine-tuned does "
                           "not hold.")
    for sentence in expected:
        assert sentence in note
    assert note.count("did not improve") == len(expected)


def test_a_failed_variant_means_the_ordering_cannot_be_checked():
    accuracy = _acc(0.4, 0.7, 0.9)
    del accuracy[tour.TUNED]
    assert "cannot be checked" in ordering_note(accuracy, tour.TUNED)


def _results(task: str, zero: float, four: float, tuned: float) -> dict:
    def variant(name, acc, tokens, **extra):
        return {"name": name, "kind": "x", "prompt_tokens_mean": tokens,
                "completion_tokens_mean": 1.0, "error": None,
                "metrics": {"accuracy": {"value": acc, "low": acc - 0.1, "high": acc + 0.1}},
                **extra}

    return {"id": "c1", "config": {"task": task, "n_examples": 12},
            "prices": {"input_per_million": 0.1, "output_per_million": 0.4},
            "variants": [variant("zero-shot", zero, 30), variant("few-shot 4", four, 170),
                         variant(tour.TUNED, tuned, 30, training_cost=0.001, train_seconds=60.0)]}


def test_the_closing_talk_on_the_users_task_says_the_measured_ordering(tmp_path):
    name = make_tickets(tmp_path)
    facts = tour.takeaways(_results(name, 0.58, 0.50, 0.75))
    assert "Four examples in the prompt did not improve on zero-shot" in facts.ordering
    text = stakeholder_text(facts, name)
    assert "**What this comparison showed**: On this task the ordering" in text
    assert "0.08 lower than zero-shot" in text and "of the test rows" in text
    assert not [f for f in ("0.93", "MIXED", "reviews") if f in text], text
    fine = tour.takeaways(_results(name, 0.4, 0.6, 0.8))
    assert fine.ordering == "" and "What this comparison showed" not in stakeholder_text(fine, name)
