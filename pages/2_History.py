"""History: every answer the lab gave, kept across restarts; reload, delete, export."""

import pandas as pd
import streamlit as st

from core.history import delete_generation, export_history, get_generation, list_generations
from ui.controls import preset_generation
from ui.sidebar import render_sidebar

st.set_page_config(page_title="History · PromptTune Lab", page_icon=":material/history:", layout="wide")
render_sidebar()
st.title(":material/history: History")

search = st.text_input("Search prompts and answers", key="hist_search")
entries = list_generations(limit=500, search=search)
if not entries:
    st.info("Nothing here yet: answers from the Playground and the CLI are saved here."
            if not search else f"No saved answer contains {search!r}.")
    st.stop()

table = pd.DataFrame([{
    "id": e.id, "time (UTC)": e.created_at, "model": e.model, "from": e.source,
    "prompt": e.prompt[:80], "answer": e.output[:80], "prompt tok": e.prompt_tokens,
    "answer tok": e.completion_tokens, "latency s": round(e.latency_s, 2),
    "tok/s": round(e.tokens_per_s, 1), "finish": e.finish_reason} for e in entries])
st.dataframe(table, hide_index=True, width="stretch")

left, right = st.columns(2)
left.download_button("Export JSON", export_history(entries, "json"), "prompttune-history.json",
                     "application/json", key="hist_export_json")
right.download_button("Export CSV", export_history(entries, "csv"), "prompttune-history.csv",
                      "text/csv", key="hist_export_csv")

st.subheader("Look at one entry")
chosen = st.selectbox("Entry", [e.id for e in entries], key="hist_pick",
                      format_func=lambda i: f"#{i}")
entry = get_generation(chosen)
if entry is None:
    st.warning(f"Entry #{chosen} was deleted meanwhile.")
    st.stop()
st.markdown("**Prompt (exact text the model saw)**")
st.code(entry.prompt, language=None, wrap_lines=True)
st.markdown("**Answer**")
st.code(entry.output or " ", language=None, wrap_lines=True)
st.json(entry.params, expanded=False)

reload_col, delete_col = st.columns(2)
if reload_col.button("Open in Playground", key="hist_reload", type="primary"):
    st.session_state.update({"play_mode": "Free text", "play_prompt": entry.prompt})
    clamped = preset_generation("play", entry.generation_params)
    if clamped:
        st.session_state["play_notice"] = ("Some saved settings are beyond the Playground's "
                                           "controls and were clamped: " + ", ".join(clamped))
    st.switch_page("pages/1_Playground.py")
if delete_col.button("Delete this entry", key="hist_delete"):
    delete_generation(entry.id)
    st.toast(f"Deleted entry #{entry.id}.")
    st.rerun()
