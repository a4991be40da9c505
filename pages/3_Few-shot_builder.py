"""Few-shot builder: pick, edit, order and budget worked examples; save sets; see how many pay off."""

import streamlit as st

from core.datafiles import columns_of, map_columns, read_examples
from core.errors import LabError
from core.fewshot import (STRATEGIES, FewShotSet, check_fits, preview_selection, prompt_budget,
                          save_set)
from core.prompting import PromptRecipe, build_prompt
from core.tasks import task_title
from ui.controls import init_state, plain
from ui.engine import show_error
from ui.fewshot import (budget_chart, classification_tasks, examples_from_table,
                        load_task_examples, measure, query_note, receive, saved_sets, set_table,
                        shots_chart, shots_table, validation_note)
from ui.navigate import arrival
from ui.sidebar import render_sidebar

# an emoji icon is drawn in the browser; a :material: one is fetched from fonts.gstatic.com
st.set_page_config(page_title="Few-shot builder · PromptTune Lab",
                   page_icon="🔢", layout="wide")
engine = render_sidebar()
st.title(":material/format_list_numbered: Few-shot builder")
st.caption("Worked examples in the prompt teach the model the task without training. Each one "
           "costs tokens on every query: build a set, see what it costs, and measure how many "
           "are worth it.")
state = st.session_state
STRATEGY_LABELS = {"manual": "manual (rows ticked 'use', in order)", "random": "random k",
                   "balanced": "balanced per label", "similar": "most similar to the query"}


def examples():
    """1. Where the examples come from, and the table to edit them in."""
    st.subheader("1 · Examples")
    source_tab, upload_tab = st.tabs(["From a task", "Upload CSV / JSONL"])
    with source_tab:
        left, right = st.columns([3, 1])
        offered = classification_tasks()
        if state["fs_task"] not in offered:  # a task of yours renamed or deleted since
            state["fs_task"] = offered[0]
        left.selectbox("Task (a sample, or yours from the Tasks page)", offered, key="fs_task",
                       format_func=task_title)
        right.number_input("How many (balanced, from train)", 1, 300, key="fs_n")
        if st.button("Load examples", key="fs_load_task"):
            load_task_examples()
    with upload_tab:
        upload_examples()
    table = st.data_editor(state["fs_table"], key=f"fs_editor_{state['fs_table_version']}",
                           num_rows="dynamic", width="stretch", hide_index=True, column_config={
                               "use": st.column_config.CheckboxColumn("use", help="for 'manual'"),
                               "order": st.column_config.NumberColumn("order",
                                                                      help="lower comes first"),
                               "input": st.column_config.TextColumn("input", width="large"),
                               "label": st.column_config.TextColumn("label")})
    st.caption("Add rows at the bottom, delete with the row checkbox, reorder by editing 'order'.")
    return table


def upload_examples() -> None:
    upload = st.file_uploader("Examples file", type=["csv", "tsv", "jsonl", "json"],
                              key="fs_upload")
    if upload is None:
        return
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


def prompt_and_selection() -> None:
    """2. The prompt the examples go in; 3. which examples, in which order."""
    st.subheader("2 · Prompt")
    c1, c2 = st.columns(2)
    c1.text_area("Instruction", key="fs_instruction", height=80)
    c2.text_area("Template ({input} is replaced by each example's input)", key="fs_template",
                 height=68)
    c2.text_input("Labels (comma-separated; empty = the labels in the table)", key="fs_labels")
    st.subheader("3 · Selection")
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Strategy", STRATEGIES, key="fs_strategy", format_func=STRATEGY_LABELS.get)
    c2.slider("k (examples)", 0, 16, key="fs_k")
    c3.number_input("Seed", 0, 10_000, key="fs_seed")
    st.text_area("Query (the input the prompt is for; empty: one held out of the examples)",
                 key="fs_query", height=68)


