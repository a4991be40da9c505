"""Widgets shared by pages: generation settings in, figures out."""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from core.config import GenerationParams
from core.generation import Completion, TokenStream

DEFAULTS = GenerationParams()
KEPT = "_lab_kept_keys"


def plain(text: str, keep_format: bool = False) -> str:
    """Text from a model or an upload, safe inside st.markdown: the characters of links,
    images, code, emphasis, maths and HTML backslash-escaped, so ``![x](http://...)`` shows
    as typed and loads nothing.

    ``keep_format``: for the lab's own sentences that embed a name (an error's problem and
    fix): only what can make a link, an image or HTML (``[ ] < >`` and the backslash) is
    escaped, so their `code` and punctuation still read as written and nothing is fetched."""
    pattern = r"([\\\[\]<>])" if keep_format else r"([\\`*_\[\]()#!|<>~$])"
    text = re.sub(pattern, r"\\\1", str(text))
    # a bare address becomes a link (GFM autolink) whatever is escaped: an invisible word
    # joiner after its scheme or "www" keeps it text
    return re.sub(r"(?i)\b(https?:|ftp:|www)(?=[/.])", "\\1\u2060", text)


def init_state(defaults: dict[str, Any]) -> None:
    """Give widget keys their first values, and keep every value across pages and modes.

    Streamlit forgets a widget's value in any run that does not draw it (another
    page, another technique). Assigning each key to itself at the top of the
    page makes it the page's own value, which Streamlit keeps (the documented
    way to keep widget values across pages), so nothing the user typed is lost.
    """
    kept = st.session_state.setdefault(KEPT, set())
    for key, value in defaults.items():
        st.session_state[key] = st.session_state[key] if key in st.session_state else value
        kept.add(key)


def keep_state() -> None:
    """Re-assign every key ``init_state`` has seen, on every page (the sidebar calls this), so
    the values of pages not shown now survive Streamlit's clean-up of undrawn widgets."""
    for key in st.session_state.get(KEPT, ()):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


# the widgets' ranges; GenerationParams (and so the CLI) allows wider ones
RANGES = {"max_new": (1, 4096), "temp": (0.0, 2.0), "top_p": (0.05, 1.0), "top_k": (0, 1000),
          "rep": (0.5, 2.0), "seed": (0, 2**31 - 1)}


def preset_generation(prefix: str, params: GenerationParams) -> list[str]:
    """Put saved settings into the widgets of ``generation_controls(prefix)``.

    Values beyond a widget's range (the CLI allows more) are clamped; the names
    of those are returned so the page can say so.
    """
    values = {"max_new": params.max_new_tokens, "temp": params.temperature,
              "top_p": params.top_p, "top_k": params.top_k,
              "rep": params.repetition_penalty, "seed": params.seed or 0}
    clamped = []
    for name, value in values.items():
        low, high = RANGES[name]
        if not low <= value <= high:
            clamped.append(f"{name} {value} → {min(max(value, low), high)}")
            values[name] = min(max(value, low), high)
    keys = {f"{prefix}_{name}": value for name, value in values.items()}
    keys[f"{prefix}_stops"] = "\n".join(s.replace("\n", "\\n") for s in params.stop)
    st.session_state.update(keys)
    return clamped


