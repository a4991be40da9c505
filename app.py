"""PromptTune Lab: home page. Run with `streamlit run app.py` (the README's first command does)."""

import streamlit as st

from ui.controls import plain
from ui.engine import LazyEngine, current_spec, model_title
from ui.sidebar import render_sidebar

# an emoji, not ":material/science:": a material page icon is an image the browser fetches
# from fonts.gstatic.com (a failed name lookup offline); an emoji is drawn from a data: URL
st.set_page_config(page_title="PromptTune Lab", page_icon="🧪", layout="wide")
engine = render_sidebar()

st.title("PromptTune Lab")
st.markdown(
    "**Prompt it, fine-tune it, or feed it your documents?** This lab answers that question for "
    "*your* task with measurements on a real model, running on your own machine: the same "
    "examples through each approach, with quality, latency, tokens and cost side by side."
)

left, middle, right = st.columns(3)
with left:
    st.subheader("Prompting")
    st.markdown(
        "Change only the **text the model reads**: an instruction, a few worked examples "
        "(few-shot), a request to reason step by step. Nothing to train, results in seconds, "
        "and you can change your mind at once. You pay for it on every query: examples and "
        "instructions make every prompt longer, and a small model only follows so far.")
with middle:
    st.subheader("Retrieval (RAG)")
    st.markdown(
        "Look up passages from **your documents** and put them in the prompt. The model can "
        "then answer about facts it never saw in training, and you update knowledge by editing "
        "documents, not weights. Costs: an index to build, longer prompts, and answers only as "
        "good as what the retriever finds.")
with right:
    st.subheader("Fine-tuning")
    st.markdown(
        "Change the **weights**: train on your labelled examples (LoRA and friends train a "
        "small add-on, full fine-tuning trains everything). The behaviour is built in, so "
        "prompts get short and the model follows your format. Costs: data to collect, a "
        "training run up front, and a model to keep up to date.")

st.divider()
st.subheader("Where to start")
st.page_link("pages/0_Tour.py", label="**New here, or teaching? Take the 10-minute lesson**: "
             "zero-shot, few-shot, a live LoRA run, the comparison and a report, a click a step",
             icon=":material/school:")  # one line: a page link does not wrap
st.page_link("pages/8_Tasks.py", label="**Tasks**: bring your own data (a CSV, JSONL, Parquet "
             "file...) and make it a task every page can pick, in a minute, no file to edit",
             icon=":material/dataset:")
st.page_link("pages/1_Playground.py", label="**Playground**: write a prompt, see the exact text "
             "the model reads, stream its answer with tokens, time and speed", icon=":material/chat:")
st.page_link("pages/3_Few-shot_builder.py", label="**Few-shot builder**: pick, edit, order and "
             "budget worked examples, save them as a set, and measure how many are worth it",
             icon=":material/format_list_numbered:")
st.page_link("pages/5_Train.py", label="**Train**: fine-tune a model on a sample task or your "
             "own examples with LoRA, QLoRA, IA3, prompt tuning or full fine-tuning, with an "
             "estimate before you start", icon=":material/model_training:")
st.page_link("pages/6_Runs.py", label="**Runs**: every training run with its live loss curve, "
             "cancel, resume, download, and its adapter one click from the Playground",
             icon=":material/list_alt:")
st.page_link("pages/4_Knowledge.py", label="**Knowledge**: your documents, chunked and indexed; "
             "see what the retriever finds and ask with and without it (RAG)",
             icon=":material/menu_book:")
st.page_link("pages/7_Compare.py", label="**Compare**: the same test examples through prompting, "
             "few-shot, RAG and fine-tuned variants; quality, cost, and a stakeholder report",
             icon=":material/compare:")
st.page_link("pages/9_Advisor.py", label="**Advisor**: prompt, fine-tune or retrieve? Measured on "
             "your task, with the curve that shows why", icon=":material/explore:")
st.page_link("pages/2_History.py", label="**History**: every answer the lab has given, with its "
             "prompt and settings; reload, delete, export", icon=":material/history:")
if isinstance(engine, LazyEngine):  # the home page needs no model: it loads where one is used
    st.info(f"**{plain(model_title(current_spec()), keep_format=True)}** loads the first time a page uses it, in a few "
            "seconds (the very first start converts the embedded model once, about a minute), "
            "and then stays loaded for every page. Pick another model in the sidebar: an "
            "embedded one, a Hugging Face id, or a local folder.", icon=":material/info:")
elif engine is not None:
    info = engine.info
    st.info(f"Loaded **{plain(info.title, keep_format=True)}** on **{info.device}** ({info.dtype}) in "
            f"{info.load_seconds:.1f} s. Pick another model in the sidebar: an embedded one, a "
            "Hugging Face id, or a local folder.", icon=":material/check_circle:")
