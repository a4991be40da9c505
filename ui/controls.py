"""Widgets shared by pages: generation settings in, figures out."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.config import GenerationParams
from core.generation import Completion, TokenStream

DEFAULTS = GenerationParams()


def init_state(defaults: dict[str, Any]) -> None:
    """Give widget keys their first values (so other pages may preset them without warnings)."""
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def preset_generation(prefix: str, params: GenerationParams) -> None:
    """Put saved settings into the widgets of ``generation_controls(prefix)``."""
    st.session_state.update({
        f"{prefix}_max_new": params.max_new_tokens, f"{prefix}_temp": params.temperature,
        f"{prefix}_top_p": params.top_p, f"{prefix}_top_k": params.top_k,
        f"{prefix}_rep": params.repetition_penalty, f"{prefix}_seed": params.seed or 0,
        f"{prefix}_stops": "\n".join(s.replace("\n", "\\n") for s in params.stop)})


def generation_controls(prefix: str) -> dict[str, Any]:
    """The usual generation settings as a plain dict (validated later by GenerationParams)."""
    if f"{prefix}_max_new" not in st.session_state:
        preset_generation(prefix, DEFAULTS)
    st.markdown("**Generation**")
    values: dict[str, Any] = {
        "max_new_tokens": st.number_input("Max new tokens", 1, 4096, key=f"{prefix}_max_new"),
        "temperature": st.slider("Temperature (0 = greedy)", 0.0, 2.0, step=0.05,
                                 key=f"{prefix}_temp"),
        "top_p": st.slider("Top-p", 0.05, 1.0, step=0.05, key=f"{prefix}_top_p"),
        "top_k": st.number_input("Top-k (0 = off)", 0, 1000, key=f"{prefix}_top_k"),
        "repetition_penalty": st.slider("Repetition penalty", 0.5, 2.0, step=0.05,
                                        key=f"{prefix}_rep"),
        "seed": st.number_input("Seed", 0, 2**31 - 1, key=f"{prefix}_seed"),
    }
    stops = st.text_area("Stop sequences, one per line (\\n for a newline)",
                         key=f"{prefix}_stops", height=68)
    values["stop"] = [line.replace("\\n", "\n") for line in stops.splitlines() if line]
    return values


def stream_answer(stream: TokenStream) -> Completion:
    """Show the answer as it streams, as plain text: exactly what the model wrote, with its
    spaces and newlines (markdown would swallow some of them). Returns its figures."""
    box = st.empty()
    text = ""
    for chunk in stream:
        text += chunk
        box.code(text + "▌", language=None, wrap_lines=True)
    box.code(text or " ", language=None, wrap_lines=True)
    return stream.completion


def figures_row(completion: Completion) -> None:
    """The figures of one answer, as a row of metrics."""
    cols = st.columns(6)
    cols[0].metric("Prompt tokens", completion.prompt_tokens)
    cols[1].metric("Answer tokens", completion.completion_tokens)
    cols[2].metric("Latency", f"{completion.latency_s:.2f} s")
    cols[3].metric("Tokens/s", f"{completion.tokens_per_s:.1f}")
    ttft = completion.time_to_first_token_s
    cols[4].metric("First token", f"{ttft:.2f} s" if ttft is not None else "–")
    cols[5].metric("Finish", completion.finish_reason)
    st.caption(f"engine: {completion.engine} · model: {completion.model}")
