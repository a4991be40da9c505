"""Pieces of the Tasks page: the list of tasks, reading a source once, planning, charts.

The page reads a source (an upload, a path, a Hub name) once and keeps its rows in the
session, keyed by what identifies it (an upload's name and size), so a 100,000-row file is
not read again on every rerun. ``core.task_builder.plan_task`` runs when a choice changes
(about a second for 100,000 rows) and its draft is kept for the same choices, so the
reruns in between (a click elsewhere) cost nothing. Only a page of rows is ever drawn.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.errors import LabError
from core.task_builder import TaskDraft, TaskRequest, export_task, plan_task, task_request
from core.task_sources import SourceData, read_source
from core.task_stats import length_figures, value_text
from core.task_versions import short
from core.tasks import (SPLITS, available_splits, delete_task, load_split, load_task, rename_task,
                        split_path)
from ui.controls import plain
from ui.engine import show_error
from ui.navigate import open_page

PREVIEW_ROWS = 30  # rows drawn of a source: a page, never the whole file
TOKEN_SAMPLE = 2000  # inputs whose tokens are counted for the histogram (spread over the rows)
KINDS = {"classification": "classification (one of a few labels)",
         "json": "JSON extraction (an object per answer)",
         "qa": "question answering (short answers)", "numeric": "numeric (a number)",
         "text": "free text (reference outputs)"}
INPUT_NAMES = ("text", "input", "review", "sentence", "question", "prompt", "content", "body")
LABEL_NAMES = ("label", "labels", "class", "category", "answer", "target", "output", "sentiment")
SPLIT_COLOURS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}


# -- reading a source once -------------------------------------------------------------------


def read_upload(name: str, data: bytes) -> SourceData:
    """An uploaded file's rows: written to a scratch folder under its own name (so its
    suffix picks the reader), read by core, the scratch folder removed."""
    safe = Path(name).name or "upload"
    with tempfile.TemporaryDirectory(prefix="prompttune-upload-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        source = read_source(path)
    source.name = safe
    return source


def cached_source(key: str, load: Callable[[], SourceData]) -> SourceData:
    """The source read under ``key``, read now only if the session holds another one."""
    held = st.session_state.get("tasks_source")
    if held and held[0] == key:
        return held[1]
    source = load()
    st.session_state["tasks_source"] = (key, source)
    st.session_state.pop("tasks_plan", None)
    prefill(source)
    return source


def held_source() -> tuple[str, SourceData] | None:
    """The (key, source) read last in this session, if any."""
    return st.session_state.get("tasks_source")


def _guess(columns: list[str], names: tuple[str, ...], avoid: str = "") -> str:
    lowered = {c.lower(): c for c in columns if c != avoid}
    for name in names:
        if name in lowered:
            return lowered[name]
    rest = [c for c in columns if c != avoid]
    return rest[0] if rest else ""


def prefill(source: SourceData) -> None:
    """Fill the mapping widgets for a new source: a task folder's own settings, else
    columns guessed by name (text/input, label/class...) and a name from the file."""
    task, columns = source.task or {}, source.columns
    state = st.session_state
    state["tasks_input"] = task.get("input_field") or _guess(columns, INPUT_NAMES)
    state["tasks_label"] = task.get("label_field") or _guess(columns, LABEL_NAMES,
                                                            state["tasks_input"])
    state["tasks_kind"] = task.get("kind", "classification")
    state["tasks_instruction"] = task.get("instruction", "")
    state["tasks_template"] = task.get("template", "Input: {input}\nAnswer:")
    state["tasks_labels"] = ", ".join(task.get("labels", ()))
    state["tasks_schema"] = task.get("schema") or ""
    stem = Path(source.name.removeprefix("hub:")).stem
    state["tasks_name"] = "".join(ch if ch.isalnum() or ch in "-_ ." else "-"
                                  for ch in task.get("name", stem)).strip(" .")[:64]
    state["tasks_title"] = task.get("title", "")


def preview_frame(source: SourceData) -> pd.DataFrame:
    """The first rows of the source, cells as text (a nested answer as its JSON)."""
    rows = []
    for split, part in source.splits.items():
        for row in part[:PREVIEW_ROWS - len(rows)]:
            shown = {k: value_text(v) if v is not None else "" for k, v in row.items()}
            rows.append(shown if split == "all" else {"split": split, **shown})
        if len(rows) >= PREVIEW_ROWS:
            break
    return pd.DataFrame(rows)


# -- planning ---------------------------------------------------------------------------------


def request_from_state(source: SourceData) -> TaskRequest:
    """The TaskRequest the widgets describe (core checks every value)."""
    s = st.session_state
    labels = tuple(x.strip() for x in s["tasks_labels"].split(",") if x.strip())
    splits = {} if source.has_splits else {
        "seed": int(s["tasks_seed"]), "test_size": float(s["tasks_test_size"]),
        "validation_size": float(s["tasks_val_size"])}
    if source.has_splits and "validation" not in source.splits:
        splits["validation_size"] = float(s["tasks_val_size"])
    return task_request(s["tasks_name"], source, kind=s["tasks_kind"],
                        input_column=s["tasks_input"], label_column=s["tasks_label"],
                        instruction=s["tasks_instruction"], template=s["tasks_template"],
                        labels=labels if s["tasks_kind"] == "classification" else (),
                        schema=(s["tasks_schema"].strip() or None)
                        if s["tasks_kind"] == "json" else None,
                        title=s["tasks_title"].strip() or None, source=source.name, **splits)


def planned(key: str, request: TaskRequest, source: SourceData) -> TaskDraft:
    """``plan_task`` for these choices, computed once per change of them (LabError raised
    again from the kept result, so the page shows it on every rerun)."""
    held = st.session_state.get("tasks_plan")
    if not held or held[0] != (key, request):
        try:
            result: Any = plan_task(request, source)
        except LabError as exc:
            result = exc
        held = ((key, request), result)
        st.session_state["tasks_plan"] = held
    if isinstance(held[1], LabError):
        raise held[1]
    return held[1]


# -- what a draft shows ------------------------------------------------------------------------

COUNT_WORDS = {"missing_input": "rows with an empty input", "missing_label": "rows with an empty "
               "answer", "unknown_label": "rows with a label not in your list",
               "not_a_number": "answers that are not numbers", "not_json": "answers that are "
               "not JSON objects", "exact_duplicates": "exact duplicates",
               "normalised_duplicates": "duplicates once case and spacing are ignored",
               "validation_rows_also_in_train": "validation rows also in train",
               "test_rows_also_in_train": "test rows also in train",
               "answers_failing_the_schema": "answers failing the schema"}


def show_counts(draft: TaskDraft) -> None:
    """What was read, kept, skipped and removed, as metrics and one plain sentence each."""
    counts = draft.counts
    cols = st.columns(2 + len(draft.splits))
    cols[0].metric("Rows read", f"{counts['read']:,}")
    cols[1].metric("Rows kept", f"{counts['kept']:,}")
    for col, (split, rows) in zip(cols[2:], draft.splits.items()):
        col.metric(split.capitalize(), f"{len(rows):,}")
    origin = "Splits as the source has them" if draft.split_origin == "source" else \
        "Split by the lab, stratified by label, with your seed"
    removed = [(COUNT_WORDS.get(k, k.replace("_", " ")), v) for k, v in counts.items()
               if k not in ("read", "kept") and v]
    st.markdown(f"{origin}. " + ("Skipped or removed, never silently: " + "; ".join(
        f"{what}: **{v:,}**" for what, v in removed) + "." if removed else
        "No row was skipped: no empty fields, duplicates or test rows also in train."))
    if draft.label_counts:
        st.markdown("Labels found: " + ", ".join(f"{plain(k)} **{v:,}**"
                                                 for k, v in draft.label_counts.items()))
    st.caption(f"This content is {short(draft.fingerprint)} (fingerprint `{draft.fingerprint}`): "
               "runs and comparisons record it and warn when it changes.")


def label_chart(draft: TaskDraft, key: str = "tasks_label_chart") -> None:
    """Rows per label, stacked by split, so a lopsided label or split shows at a glance."""
    column = draft.request.label_column
    figure = go.Figure()
    for split, rows in draft.splits.items():
        per = Counter(row[column] for row in rows)
        labels = list(draft.label_counts)
        figure.add_trace(go.Bar(x=labels, y=[per.get(x, 0) for x in labels], name=split,
                                marker_color=SPLIT_COLOURS.get(split)))
    figure.update_layout(barmode="stack", height=300, margin=dict(l=10, r=10, t=40, b=10),
                         title=f"Label distribution ({len(draft.label_counts)} labels)",
                         yaxis_title="rows",
                         legend=dict(orientation="h", y=-0.25, traceorder="normal"))
    st.plotly_chart(figure, key=key)


@st.cache_resource(show_spinner=False, max_entries=2)
def _counter(folder: str) -> Callable[[str], int]:
    """One counting function per tokenizer folder (the same object on every rerun, so the
    counts made with it are kept once per task version)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def token_counter(spec) -> Callable[[str], int] | None:
    """The model's token count without loading the model: its tokenizer alone (a second or so),
    for a model on this machine (the embedded ones, a local folder); None for a Hub id, which
    would reach for the network, or a tokenizer that cannot be read (the chart counts words)."""
    from core.models import resolve_source

    try:
        folder = resolve_source(spec)[0]
        if not Path(folder).is_dir():
            return None
        return _counter(folder)
    except Exception:  # noqa: BLE001 - any failure leaves the chart in words, which it says
        return None


