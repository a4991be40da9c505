"""Few-shot builder: pick, edit, order and budget worked examples; save sets; see how many pay off."""

import pandas as pd
import streamlit as st

from core.datafiles import columns_of, map_columns, read_examples
from core.errors import LabError
from core.fewshot import (DEFAULT_KS, STRATEGIES, FewShotSet, check_fits, delete_set, list_sets,
                          load_set, preview_selection, prompt_budget, save_set, select_examples,
                          shots_curve, validation_split)
from core.prompting import PromptRecipe, build_prompt
from core.tasks import list_tasks, load_task, task_title
from ui.controls import init_state, plain
from ui.engine import show_error
from ui.fewshot import (budget_chart, classification_tasks, examples_from_table, query_note, set_table, shots_chart,
                        shots_table, validation_note)
from ui.sidebar import render_sidebar

# an emoji icon is drawn in the browser; a :material: one is fetched from fonts.gstatic.com
st.set_page_config(page_title="Few-shot builder · PromptTune Lab",
                   page_icon="🔢", layout="wide")
engine = render_sidebar()
st.title(":material/format_list_numbered: Few-shot builder")
st.caption("Worked examples in the prompt teach the model the task without training. Each one "
           "costs tokens on every query: build a set, see what it costs, and measure how many "
           "are worth it.")

init_state({"fs_task": "review-sentiment", "fs_n": 24, "fs_strategy": "balanced", "fs_k": 4,
            "fs_seed": 0, "fs_query": "", "fs_instruction": "", "fs_template": "Input: {input}\nAnswer:",
            "fs_labels": "", "fs_name": "", "fs_val_n": 30})
if "fs_table" not in st.session_state:
    set_table([], task=None)

# 1. where the examples come from
st.subheader("1 · Examples")
source_tab, upload_tab = st.tabs(["From a task", "Upload CSV / JSONL"])
with source_tab:
    left, right = st.columns([3, 1])
    offered = classification_tasks()
    if st.session_state["fs_task"] not in offered:  # a task of yours renamed or deleted since
        st.session_state["fs_task"] = offered[0]
    left.selectbox("Task (a sample, or yours from the Tasks page)", offered, key="fs_task",
                   format_func=task_title)
    right.number_input("How many (balanced, from train)", 1, 300, key="fs_n")
    if st.button("Load examples", key="fs_load_task"):
        try:
            task = load_task(st.session_state["fs_task"])
            pool = task.examples("train")
        except LabError as exc:  # a damaged task of the user's: named, with its fix
            show_error(exc)
        else:
            # a balanced draw, so that a small load is not all one label
            picked = select_examples(pool, "balanced", int(st.session_state["fs_n"]), seed=0)
            set_table([e.__dict__ for e in picked], task)
with upload_tab:
    upload = st.file_uploader("Examples file", type=["csv", "tsv", "jsonl", "json"], key="fs_upload")
    if upload is not None:
        try:
            rows = read_examples(upload.getvalue(), upload.name)
            columns = columns_of(rows)
            c1, c2 = st.columns(2)
            input_col = c1.selectbox("Input column", columns, key="fs_map_input")
            label_col = c2.selectbox("Label column", columns, key="fs_map_label",
                                     index=min(1, len(columns) - 1))
            if st.button("Use this file", key="fs_use_upload"):
                set_table(map_columns(rows, input_col, label_col, upload.name), task=None)
        except LabError as exc:
            show_error(exc)

table = st.data_editor(st.session_state["fs_table"], key=f"fs_editor_{st.session_state['fs_table_version']}",
                       num_rows="dynamic", width="stretch", hide_index=True,
                       column_config={
                           "use": st.column_config.CheckboxColumn("use", help="for 'manual'"),
                           "order": st.column_config.NumberColumn("order", help="lower comes first"),
                           "input": st.column_config.TextColumn("input", width="large"),
                           "label": st.column_config.TextColumn("label")})
st.caption("Add rows at the bottom, delete with the row checkbox, reorder by editing 'order'.")

# 2. the prompt the examples go in
st.subheader("2 · Prompt")
c1, c2 = st.columns(2)
c1.text_area("Instruction", key="fs_instruction", height=80)
c2.text_area("Template ({input} is replaced by each example's input)", key="fs_template", height=68)
c2.text_input("Labels (comma-separated; empty = the labels in the table)", key="fs_labels")

# 3. which examples, in which order
st.subheader("3 · Selection")
c1, c2, c3 = st.columns(3)
c1.selectbox("Strategy", STRATEGIES, key="fs_strategy",
             format_func={"manual": "manual (rows ticked 'use', in order)", "random": "random k",
                          "balanced": "balanced per label", "similar": "most similar to the query"}.get)
c2.slider("k (examples)", 0, 16, key="fs_k")
c3.number_input("Seed", 0, 10_000, key="fs_seed")
st.text_area("Query (the input the prompt is for; empty: one held out of the examples)",
             key="fs_query", height=68)

selected, recipe = [], None
if table is None or table.empty:  # a first visit: nothing is wrong yet
    st.info("No examples yet: load some from a sample task or a file above, or add rows to "
            "the table. The prompt preview and the context budget appear here.",
            icon=":material/info:")
