"""The Tour page on a task the user made, as a user read it in a browser: the strip shows the
picked task from its first draw, the tables and captions say the task's words (never
"review"), step 5 is a click, and step 3 quotes the Train page's estimate as that page does."""

from __future__ import annotations

import pytest
import streamlit as st

from core import tour
from core.config import ModelSpec
from core.train_model import estimate
from tests.core.test_tour_any_task import make_tickets
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture
from ui.training import duration

TOUR = "pages/0_Tour.py"


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32", engine="transformers")


def _strip(at) -> str:
    """The overview strip: its progress text and its five step cells."""
    cells = [m.value for m in at.markdown if m.value.startswith(":material/")]
    return " ".join(p.proto.text for p in at.get("progress")) + " " + " ".join(cells)


def test_the_strip_shows_the_picked_task_before_any_step_is_drawn(tiny, tmp_path, monkeypatch):
    tickets = make_tickets(tmp_path)
    at = _page(TOUR, tiny)
    assert "the lesson takes ~" in _strip(at) and "~2.5 min" in _strip(at)  # the shipped one
    # the page stops where the first step would draw: what shows is the strip's first draw
    import ui.tour
    monkeypatch.setattr(ui.tour, "zero_shot_step", lambda engine: st.stop())
    at.selectbox(key="tour_task").set_value(tickets).run()
    assert not at.exception, at.exception
    strip = _strip(at)
    assert "~2.5 min" not in strip and "the lesson takes" not in strip, strip
    assert "each step's time shows once it has run on this task" in strip
    assert "not measured yet" in strip and "a click" in strip


def test_on_its_task_the_words_are_its_own_and_step_5_is_a_click(tiny, tmp_path):
    tickets = make_tickets(tmp_path)
    at = _page(TOUR, tiny)
    at.selectbox(key="tour_task").set_value(tickets).run()
    at.button(key="tour_shots_run").click().run()  # steps 1 and 2, measured on its rows
    at.run()  # step 1's table, drawn above the click, shows from the next render
    assert not at.exception, at.exception
    checks = tour.saved_checks(tickets)
    tables = [list(d.value.columns) for d in at.dataframe]
    assert tables.count(["text", "true label", "answer", "right"]) == 2  # its own field
    assert not [t for t in tables if "review" in t], tables
    text = _text(at)
    for check in checks.values():
        assert f"{check.prompt_tokens:.0f} prompt tokens per row" in text
    script = next(e for e in at.expander if e.label.startswith("Presenter's script"))
    said = text.replace(script.markdown[0].value, "")
    assert "review" not in said.lower().replace("review-sentiment", ""), said
    # step 5: a download and talk, nothing to time, in its header and in the strip
    assert "Expected: a click. The report downloads at once; nothing to time but the talk " \
           "below." in [c.value for c in at.caption]
    assert "not measured yet on this task" not in " ".join(
        c.value for c in at.caption if "a click" in c.value)
    assert "5 · Hand over the report**  \na click" in _strip(at)
    # step 3: the Train page's estimate of the tour's config, written as that page writes it
    seconds = estimate(tour.train_config(tickets))[0]
    assert f"Expected: about {duration(seconds)} (m:ss) here, the Train page's estimate" in text
    assert f"about {duration(seconds)}" in _strip(at)
