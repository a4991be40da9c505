"""Pieces of the Few-shot builder page: the example table and its charts."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.errors import ConfigError, LabError
from core.fewshot import (DEFAULT_KS, Preview, PromptBudget, ShotPoint, delete_set, hold_out,
                          list_sets, load_set, select_examples, shots_curve, validation_split)
from core.prompting import Example
from core.tasks import Task, list_tasks, load_task
from ui.controls import plain
from ui.engine import show_error

COLUMNS = ["use", "order", "input", "label"]


def set_table(rows: list[dict], task: Task | None) -> None:
    """Replace the example table (a new editor key, so the editor shows the new rows)."""
    frame = pd.DataFrame([{"use": i < 4, "order": i + 1, "input": r["input"], "label": r["label"]}
                          for i, r in enumerate(rows)], columns=COLUMNS)
    st.session_state["fs_table"] = frame
    st.session_state["fs_table_version"] = st.session_state.get("fs_table_version", 0) + 1
    st.session_state["fs_source_task"] = task.name if task else None
    st.session_state.pop("fs_points", None)
    if task is None and rows:  # validation: the table's last rows, leaving a pool to draw from
        st.session_state["fs_val_n"] = max(5, min(30, len(rows) - max(DEFAULT_KS)))
    if task is not None:
        values = {"fs_instruction": task.instruction, "fs_labels": ", ".join(task.labels),
                  "fs_template": task.prompt_template}
        st.session_state.update(values)


def classification_tasks() -> list[str]:
    """The tasks the builder offers: the classification ones, samples and the user's (every
    task when there is none). A damaged task of the user's stays listed, so the picker can
    name it; loading it shows its fix."""
    names = []
    for name in list_tasks():
        try:
            if load_task(name).kind == "classification":
                names.append(name)
        except LabError:
            names.append(name)
    return names or list_tasks()


def query_note(preview: Preview) -> None:
    """Say where the preview's query came from, and when it was left out of the shots."""
    if preview.origin:
        st.caption(f"Query (the box is empty): {preview.origin}. Type one above to ask your own.")
    elif preview.dropped:
        st.caption("This query is also an example in the table: it is left out of the shots "
                   "(a query must never be one of its own examples), here and in a saved set.")

def examples_from_table(table: pd.DataFrame) -> tuple[list[Example], list[Example]]:
    """(every complete row, the rows ticked 'use') as examples, sorted by 'order'."""
    if table is None or table.empty:
        raise ConfigError("The example table is empty.",
                          "Load examples from a sample task, upload a file, or add rows.")
    frame = table.copy()
    frame["order"] = pd.to_numeric(frame["order"], errors="coerce").fillna(10**9)
    frame = frame.sort_values("order", kind="stable")
    pool, manual = [], []
    for number, row in enumerate(frame.itertuples(index=False), 1):
        text, label = str(row.input or "").strip(), str(row.label or "").strip()
        if text in ("", "nan", "None") and label in ("", "nan", "None"):
            continue  # an empty row just added
        if text in ("", "nan", "None") or label in ("", "nan", "None"):
            raise ConfigError(f"Row {number} of the table has an empty "
                              f"{'input' if text in ('', 'nan', 'None') else 'label'}.",
                              "Fill it in or delete the row.")
        example = Example(text, label)
        pool.append(example)
        if bool(row.use):
            manual.append(example)
    if not pool:
        raise ConfigError("The example table is empty.", "Add at least one example.")
    return pool, manual


def validation_note(table: pd.DataFrame, wanted: int) -> None:
    """Under the validation count: how a table without a task will be split, before measuring."""
    try:
        pool, validation, note = validation_split(examples_from_table(table)[0], wanted)
    except ConfigError as exc:
        st.caption(f"{exc.problem} {exc.fix or ''}")
        return
    st.caption(note or f"The last {len(validation)} rows of the table are the validation slice; "
               f"the other {len(pool)} are the pool the examples are drawn from.")


def budget_chart(budget: PromptBudget) -> None:
    """A stacked bar: instruction, examples, query, answer room, and the rest of the window."""
    parts = [("instruction", budget.instruction_tokens, "#8c8c8c"),
             ("examples", sum(budget.example_tokens), "#1f77b4"),
             ("query", budget.query_tokens, "#ff7f0e"), ("answer", budget.answer_tokens, "#2ca02c")]
    free = max(0, budget.window - budget.total)
    figure = go.Figure()
    for name, tokens, colour in parts + [("free", free, "#e8e8e8")]:
        figure.add_trace(go.Bar(x=[tokens], y=["tokens"], name=f"{name} ({tokens:,})",
                                orientation="h", marker_color=colour))
    figure.update_layout(barmode="stack", height=170, margin=dict(l=10, r=10, t=40, b=10),
                         title=f"Context budget: {budget.total:,} of {budget.window:,} tokens "
                               f"({budget.total / budget.window:.1%})",
                         xaxis=dict(range=[0, max(budget.window, budget.total)]),
                         legend=dict(orientation="h", y=-0.4), yaxis=dict(visible=False))
    st.plotly_chart(figure, key="fs_budget_chart")
    per = budget.example_tokens
    if per:
        st.caption(f"{len(per)} examples: {sum(per):,} tokens, {sum(per) / len(per):.0f} per example "
                   f"on average: paid again on every query.")