def token_lengths(draft: TaskDraft, count: Callable[[str], int] | None) -> dict[str, Any]:
    """Input lengths: the model's tokens on up to TOKEN_SAMPLE inputs spread over the rows
    when a model is in memory, else core's word counts over every row."""
    if count is None:
        return draft.lengths
    held = st.session_state.get("tasks_tokens")
    if held and held[0] == (draft.fingerprint, count):  # counted once per version and model
        return held[1]
    texts = [row[draft.request.input_column] for rows in draft.splits.values() for row in rows]
    step = max(1, len(texts) // TOKEN_SAMPLE)
    figures = {**length_figures(texts[::step][:TOKEN_SAMPLE], count),
               "sampled": len(texts) > TOKEN_SAMPLE}
    st.session_state["tasks_tokens"] = ((draft.fingerprint, count), figures)
    return figures


def length_chart(lengths: dict[str, Any], key: str = "tasks_length_chart") -> None:
    """A histogram of input lengths (core's bins), with median and 95th percentile named."""
    if not lengths.get("count"):
        return
    bins = lengths["histogram"]
    figure = go.Figure(go.Bar(x=[str(b["from"]) if b["from"] == b["to"] else
                                 f"{b['from']}–{b['to']}" for b in bins],
                              y=[b["rows"] for b in bins], marker_color="#1f77b4"))
    sample = f", a sample of {lengths['count']:,} rows" if lengths.get("sampled") else ""
    figure.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10), bargap=0.05,
                         title=f"Input length in {lengths['unit']}{sample}: median "
                               f"{lengths['median']}, 95% at most {lengths['p95']}, "
                               f"longest {lengths['max']}",
                         xaxis_title=lengths["unit"], yaxis_title="rows")
    st.plotly_chart(figure, key=key)