else:
    try:
        pool, manual = examples_from_table(table)
        labels = tuple(s.strip() for s in st.session_state["fs_labels"].split(",") if s.strip()) \
            or tuple(sorted({e.label for e in pool}))
        with st.spinner("Choosing examples..."):
            preview = preview_selection(pool, manual, st.session_state["fs_strategy"],
                                        st.session_state["fs_k"], st.session_state["fs_seed"],
                                        st.session_state["fs_query"],
                                        st.session_state.get("fs_source_task"))
        selected, query = list(preview.shots), preview.query
        recipe = PromptRecipe("few-shot" if selected else "zero-shot", st.session_state["fs_instruction"],
                              st.session_state["fs_template"], tuple(selected), labels=labels)
        built = build_prompt(recipe, query)
        query_note(preview)
        left, right = st.columns([3, 2])
        with left:
            st.markdown(f"**Preview** · {len(selected)} examples")
            st.code(built.text, language=None, wrap_lines=True)
        with right:
            if engine is not None:
                budget = prompt_budget(engine.count_tokens, recipe, query, engine.info.context_window)
                budget_chart(budget)
                check_fits(budget)
            else:
                st.info("Load a model in the sidebar to count tokens against its window.")
    except LabError as exc:
        show_error(exc)
        recipe = None

# 4. save
st.subheader("4 · Save as a named set")
c1, c2 = st.columns([3, 1])
c1.text_input("Set name", key="fs_name", placeholder="e.g. sentiment-4-balanced")
if c2.button("Save set", key="fs_save", type="primary", disabled=recipe is None or not selected):
    try:
        path = save_set(FewShotSet(st.session_state["fs_name"], tuple(selected), recipe.instruction,
                                   recipe.template, recipe.labels, st.session_state.get("fs_source_task")))
        # kept in the session, so that a rerun (an edit elsewhere) does not wipe the confirmation
        st.session_state["fs_saved"] = (st.session_state["fs_name"], path.stem, len(selected))
    except LabError as exc:
        show_error(exc)
just_saved = st.session_state.get("fs_saved")
if just_saved and just_saved[0] == st.session_state["fs_name"]:
    st.success(f"Saved {just_saved[2]} examples as **{plain(just_saved[1])}**: the Playground's "
               "few-shot technique and the comparison can use it now.")
saved = list_sets()
if saved:
    with st.expander(f"Saved sets ({len(saved)})"):
        for name in saved:
            a, b, c = st.columns([3, 1, 1])
            try:
                one = load_set(name)
            except LabError as exc:  # one damaged file: shown as such, the others as before
                one = None
                a.warning(f"**{plain(name)}** cannot be used: {plain(exc.problem)} "
                          f"{plain(exc.fix or '')}", icon=":material/warning:")
            else:
                a.markdown(f"**{plain(name)}** · {len(one.examples)} examples · labels "
                           f"{plain(', '.join(one.labels)) or '–'}")
            if one is not None and b.button("Edit", key=f"fs_edit_{name}"):
                set_table([e.__dict__ for e in one.examples],
                          task=load_task(one.task) if one.task in list_tasks() else None)
                st.session_state.update({"fs_instruction": one.instruction, "fs_template": one.template,
                                         "fs_labels": ", ".join(one.labels), "fs_name": name,
                                         "fs_strategy": "manual"})
                st.rerun()
            if c.button("Delete", key=f"fs_del_{name}"):
                try:
                    delete_set(name)
                except LabError as exc:  # a read-only data folder: the set stays
                    show_error(exc)
                else:
                    st.rerun()

# 5. how many shots are worth it
st.subheader("5 · How many shots?")
st.caption("Accuracy on a validation slice for k = 0, 1, 2, 4, 8 examples (balanced per label, "
           "drawn from the table), by the log-likelihood of each label: no answer parsing, "
           "reproducible.")
task_name = st.session_state.get("fs_source_task")
st.number_input("Validation examples" + (f" (from the validation split of {plain(task_name)})"
                                         if task_name
                                         else " (the last rows of the table, kept out of the pool)"),
                5, 90, key="fs_val_n")
if not task_name and table is not None and not table.empty:
    validation_note(table, int(st.session_state["fs_val_n"]))
if st.button("Measure", key="fs_curve", disabled=engine is None):
    try:
        pool, _ = examples_from_table(table)
        n_val = int(st.session_state["fs_val_n"])
        if task_name:
            validation = load_task(task_name).examples("validation", limit=n_val)
            note = None if len(validation) == n_val else \
                f"The validation split of {plain(task_name)} has {len(validation)} examples: all are used."
        else:
            pool, validation, note = validation_split(pool, n_val)
        bar = st.progress(0.0, "Scoring...")
        points = shots_curve(engine, pool, validation, recipe.labels if recipe else (),
                             st.session_state["fs_instruction"], st.session_state["fs_template"],
                             DEFAULT_KS, seed=st.session_state["fs_seed"],
                             progress=lambda i, n: bar.progress(i / n, f"k = {DEFAULT_KS[i - 1]} done"))
        st.session_state["fs_points"] = points
        st.session_state["fs_points_note"] = note
    except LabError as exc:
        show_error(exc)
if st.session_state.get("fs_points"):
    if st.session_state.get("fs_points_note"):
        st.warning(st.session_state["fs_points_note"], icon=":material/info:")
    shots_chart(st.session_state["fs_points"])
    shots_table(st.session_state["fs_points"])
