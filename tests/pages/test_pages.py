"""Every page renders, uses the model, and handles bad input, under Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.config import GenerationParams, ModelSpec
from core.generation import Completion
from core.history import list_generations, record_generation
from ui.engine import SPEC_KEY

TIMEOUT = 120
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_caches():
    """Streamlit's caches are process-global: start each page test from empty ones (a cached
    estimate from one test's stand-in measurement must not reach the next)."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def _page(path: str, spec: ModelSpec | None = None) -> AppTest:
    """Open a page the way the app does: the main script is app.py, pages are switched to."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if spec is not None:
        at.session_state[SPEC_KEY] = spec
    if path != "app.py":
        at.switch_page(path)
    return at.run()


def _text(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.code] + [str(e.value) for e in at.error]
    parts += [str(e.value) for e in at.info] + [str(e.value) for e in at.warning]
    return "\n".join(parts)


@pytest.mark.integration
def test_home_page_shows_the_embedded_model_in_the_sidebar_once_a_page_uses_it():
    at = _page("app.py")
    assert not at.exception
    assert "not loaded yet" in " ".join(c.value for c in at.sidebar.caption)  # home needs no model
    assert any("loads the first time a page uses it" in i.value for i in at.info)
    at.switch_page("pages/1_Playground.py").run()  # counts the prompt's tokens: loads the model
    at.switch_page("app.py").run()
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "Gemma 3 270M (base)** · llama.cpp engine" in sidebar and "device **cpu**" in sidebar
    assert "loaded in" in sidebar and "plain turn format" in sidebar
    assert "Prompting" in [h.value for h in at.subheader]
    assert "Fine-tuning" in [h.value for h in at.subheader]


def test_home_page_with_a_missing_model_explains_and_stays_usable(tmp_path):
    at = _page("app.py", ModelSpec(source=str(tmp_path / "gone")))
    assert not at.exception
    assert any("does not exist" in e.value for e in at.sidebar.error)
    assert at.sidebar.selectbox[0].value.startswith("Other")


def test_playground_streams_an_answer_with_figures_and_saves_it(tiny_model_dir):
    at = _page("pages/1_Playground.py", ModelSpec(source=str(tiny_model_dir), dtype="float32"))
    assert not at.exception
    at.text_area(key="play_prompt").set_value("The quick brown")
    at.number_input(key="play_max_new").set_value(8)
    at.button(key="play_run").click().run()
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Prompt tokens"] == "4" and int(labels["Answer tokens"]) <= 8
    assert labels["Finish"] in ("length", "stop") and "Tokens/s" in labels
    saved = list_generations()
    assert len(saved) == 1 and saved[0].prompt == "The quick brown"
    assert saved[0].output in _text(at)


def test_playground_shows_the_exact_chat_text(tiny_model_dir):
    at = _page("pages/1_Playground.py", ModelSpec(source=str(tiny_model_dir)))
    at.radio(key="play_mode").set_value("System prompt").run()
    at.text_area(key="play_system").set_value("Be brief.")
    at.text_area(key="play_instruction").set_value("Classify.")
    at.text_area(key="play_template").set_value("R: {input}")
    at.text_area(key="play_input").set_value("Hi").run()
    # the instruction and the input in one user turn; the turn's stops and the template's
    assert "Be brief.\n\nUser: Classify.\nR: Hi\nAssistant:" in [c.value for c in at.code]
    stops = next(c.value for c in at.caption if c.value.startswith("Stops at:"))
    assert "'\\nR:'" in stops and "'\\nUser:'" in stops
    assert any("The exact text the model sees" in e.label for e in at.expander)


def test_playground_too_long_prompt_is_explained_and_the_prompt_kept(tiny_model_dir):
    at = _page("pages/1_Playground.py", ModelSpec(source=str(tiny_model_dir)))
    long_prompt = "The quick brown fox " * 80
    at.text_area(key="play_prompt").set_value(long_prompt)
    at.button(key="play_run").click().run()
    assert not at.exception
    assert any("Shorten the prompt" in e.value for e in at.error)
    assert at.text_area(key="play_prompt").value == long_prompt
    assert list_generations() == []


def test_playground_without_a_model_says_what_to_do_and_keeps_the_prompt(tmp_path, tiny_model_dir):
    at = _page("pages/1_Playground.py", ModelSpec(source=str(tiny_model_dir)))
    at.text_area(key="play_prompt").set_value("my careful prompt").run()
    at.session_state[SPEC_KEY] = ModelSpec(source=str(tmp_path / "gone"))
    at.text_input(key="sidebar_model_source").set_value(str(tmp_path / "gone")).run()
    assert not at.exception
    assert any("pick a working model" in w.value for w in at.warning)
    assert at.button(key="play_run").disabled
    assert at.text_area(key="play_prompt").value == "my careful prompt"
    at.text_input(key="sidebar_model_source").set_value(str(tiny_model_dir)).run()
    assert at.text_area(key="play_prompt").value == "my careful prompt"
    assert not at.button(key="play_run").disabled


def test_history_lists_deletes_and_reloads(tiny_model_dir):
    params = GenerationParams(max_new_tokens=7, temperature=0.3, stop=("\n",))
    done = Completion("an answer", 3, 2, 0.2, "stop", "transformers", "tiny")
    first = record_generation("first prompt", params, done)
    record_generation("second prompt", params, done)
    at = _page("pages/2_History.py", ModelSpec(source=str(tiny_model_dir)))
    assert not at.exception
    assert len(at.dataframe[0].value) == 2
    at.selectbox(key="hist_pick").set_value(first).run()
    assert "first prompt" in [c.value for c in at.code]
    at.button(key="hist_reload").click().run()
    assert at.session_state["play_prompt"] == "first prompt"
    assert at.session_state["play_max_new"] == 7 and at.session_state["play_stops"] == "\\n"


def test_history_delete(tiny_model_dir):
    done = Completion("an answer", 3, 2, 0.2, "stop", "transformers", "tiny")
    keep = record_generation("keep me", GenerationParams(), done)
    drop = record_generation("drop me", GenerationParams(), done)
    at = _page("pages/2_History.py", ModelSpec(source=str(tiny_model_dir)))
    at.selectbox(key="hist_pick").set_value(drop).run()
    at.button(key="hist_delete").click().run()
    assert not at.exception
    assert [e.id for e in list_generations()] == [keep]


def test_empty_history_says_where_answers_come_from(tiny_model_dir):
    at = _page("pages/2_History.py", ModelSpec(source=str(tiny_model_dir)))
    assert any("Nothing here yet" in i.value for i in at.info)


@pytest.mark.parametrize("dtype", ["auto", "bfloat16"])
def test_the_sidebar_says_the_engines_dtype_and_why(dtype, tiny_model_dir):
    from core.precision import cpu_measurement

    at = _page("pages/1_Playground.py", ModelSpec(source=str(tiny_model_dir), dtype=dtype,
                                                   engine="transformers"))
    assert not at.exception, at.exception
    status = " ".join(c.value for c in at.sidebar.caption)
    # auto: the format measured fastest here for an answer, with its figure
    why = cpu_measurement().reason("generate") if dtype == "auto" else \
        "bfloat16: set in the settings"
    assert f"dtype {why}" in status, status
