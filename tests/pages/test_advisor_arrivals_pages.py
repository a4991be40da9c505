"""Ways into the Advisor under AppTest (issue 18): the Tasks page's "Use it in Advisor" opens it
with the new task picked, another page's request for an advice opens that advice, and the
Tour's last step opens it on the lesson's task. No model loads: the planner is stood in for
(tests.pages.test_advisor_pages), the Tour's comparison too."""

from __future__ import annotations

import pytest

import ui.tour
from core import advice_job, tour
from core.advice_plan import AdviceConfig
from core.config import ModelSpec
from tests.core.test_tour_user_wording import _results
from tests.pages.test_advisor_pages import ADVISOR, _ended, planner  # noqa: F401 - fixture
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture
from ui.navigate import REQUESTS


@pytest.fixture
def tiny(tiny_model_dir) -> ModelSpec:
    return ModelSpec(source=str(tiny_model_dir), dtype="float32")


def _on_advisor(at) -> None:
    assert not at.exception, at.exception
    assert "Advisor" in at.title[0].value
    assert "advisor" not in at.session_state[REQUESTS]  # read once, then gone


def test_use_it_in_advisor_opens_the_advisor_with_the_new_task_picked(tiny, planner):
    from tests.pages.test_tasks_page import TASKS, _make

    advice_job.create_advice(AdviceConfig(task="review-sentiment"))  # a live one: not shown
    at = _make(_page(TASKS, tiny))
    at.button(key="tasks_create").click().run()
    assert [b.label for b in at.button if b.key.startswith("tasks_use_")][-1] == \
        "Use it in Advisor"
    at.button(key="tasks_use_Advisor").click().run()
    _on_advisor(at)
    assert at.selectbox(key="adv_task").value == "tickets"
    assert at.session_state["adv_tab"] == "New advice"  # not the live advice's tab
    assert planner[-1].task == "tickets"  # the plan shown is the new task's


def test_a_request_for_an_advice_opens_that_one(planner):
    older = _ended("cancelled")
    advice_job.create_advice(AdviceConfig(task="review-sentiment"))  # newer, and live
    at = _page("app.py")
    at.session_state[REQUESTS] = {"advisor": {"advice": older}}
    at.switch_page(ADVISOR).run()
    _on_advisor(at)
    assert at.session_state["adv_selected"] == older
    assert at.session_state["adv_tab"] == "Advice"
    assert any("This advice cancelled after 0 of" in w.value for w in at.warning)
    at.run()  # the request is spent: the user's own choices stand from here on
    assert at.session_state["adv_selected"] == older and not at.exception


class _Finished:
    """The tour's comparison, as get_comparison returns a succeeded one."""
    id, status, task, started, ended = "c1", "succeeded", tour.TASK, 0.0, 139.0


def test_the_tours_last_step_opens_the_advisor_on_the_lessons_task(tiny, planner, monkeypatch):
    results = _results(tour.TASK, 0.6)
    monkeypatch.setattr(ui.tour, "_comparison", lambda: _Finished())
    monkeypatch.setattr(ui.tour, "load_results", lambda comparison_id: results)
    monkeypatch.setattr(ui.tour, "_report", lambda comparison_id: "<html></html>")
    at = _page("pages/0_Tour.py", tiny)
    assert not at.exception, at.exception
    text = _text(at)
    assert "What to tell a stakeholder" in text
    assert "the Advisor measures prompts and LoRA on more and more of your rows and says " \
           "which to use" in text
    assert "measured on this machine too" in text and "pick your own there" in text
    button = at.button(key="tour_advisor")
    assert button.label == f"Open the Advisor on {tour.TASK}"
    button.click().run()
    _on_advisor(at)
    assert at.selectbox(key="adv_task").value == tour.TASK
    assert planner[-1].task == tour.TASK


def test_the_tour_points_at_the_advisor_only_once_its_lesson_has_an_answer(tiny, planner):
    at = _page("pages/0_Tour.py", tiny)
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == "tour_advisor"]
    assert "Unlocks when the comparison of step 4 has finished." in _text(at)
