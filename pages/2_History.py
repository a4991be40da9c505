"""History: every answer the lab gave, kept across restarts; reopen, delete, export."""

import pandas as pd
import streamlit as st

from core.errors import LabError
from core.history import delete_generation, export_history, get_generation, list_generations
from ui.controls import plain, speed_text
from ui.engine import show_error
from ui.navigate import open_page
from ui.sidebar import render_sidebar

st.set_page_config(page_title="History · PromptTune Lab", page_icon="🕘", layout="wide")
render_sidebar()
st.title(":material/history: History")

search = st.text_input("Search prompts and answers", key="hist_search")
try:
    entries = list_generations(limit=500, search=search)
except LabError as exc:  # a damaged or unreadable lab.db: say which and what to do
    show_error(exc)
    st.stop()
if not entries:
    st.info("Nothing here yet: answers from the Playground and the CLI are saved here."
            if not search else f"No saved answer contains {plain(repr(search))}.")
    st.stop()


def _technique(entry) -> str:
    """How the answer was asked for: the technique and task kept with it, else its source."""
    setup = entry.setup or {}
    if setup.get("technique"):
        return setup["technique"] + (f" · {setup['task']}" if setup.get("task") else "")
    return entry.source


# the answer and its figures first, the prompt (long, and the same for many rows) last
table = pd.DataFrame([{
    "id": e.id, "time (UTC)": e.created_at[:16].replace("T", " "), "how": _technique(e),
    "answer": e.output[:120],
    "answer tok": e.completion_tokens, "prompt tok": e.prompt_tokens,
    "latency s": round(e.latency_s, 2), "decoding tok/s": speed_text(e.decode_tokens_per_s),
    "prompt tok/s": speed_text(e.prompt_tokens_per_s), "finish": e.finish_reason,
    "model": e.model, "prompt": e.prompt[:80]} for e in entries])
st.dataframe(table, hide_index=True, width="stretch", column_config={
    "answer": st.column_config.TextColumn(width="medium"),
    "prompt": st.column_config.TextColumn(width="medium")})
st.caption("Decoding tok/s: the answer tokens after the first, per second after the first token; "
           "prompt tok/s: prompt tokens per second of the wait for the first token. A dash: not "
           "kept for answers saved before the lab measured them, or an answer of one token.")

left, right = st.columns(2)
left.download_button("Export JSON", export_history(entries, "json"), "prompttune-history.json",
                     "application/json", key="hist_export_json")
right.download_button("Export CSV", export_history(entries, "csv"), "prompttune-history.csv",
                      "text/csv", key="hist_export_csv")

st.subheader("Look at one entry")
chosen = st.selectbox("Entry", [e.id for e in entries], key="hist_pick",
                      format_func=lambda i: f"#{i}")
try:
    entry = get_generation(chosen)
except LabError as exc:
    show_error(exc)
    st.stop()
if entry is None:
    st.warning(f"Entry #{chosen} was deleted meanwhile.")
    st.stop()
st.caption(plain(f"{_technique(entry)} · {entry.model} on {entry.engine} · {entry.created_at} UTC"))
st.markdown("**Answer**")
st.code(entry.output or " ", language=None, wrap_lines=True)
st.caption(f"{entry.prompt_tokens} prompt + {entry.completion_tokens} answer tokens · "
           f"{entry.latency_s:.2f} s · decoding {speed_text(entry.decode_tokens_per_s)} tok/s · "
           f"prompt {speed_text(entry.prompt_tokens_per_s)} tok/s · finish: {entry.finish_reason}")
st.markdown("**Prompt (exact text the model saw)**")
st.code(entry.prompt, language=None, wrap_lines=True)
st.json(entry.params, expanded=False)
if entry.setup is None:
    st.caption("Saved without its technique and task (before the lab kept them, or by the CLI): "
               "it reopens as free text with this exact prompt.")

reload_col, delete_col = st.columns(2)
if reload_col.button("Open in Playground", key="hist_reload", type="primary",
                     help="Opens the Playground with this answer's technique, task, fields, "
                          "settings and model, as it was asked."):
    open_page("playground", history_entry=entry.id)
if delete_col.button("Delete this entry", key="hist_delete"):
    try:
        delete_generation(entry.id)
    except LabError as exc:  # a read-only or full data folder: the entry stays
        show_error(exc)
    else:
        st.toast(f"Deleted entry #{entry.id}.")
        st.rerun()
