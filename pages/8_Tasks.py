"""Tasks: the sample tasks and yours; make a task of your own data without touching a file."""

from pathlib import Path

import streamlit as st

from core.errors import LabError
from core.task_builder import create_task
from core.task_sources import HUB_PREFIX, read_source
from core.tasks import is_user_task, list_tasks, task_folder, task_title
from ui.controls import init_state, plain
from ui.engine import LazyEngine, current_spec, show_error
from ui.sidebar import render_sidebar
from ui.tasks import (KINDS, PREVIEW_ROWS, cached_source, held_source, label_chart, length_chart,
                      manage_task, planned, preview_frame, read_upload, request_from_state,
                      show_counts, task_line, token_counter, token_lengths, use_buttons)

st.set_page_config(page_title="Tasks · PromptTune Lab", page_icon="🗂️", layout="wide")
engine = render_sidebar()
st.title(":material/dataset: Tasks")
st.caption("A task is examples with an answer each, split into train, validation and test, and "
           "the prompt that asks for the answer. Bring a file of your own and it becomes a task "
           "every page can pick, like the samples: nothing is written until you press Create.")
SOURCES = ("Upload a file", "A file or folder on this machine", "A data set on the Hugging Face Hub")
init_state({"tasks_from": SOURCES[0], "tasks_path": "", "tasks_hub": "", "tasks_hub_config": "",
            "tasks_hub_split": "", "tasks_name": "", "tasks_title": "", "tasks_kind": "classification",
            "tasks_input": "", "tasks_label": "", "tasks_labels": "", "tasks_schema": "",
            "tasks_instruction": "", "tasks_template": "Input: {input}\nAnswer:", "tasks_seed": 0,
            "tasks_test_size": 0.2, "tasks_val_size": 0.1})
state = st.session_state
if state.get("tasks_notice"):
    st.success(plain(state.pop("tasks_notice")), icon=":material/check_circle:")

# 1. every task, the user's with rename, export and delete
st.subheader("Your tasks and the samples")
for name in list_tasks():
    with st.container(border=True):
        try:
            st.markdown(task_line(name))
            damaged = False
        except LabError as exc:  # one damaged task is named with its fix; the others show
            st.warning(f"**{plain(name)}** (yours) cannot be used: {plain(exc.problem)} "
                       f"{plain(exc.fix or '')}", icon=":material/warning:")
            damaged = True
        if is_user_task(name):
            manage_task(name, damaged)

# 2. a new task: where the examples come from
st.subheader("Make a task of your data")
just_made = state.get("tasks_created")
if just_made and is_user_task(just_made):
    st.success(f"Created **{plain(task_title(just_made))}** in "
               f"{plain(str(task_folder(just_made)))}. Every page's task picker lists it, marked "
               "(yours).", icon=":material/check_circle:")
    use_buttons(just_made)
st.radio("Examples from", SOURCES, key="tasks_from", horizontal=True)
source, key = None, None
try:
    if state["tasks_from"] == SOURCES[0]:
        upload = st.file_uploader("A CSV, TSV, JSONL, JSON, Parquet file, or a zip of a task "
                                  "folder", type=["csv", "tsv", "jsonl", "json", "parquet", "zip"],
                                  key="tasks_upload")
        if upload is not None:
            key = f"upload:{upload.name}:{upload.size}"
            with st.spinner("Reading the file..."):
                source = cached_source(key, lambda: read_upload(upload.name, upload.getvalue()))
    elif state["tasks_from"] == SOURCES[1]:
        c1, c2 = st.columns([4, 1])
        c1.text_input("Path: a data file, a save_to_disk folder, or a task folder or zip",
                      key="tasks_path", placeholder="/home/me/reviews.csv")
        c2.write("")
        if c2.button("Read", key="tasks_read"):
            path = Path(state["tasks_path"].strip()).expanduser()
            stamp = path.stat().st_mtime_ns if path.exists() else 0
            with st.spinner("Reading..."):
                cached_source(f"path:{path}:{stamp}", lambda: read_source(path))
    else:
        c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
        c1.text_input("Data set name on the Hub", key="tasks_hub", placeholder="owner/name")
        c2.text_input("Config (optional)", key="tasks_hub_config")
        c3.text_input("Split (optional)", key="tasks_hub_split")
        c4.write("")
        if c4.button("Fetch", key="tasks_fetch"):
            hub = (state["tasks_hub"].strip(), state["tasks_hub_config"].strip() or None,
                   state["tasks_hub_split"].strip() or None)
            with st.spinner("Fetching from the Hub..."):
                cached_source(f"hub:{hub}", lambda: read_source(HUB_PREFIX + hub[0], *hub[1:]))
    held = held_source()
    if source is None and held and not held[0].startswith("upload:") and \
            state["tasks_from"] != SOURCES[0]:
        key, source = held
