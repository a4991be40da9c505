"""A saved setup opens back in the Playground from the Playground's own "Open a saved setup"
box (before, only a request from another page could open one, and no page sent it)."""

from __future__ import annotations

from core.fewshot import FewShotSet, save_set
from core.prompting import Example
from tests.pages.test_pages import fresh_caches  # noqa: F401 - fixture
from tests.pages.test_thin_pages_pages import (PLAY, _page, _save_setup, _technique,  # noqa: F401
                                               tiny)


def test_the_open_box_brings_back_a_saved_setup(tiny):  # noqa: F811
    save_set(FewShotSet("two", (Example("good", "POSITIVE"), Example("bad", "NEGATIVE")),
                        "Classify.", "Review: {input}\nSentiment:", ("POSITIVE", "NEGATIVE")))
    at = _technique(_page(PLAY, tiny), "Few-shot")
    assert not [s for s in at.selectbox if s.key == "play_setup_open"]  # nothing saved: no box
    at.slider(key="play_k").set_value(2)
    at.number_input(key="play_max_new").set_value(7).run()
    _save_setup(at, "two shots")
    _technique(at, "Zero-shot")
    at.number_input(key="play_max_new").set_value(30).run()
    assert at.selectbox(key="play_setup_open").options == ["two shots"]
    at.button(key="play_setup_open_go").click().run()
    assert not at.exception, at.exception
    assert at.session_state["play_mode"] == "Few-shot" and at.session_state["play_set"] == "two"
    assert at.number_input(key="play_max_new").value == 7
    assert any("Opened setup two shots" in i.value for i in at.info)
