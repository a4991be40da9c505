"""The Tour page's task: the picker, the lesson's words for its task, and its steps.

On the shipped task (review-sentiment) the lesson reads as its presenter's script; on any
other classification task its notes and expected times come from ``core.tour_tasks``, filled
with what this machine measured on that task. The user's task names and labels reach
markdown only through ``plain``: a name like ``[x](http://...)`` shows as typed.
"""

from __future__ import annotations

import streamlit as st

from core import tour
from core.errors import LabError
from core.tasks import task_title
from ui.controls import plain


def task() -> str:
    """The task the lesson is on (the picker's value)."""
    name = st.session_state.get("tour_task")
    return name if isinstance(name, str) else tour.TASK


def lesson() -> tour.LessonTask:
    return tour.lesson_task(task())


def picker() -> None:
    """The task picker: classification tasks, the shipped ones first, the user's marked
    "(yours)"; the lesson's state is the task's own, so switching mixes nothing."""
    options = tour.lesson_tasks()
    state = st.session_state
    if state.get("tour_task") not in options:
        state["tour_task"] = tour.current_task() if tour.current_task() in options else tour.TASK
    st.selectbox("Task of the lesson", options, key="tour_task", format_func=task_title,
                 on_change=_picked, help="The shipped lesson runs on review sentiment; pick one "
                 "of your classification tasks to run the same five steps on its rows. Each "
                 "task keeps its own progress.")


def _picked() -> None:
    """on_change: remember the task for the next tab; the run and comparison are found again."""
    tour.set_current_task(st.session_state["tour_task"])
    st.session_state.update({"tour_run": None, "tour_cmp": None, "tour_picked": True})


def just_picked() -> bool:
    """Whether this render follows a pick in the picker (asked once: the flag is cleared)."""
    return bool(st.session_state.pop("tour_picked", False))


def intro(lesson_task: tour.LessonTask) -> str:
    """The page's opening caption for the lesson's task."""
    if lesson_task.shipped:
        return ("Prompt it or fine-tune it? Five steps on a sample task, three-label review "
                "sentiment (POSITIVE / NEGATIVE / MIXED), with the embedded Gemma 3 270M on this "
                "machine's CPU. Each step is one click on the real lab. Learning alone? Follow "
                "the steps; the presenter's notes under each are what a teacher says.")
    labels = " / ".join(plain(label) for label in lesson_task.labels)
    return (f"Prompt it or fine-tune it? Five steps on your task **{plain(lesson_task.title)}** "
            f"({len(lesson_task.labels)} labels: {labels}; {lesson_task.n_test} test rows, "
            f"{lesson_task.n_train} training rows), with the model in the sidebar on this "
            "machine. Every figure below is measured here on this task as the steps run; the "
            "presenter's script quotes the shipped task's figures, not these.")


def steps(lesson_task: tour.LessonTask) -> tuple[tour.Step, ...]:
    """The shipped script's steps, or the task's own with what was measured on it."""
    if lesson_task.shipped:
        return tour.STEPS
    checks = tour.saved_checks(lesson_task.name)
    try:
        train_steps = tour.train_config(lesson_task.name).max_steps
    except LabError:
        train_steps = 60
    return tour.task_steps(lesson_task, checks.get("zero"), checks.get("shots"), train_steps)


def talk(lesson_task: tour.LessonTask,
         tokens: dict[str, float] | None = None) -> tuple[str, ...]:
    """What to say while the run trains; ``tokens``: the step-4 comparison's mean prompt tokens
    per variant once it has run (the tuned model's count is quoted only from there)."""
    if lesson_task.shipped:
        return tour.TALK_WHILE_TRAINING
    checks = tour.saved_checks(lesson_task.name)
    return tour.task_talk(checks.get("zero"), checks.get("shots"), tokens, tour.TUNED)