def shots_chart(points: list[ShotPoint]) -> None:
    """Accuracy against k with 95% intervals, and the prompt tokens it costs on a second axis."""
    figure = go.Figure()
    ks = [p.k for p in points]
    figure.add_trace(go.Scatter(
        x=ks, y=[p.accuracy for p in points], mode="lines+markers+text", name="accuracy (95% interval)",
        text=[f"{p.accuracy:.0%}" for p in points], textposition="middle right",
        error_y=dict(type="data", symmetric=False, array=[p.interval[1] - p.accuracy for p in points],
                     arrayminus=[p.accuracy - p.interval[0] for p in points])))
    figure.add_trace(go.Bar(x=ks, y=[p.mean_prompt_tokens for p in points],
                            name="prompt tokens", yaxis="y2", opacity=0.3))
    n = points[0].n if points else 0
    figure.update_layout(title=f"How many shots? Accuracy on the validation slice ({n} examples, "
                               "with 95% intervals)",
                         xaxis=dict(title="examples in the prompt (k)", tickvals=ks),
                         yaxis=dict(title="accuracy", range=[0, 1.05], tickformat=".0%"),
                         yaxis2=dict(title="prompt tokens", overlaying="y", side="right"),
                         height=400, legend=dict(orientation="h", y=-0.25))
    st.plotly_chart(figure, key="fs_shots_chart")
    if points and not _apart(points):
        st.caption(f"On {n} examples the intervals overlap: these differences may be chance. "
                   "Measure on more validation examples before you choose k.")


def _apart(points: list[ShotPoint]) -> bool:
    """Whether the best point's interval clears the worst one's."""
    best = max(points, key=lambda p: p.accuracy)
    worst = min(points, key=lambda p: p.accuracy)
    return worst.interval[1] < best.interval[0]


def shots_table(points: list[ShotPoint]) -> None:
    """The curve as numbers: accuracy with its interval, examples really used, cost."""
    st.dataframe(pd.DataFrame([{
        "k": p.k, "examples used": p.used if p.used is not None else p.k,
        "accuracy": round(p.accuracy, 3),
        "95% interval": f"{p.interval[0]:.2f} – {p.interval[1]:.2f}", "correct": f"{p.correct}/{p.n}",
        "prompt tokens (mean)": round(p.mean_prompt_tokens), "seconds": round(p.seconds, 1)}
        for p in points]), hide_index=True, key="fs_shots_table")


def receive(request: dict) -> None:
    """What another page asked the builder to show (``ui.navigate``): ``task``, picked in the
    task picker when it is a classification task (the builder's kind)."""
    name = request.get("task")
    if name and name in classification_tasks():
        st.session_state["fs_task"] = name


def load_task_examples() -> None:
    """The 'Load examples' button: a balanced draw from the task's train split, so that a
    small load is not all one label."""
    try:
        task = load_task(st.session_state["fs_task"])
        pool = task.examples("train")
    except LabError as exc:  # a damaged task of the user's: named, with its fix
        show_error(exc)
        return
    picked = select_examples(pool, "balanced", int(st.session_state["fs_n"]), seed=0)
    set_table([e.__dict__ for e in picked], task)


def saved_sets() -> None:
    """The saved sets, each with Edit (back into the table) and Delete."""
    saved = list_sets()
    if not saved:
        return
    with st.expander(f"Saved sets ({len(saved)})"):
        for name in saved:
            _saved_set_row(name)


def _saved_set_row(name: str) -> None:
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


def measure(engine, table: pd.DataFrame, labels: tuple[str, ...]) -> None:
    """The 'Measure' button: the shots curve on the held-out examples (``core.fewshot.hold_out``)."""
    state = st.session_state
    try:
        pool, _ = examples_from_table(table)
        pool, validation, note = hold_out(pool, int(state["fs_val_n"]), state.get("fs_source_task"))
        bar = st.progress(0.0, "Scoring...")
        state["fs_points"] = shots_curve(
            engine, pool, validation, labels, state["fs_instruction"], state["fs_template"],
            DEFAULT_KS, seed=state["fs_seed"],
            progress=lambda i, n: bar.progress(i / n, f"k = {DEFAULT_KS[i - 1]} done"))
        state["fs_points_note"] = note
    except LabError as exc:
        show_error(exc)