def preview(table):
    """The chosen examples in the prompt, and what they cost of the model's window; returns
    (the examples, the recipe), or ([], None) when there is nothing to build."""
    if table is None or table.empty:  # a first visit: nothing is wrong yet
        st.info("No examples yet: load some from a sample task or a file above, or add rows to "
                "the table. The prompt preview and the context budget appear here.",
                icon=":material/info:")
        return [], None
    try:
        pool, manual = examples_from_table(table)
        labels = tuple(s.strip() for s in state["fs_labels"].split(",") if s.strip()) \
            or tuple(sorted({e.label for e in pool}))
        with st.spinner("Choosing examples..."):
            chosen = preview_selection(pool, manual, state["fs_strategy"], state["fs_k"],
                                       state["fs_seed"], state["fs_query"],
                                       state.get("fs_source_task"))
        selected = list(chosen.shots)
        recipe = PromptRecipe("few-shot" if selected else "zero-shot", state["fs_instruction"],
                              state["fs_template"], tuple(selected), labels=labels)
        query_note(chosen)
        left, right = st.columns([3, 2])
        with left:
            st.markdown(f"**Preview** · {len(selected)} examples")
            st.code(build_prompt(recipe, chosen.query).text, language=None, wrap_lines=True)
        with right:
            budget(recipe, chosen.query)
        return selected, recipe
    except LabError as exc:
        show_error(exc)
        return [], None


def budget(recipe, query: str) -> None:
    if engine is None:
        st.info("Load a model in the sidebar to count tokens against its window.")
        return
    spent = prompt_budget(engine.count_tokens, recipe, query, engine.info.context_window)
    budget_chart(spent)
    check_fits(spent)


def save(selected, recipe) -> None:
    """4. The chosen examples saved as a named set (the Playground and Compare read it)."""
    st.subheader("4 · Save as a named set")
    c1, c2 = st.columns([3, 1])
    c1.text_input("Set name", key="fs_name", placeholder="e.g. sentiment-4-balanced")
    if c2.button("Save set", key="fs_save", type="primary", disabled=recipe is None or not selected):
        try:
            path = save_set(FewShotSet(state["fs_name"], tuple(selected), recipe.instruction,
                                       recipe.template, recipe.labels, state.get("fs_source_task")))
            # kept in the session, so that a rerun (an edit elsewhere) does not wipe the confirmation
            state["fs_saved"] = (state["fs_name"], path.stem, len(selected))
        except LabError as exc:
            show_error(exc)
    just_saved = state.get("fs_saved")
    if just_saved and just_saved[0] == state["fs_name"]:
        st.success(f"Saved {just_saved[2]} examples as **{plain(just_saved[1])}**: the "
                   "Playground's few-shot technique and the comparison can use it now.")
    saved_sets()


def how_many(table, recipe) -> None:
    """5. Accuracy for k = 0, 1, 2, 4, 8 on held-out examples."""
    st.subheader("5 · How many shots?")
    st.caption("Accuracy on a validation slice for k = 0, 1, 2, 4, 8 examples (balanced per "
               "label, drawn from the table), by the log-likelihood of each label: no answer "
               "parsing, reproducible.")
    task_name = state.get("fs_source_task")
    st.number_input("Validation examples" + (f" (from the validation split of {plain(task_name)})"
                                             if task_name else
                                             " (the last rows of the table, kept out of the pool)"),
                    5, 90, key="fs_val_n")
    if not task_name and table is not None and not table.empty:
        validation_note(table, int(state["fs_val_n"]))
    if st.button("Measure", key="fs_curve", disabled=engine is None):
        measure(engine, table, recipe.labels if recipe else ())
    if state.get("fs_points"):
        if state.get("fs_points_note"):
            st.warning(plain(state["fs_points_note"], keep_format=True), icon=":material/info:")
        shots_chart(state["fs_points"])
        shots_table(state["fs_points"])


init_state({"fs_task": "review-sentiment", "fs_n": 24, "fs_strategy": "balanced", "fs_k": 4,
            "fs_seed": 0, "fs_query": "", "fs_instruction": "",
            "fs_template": "Input: {input}\nAnswer:", "fs_labels": "", "fs_name": "", "fs_val_n": 30})
receive(arrival("fewshot"))
if "fs_table" not in state:
    set_table([], task=None)
table = examples()
prompt_and_selection()
selected, recipe = preview(table)
save(selected, recipe)
how_many(table, recipe)