# -- the list of tasks -------------------------------------------------------------------------


def _stamp(name: str) -> tuple:
    paths = [split_path(name, s) for s in SPLITS]
    return tuple((p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else None
                 for p in paths)


@st.cache_data(max_entries=64, show_spinner=False)
def _facts(name: str, stamp: tuple) -> dict[str, Any]:
    """Split sizes and label counts of a task (cached on its files' times and sizes)."""
    task = load_task(name)
    sizes, labels = {}, Counter()
    for split in available_splits(name):
        rows = load_split(name, split)
        sizes[split] = len(rows)
        if task.kind == "classification":
            labels.update(str(r.get(task.label_field)) for r in rows)
    order = [label for label in task.labels if label in labels] + sorted(set(labels) - set(task.labels))
    return {"sizes": sizes, "labels": {label: labels[label] for label in order}}  # the task's order


def task_line(name: str) -> str:
    """One task as a Markdown line: title, kind, split sizes, labels and fingerprint
    (every name and label escaped: they come from a file)."""
    task = load_task(name)
    facts = _facts(name, _stamp(name))
    sizes = " · ".join(f"{s} {n:,}" for s, n in facts["sizes"].items())
    labels = ", ".join(f"{plain(k)} {v:,}" for k, v in facts["labels"].items())
    mine = " (yours)" if task.origin == "yours" else " (sample)"
    return (f"**{plain(task.title)}**{mine} · {plain(name)} · {task.kind} · {sizes}"
            + (f" · labels: {labels}" if labels else "")
            + f" · {short(task.fingerprint)}")  # as Runs and Compare name it


def export_bytes(name: str) -> Callable[[], bytes]:
    """A callable that exports task ``name`` as a zip and returns its bytes (run only when
    the download is clicked: exporting every task on every rerun would be slow)."""
    def make() -> bytes:
        with tempfile.TemporaryDirectory(prefix="prompttune-export-") as tmp:
            return export_task(name, Path(tmp) / f"{name}.zip", zip=True).read_bytes()
    return make


# -- managing the user's tasks --------------------------------------------------------------


def manage_task(name: str, damaged: bool) -> None:
    """Rename, export and delete one of the user's tasks (delete asks first)."""
    left, middle, right = st.columns([3, 1, 1])
    if not damaged:
        with left:
            a, b = st.columns([3, 1])
            a.text_input("New name", key=f"tasks_rename_{name}", label_visibility="collapsed",
                         placeholder="new name")
            if b.button("Rename", key=f"tasks_do_rename_{name}"):
                _rename(name, st.session_state[f"tasks_rename_{name}"])
        middle.download_button("Export (zip)", export_bytes(name), file_name=f"{name}.zip",
                               mime="application/zip", key=f"tasks_export_{name}",
                               help="A zip that python -m core tasks create --from (or this "
                                    "page's upload) reads back to the same fingerprint.")
    if right.button("Delete", key=f"tasks_delete_{name}"):
        st.session_state["tasks_confirm"] = name
    if st.session_state.get("tasks_confirm") == name:
        _confirm_delete(name)


def _rename(name: str, new: str) -> None:
    try:
        rename_task(name, new.strip())
    except LabError as exc:
        show_error(exc)
        return
    st.session_state.pop(f"tasks_rename_{name}", None)
    st.session_state["tasks_notice"] = f"Renamed {name} to {new.strip()}."
    st.rerun()


def _confirm_delete(name: str) -> None:
    st.warning(f"Delete your task **{plain(name)}** and its examples? This cannot be undone "
               "(export it first to keep a copy). Runs and comparisons made with it keep their "
               "figures.", icon=":material/warning:")
    yes, no, _ = st.columns([1, 1, 4])
    if yes.button("Yes, delete it", key=f"tasks_delete_yes_{name}", type="primary"):
        st.session_state.pop("tasks_confirm", None)
        try:
            delete_task(name)
        except LabError as exc:
            show_error(exc)
            return
        st.session_state["tasks_notice"] = f"Deleted {name}."
        st.rerun()
    if no.button("Cancel", key=f"tasks_delete_no_{name}"):
        st.session_state.pop("tasks_confirm", None)
        st.rerun()


# -- after Create: the task on the other pages ---------------------------------------------------

PAGES = {"Playground": "playground", "Few-shot builder": "fewshot", "Train": "train",
         "Compare": "compare", "Advisor": "advisor"}  # the Advisor: prompt or fine-tune, answered


def use_buttons(name: str) -> None:
    """One button per page that opens it with task ``name`` picked (each page decides what
    that means for its widgets: ``ui.navigate``)."""
    for col, (page, target) in zip(st.columns(len(PAGES)), PAGES.items()):
        if col.button(f"Use it in {page}", key=f"tasks_use_{page}", icon=":material/arrow_forward:"):
            open_page(target, task=name)
