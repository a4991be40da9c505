"""Pieces of the Few-shot builder page: the example table and its charts."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.errors import ConfigError
from core.fewshot import PromptBudget, ShotPoint
from core.prompting import Example
from core.tasks import Task

COLUMNS = ["use", "order", "input", "label"]


def set_table(rows: list[dict], task: Task | None) -> None:
    """Replace the example table (a new editor key, so the editor shows the new rows)."""
    frame = pd.DataFrame([{"use": i < 4, "order": i + 1, "input": r["input"], "label": r["label"]}
                          for i, r in enumerate(rows)], columns=COLUMNS)
    st.session_state["fs_table"] = frame
    st.session_state["fs_table_version"] = st.session_state.get("fs_table_version", 0) + 1
    st.session_state["fs_source_task"] = task.name if task else None
    st.session_state.pop("fs_points", None)
    if task is not None:
        values = {"fs_instruction": task.instruction, "fs_labels": ", ".join(task.labels),
                  "fs_template": task.prompt_template}
        st.session_state.update(values)
    

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
    """Accuracy against k, with the prompt tokens it costs on a second axis."""
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=[p.k for p in points], y=[p.accuracy for p in points],
                                mode="lines+markers+text", name="accuracy",
                                text=[f"{p.accuracy:.0%}" for p in points], textposition="top center"))
    figure.add_trace(go.Bar(x=[p.k for p in points], y=[p.mean_prompt_tokens for p in points],
                            name="prompt tokens", yaxis="y2", opacity=0.3))
    figure.update_layout(title="How many shots? Accuracy on the validation slice",
                         xaxis=dict(title="examples in the prompt (k)", tickvals=[p.k for p in points]),
                         yaxis=dict(title="accuracy", range=[0, 1.05], tickformat=".0%"),
                         yaxis2=dict(title="prompt tokens", overlaying="y", side="right"),
                         height=380, legend=dict(orientation="h", y=-0.25))
    st.plotly_chart(figure, key="fs_shots_chart")