except LabError as exc:
    show_error(exc)

if source is None:
    st.info("Upload a file (a spreadsheet saved as CSV works), give a path, or fetch a data set "
            "from the Hub: its columns, a preview and the task's figures appear here.",
            icon=":material/info:")
    st.stop()

# 3. columns, kind, labels, prompt, splits
rows, columns = source.rows, source.columns
splits_note = ", ".join(f"{s} {len(r):,}" for s, r in source.splits.items()) \
    if source.has_splits else "one set of rows: the lab splits it"
st.markdown(f"**{plain(source.name)}**: {len(rows):,} rows ({splits_note}); columns "
            f"{plain(', '.join(columns))}.")
st.dataframe(preview_frame(source), hide_index=True, key="tasks_preview")
st.caption(f"The first {min(PREVIEW_ROWS, len(rows))} of {len(rows):,} rows; the figures below "
           "count every row.")
for role in ("tasks_input", "tasks_label"):
    if state[role] not in columns:
        state[role] = columns[0]
c1, c2, c3 = st.columns(3)
c1.selectbox("Input column (what the model reads)", columns, key="tasks_input")
c2.selectbox("Answer column (the label or reference)", columns, key="tasks_label")
c3.selectbox("Kind", list(KINDS), key="tasks_kind", format_func=KINDS.get)
if state["tasks_kind"] == "classification":
    st.text_input("Labels, comma-separated (empty: every label found in the data; rows with "
                  "another label are skipped)", key="tasks_labels")
if state["tasks_kind"] == "json":
    st.text_area("JSON Schema of the answers (empty: inferred from the data)", key="tasks_schema",
                 height=120)
c1, c2 = st.columns(2)
c1.text_input("Task name (letters, digits, spaces, - _ .)", key="tasks_name", max_chars=64)
c2.text_input("Title shown in the pickers (empty: the name)", key="tasks_title")
c1, c2 = st.columns(2)
c1.text_area("Instruction (empty: one written for the kind and labels)", key="tasks_instruction",
             height=90)
c2.text_area("Template ({input} is replaced by the input)", key="tasks_template", height=90)
if source.has_splits:
    st.caption("The source brings its own splits: they are kept (test rows also in train are "
               "removed)." + ("" if "validation" in source.splits else
                              " The validation split is carved from train:"))
if not source.has_splits or "validation" not in source.splits:
    c1, c2, c3 = st.columns(3)
    if not source.has_splits:
        c1.number_input("Test size (a fraction, or a count of rows)", 0.0, 1e6, step=0.05,
                        key="tasks_test_size")
        c3.number_input("Seed of the split", 0, 2**31 - 1, key="tasks_seed")
    c2.number_input("Validation size (a fraction, or a count; 0: none)", 0.0, 1e6, step=0.05,
                    key="tasks_val_size")

# 4. what the task will be, before anything is written
st.subheader("Check, then create")
if just_made and just_made == state["tasks_name"]:
    st.caption("This is the task just created (above). Change the name to make another task "
               "of this source.")
    st.stop()
draft = None
try:
    with st.spinner("Counting, cleaning and splitting every row..."):
        draft = planned(key, request_from_state(source), source)
except LabError as exc:  # core's message: what is wrong and the fix; the widgets keep the choices
    show_error(exc)
if draft is not None:
    show_counts(draft)
    st.markdown("**The exact prompt the model reads** (the first training example, zero-shot)")
    st.code(draft.preview_prompt(), language=None, wrap_lines=True)
    left, right = st.columns(2)
    with left:
        if draft.label_counts:
            label_chart(draft)
    with right:
        loaded = engine is not None and not isinstance(engine, LazyEngine)
        count = engine.count_tokens if loaded else token_counter(current_spec())
        length_chart(token_lengths(draft, count))
        if count is None:
            st.caption("Lengths in words: this model's tokenizer could not be read here (a Hub "
                       "model is counted in its tokens once a page has loaded it).")
if st.button("Create task", key="tasks_create", type="primary", disabled=draft is None):
    try:
        made = create_task(draft)
    except LabError as exc:
        show_error(exc)
    else:
        state["tasks_created"] = made.name
        st.rerun()