def generation_controls(prefix: str) -> dict[str, Any]:
    """The usual generation settings as a plain dict (validated later by GenerationParams)."""
    if f"{prefix}_max_new" not in st.session_state:
        preset_generation(prefix, DEFAULTS)
    init_state({f"{prefix}_{name}": None for name in (*RANGES, "stops")})
    st.markdown("**Generation**")
    values: dict[str, Any] = {
        "max_new_tokens": st.number_input("Max new tokens", *RANGES["max_new"], key=f"{prefix}_max_new"),
        "temperature": st.slider("Temperature (0 = greedy)", *RANGES["temp"], step=0.05,
                                 key=f"{prefix}_temp"),
        "top_p": st.slider("Top-p", *RANGES["top_p"], step=0.05, key=f"{prefix}_top_p"),
        "top_k": st.number_input("Top-k (0 = off)", *RANGES["top_k"], key=f"{prefix}_top_k"),
        "repetition_penalty": st.slider("Repetition penalty", *RANGES["rep"], step=0.05,
                                        key=f"{prefix}_rep"),
        "seed": st.number_input("Seed", *RANGES["seed"], key=f"{prefix}_seed"),
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
    try:
        for chunk in stream:
            text += chunk
            box.code(text + "▌", language=None, wrap_lines=True)
    finally:  # a rerun or Stop mid-stream must free the engine at once
        stream.close()
    box.code(text or " ", language=None, wrap_lines=True)
    return stream.completion


def speed_text(value: float | None) -> str:
    """A speed in tokens/s, or a dash where it cannot be told."""
    return f"{value:.1f}" if value is not None else "–"


def figures_row(completion: Completion, compact: bool = False) -> None:
    """The figures of one answer, as a row of metrics (or one caption line when compact).
    Decoding and prompt processing have a speed each, as llama.cpp reports them: one figure
    over the whole latency would be mostly the prompt's reading for a short answer."""
    ttft = completion.time_to_first_token_s
    decode, read = completion.decode_tokens_per_s, completion.prompt_tokens_per_s
    if compact:
        st.caption(f"{completion.prompt_tokens} prompt + {completion.completion_tokens} answer tokens "
                   f"· {completion.latency_s:.2f} s · decoding {speed_text(decode)} tok/s · prompt "
                   f"{speed_text(read)} tok/s · finish: {completion.finish_reason} · {completion.engine}")
        return
    # two rows of four: seven metrics in one row cut their values short in the editor column
    cols = st.columns(4) + st.columns(4)
    cols[0].metric("Prompt tokens", completion.prompt_tokens)
    cols[1].metric("Answer tokens", completion.completion_tokens)
    cols[2].metric("Latency", f"{completion.latency_s:.2f} s")
    cols[3].metric("Finish", completion.finish_reason)
    cols[4].metric("First token", f"{ttft:.2f} s" if ttft is not None else "–",
                   help="Time to the first answer token: mostly the reading of the prompt.")
    cols[5].metric("Tokens/s", speed_text(decode),
                   help="Decoding speed: the answer tokens after the first, per second after the "
                        "first token (llama.cpp's eval rate). A dash: fewer than two answer tokens.")
    # labelled "Prompt speed", its value in tok/s: one label alone reads "Tokens/s"
    cols[6].metric("Prompt speed", f"{speed_text(read)} tok/s" if read is not None else "–",
                   help="Prompt-processing speed: prompt tokens per second of the wait for the "
                        "first token (llama.cpp's prompt eval rate).")
    st.caption(f"engine: {completion.engine} · model: {completion.model} · overall "
               f"{completion.tokens_per_s:.1f} tok/s (answer tokens over the whole latency, "
               "prompt reading included)")


def price_fields(prefix: str) -> None:
    """The four price fields (keys ``PREFIX_price_in``, ``_price_out``, ``_gpu_hour``,
    ``_cpu_hour``), as Compare and the Advisor show them; value None makes each clearable:
    empty reads None, "unknown", never a price of 0."""
    p1, p2, p3, p4 = st.columns(4)
    p1.number_input("$ per 1M prompt tokens", 0.0, 1000.0, None, key=f"{prefix}_price_in",
                    format="%.4f", placeholder="unknown")
    p2.number_input("$ per 1M answer tokens", 0.0, 1000.0, None, key=f"{prefix}_price_out",
                    format="%.4f", placeholder="unknown")
    p3.number_input("$ per GPU-hour (training)", 0.0, 1000.0, None, key=f"{prefix}_gpu_hour",
                    placeholder="unknown")
    p4.number_input("$ per CPU-hour (training)", 0.0, 1000.0, None, key=f"{prefix}_cpu_hour",
                    placeholder="unknown")
