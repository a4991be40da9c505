"""Playground: pick a technique and a task, see the exact prompt, stream the answer and its figures."""

import streamlit as st

from core.tasks import list_tasks
from ui.controls import generation_controls, init_state, plain
from ui.navigate import arrival
from ui.play_answer import generate, show_last
from ui.play_editor import DEFAULTS, editor, exact_text, open_saved_setup, save_as_setup
from ui.play_open import receive
from ui.playground import TECHNIQUES, apply_task, on_technique_change
from ui.sidebar import render_sidebar

st.set_page_config(page_title="Playground · PromptTune Lab", page_icon="💬", layout="wide")
receive(arrival("playground"))  # before the sidebar: a request may set its model
engine = render_sidebar()
st.title(":material/chat: Playground")


def notices() -> None:
    """What the last page's request did (an answer reopened, what differs), and no model."""
    if st.session_state.get("play_reopened"):
        st.info(plain(st.session_state.pop("play_reopened"), keep_format=True),
                icon=":material/history:")
    if st.session_state.get("play_notice"):
        st.warning(plain(st.session_state.pop("play_notice"), keep_format=True))
    if engine is None:
        # keep drawing the editor below, so that nothing the user typed is lost
        st.warning("No model is loaded: pick a working model in the sidebar. Your prompt and "
                   "settings stay as they are.")


def technique() -> str:
    mode = st.radio("Technique", list(TECHNIQUES), horizontal=True, key="play_mode",
                    on_change=on_technique_change, format_func=lambda m: TECHNIQUES[m][0],
                    help="\n\n".join(f"**{label}**: {why}" for label, why in TECHNIQUES.values()))
    st.caption(TECHNIQUES[mode][1])
    return mode


def settings(mode: str) -> dict:
    raw_params = generation_controls("play")
    if mode == "ReAct":
        st.caption("ReAct steps decode greedily, up to 80 tokens a step, stopping before each "
                   "Observation: the settings above apply to the other techniques.")
    return raw_params


notices()
init_state(DEFAULTS)
if not st.session_state["play_instruction"] and st.session_state["play_task"] in list_tasks():
    apply_task()
mode = technique()
left, right = st.columns([3, 1])
with right:
    raw_params = settings(mode)
with left:
    shown = editor(mode, engine)
    exact_text(shown, engine, mode)
    run = st.button("Generate", type="primary", key="play_run",
                    disabled=engine is None or not shown.prompt)
    if run:
        generate(mode, engine, shown, raw_params)
    show_last(mode, just_run=run)
    if mode != "Free text":
        save_as_setup(mode, raw_params)
    open_saved_setup()
