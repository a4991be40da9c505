"""Playground: a prompt in, a streamed answer out, with the exact text and its figures."""

import streamlit as st

from core.chat import Message
from core.config import GenerationParams
from core.errors import LabError
from core.history import record_generation
from ui.controls import figures_row, generation_controls, init_state, stream_answer
from ui.engine import show_error
from ui.sidebar import render_sidebar

st.set_page_config(page_title="Playground · PromptTune Lab", page_icon=":material/chat:", layout="wide")
engine = render_sidebar()
st.title(":material/chat: Playground")
if engine is None:
    # keep drawing the editor below, so that nothing the user typed is lost
    st.warning("No model is loaded: pick a working model in the sidebar. Your prompt and "
               "settings stay as they are.")

init_state({"play_mode": "Completion", "play_prompt": "The three primary colours are",
            "play_system": "You are a helpful assistant. Answer in one sentence.",
            "play_user": "What is the capital of France?"})
mode = st.radio("Mode", ["Completion", "Chat"], horizontal=True, key="play_mode",
                help="Completion: the model continues your text as is. Chat: a system text and a "
                     "user turn, put in the model's chat template (or the lab's plain turn "
                     "format for models without one).")
editor, settings = st.columns([3, 1])
with settings:
    raw_params = generation_controls("play")
with editor:
    if mode == "Completion":
        prompt = st.text_area("Prompt", key="play_prompt", height=180)
        extra_stops: tuple[str, ...] = ()
    else:
        system = st.text_area("System", key="play_system", height=80)
        user = st.text_area("User", key="play_user", height=100)
        prompt, extra_stops = "", ()
        if engine is not None:
            try:
                prompt = engine.chat_prompt([Message("system", system), Message("user", user)])
                extra_stops = engine.chat_stops()
            except LabError as exc:
                show_error(exc)

    if engine is not None:
        n_tokens = engine.count_tokens(prompt) if prompt else 0
        with st.expander(f"The exact text the model sees · {n_tokens} tokens of "
                         f"{engine.info.context_window:,}", expanded=mode == "Chat"):
            st.code(prompt or " ", language=None, wrap_lines=True)
    run = st.button("Generate", type="primary", key="play_run", disabled=engine is None)

if run:
    try:
        params = GenerationParams.from_dict({**raw_params, "stop": raw_params["stop"] + list(extra_stops)})
        stream = engine.stream(prompt, params)
        with editor:
            st.markdown("**Answer**")
            completion = stream_answer(stream)
        record_generation(prompt, params, completion)
        st.session_state["play_last"] = completion
    except LabError as exc:
        with editor:
            show_error(exc)

last = st.session_state.get("play_last")
if last is not None:
    with editor:
        if not run:
            st.markdown("**Answer**")
            st.code(last.text or " ", language=None, wrap_lines=True)
        figures_row(last)
