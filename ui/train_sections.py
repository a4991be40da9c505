"""The Train page's longer sections: the examples from a file or the Hub, and the check of
the one TrainConfig (preview, estimate, memory) before the start."""

from __future__ import annotations

import psutil
import streamlit as st

from core.errors import LabError
from core.train_config import TrainConfig, many_passes_warning
from core.training_data import DEFAULT_COLUMNS, FORMATS, fetch_hub_dataset, save_upload
from ui.controls import plain
from ui.engine import show_error
from ui.training import (FORMAT_LABELS, SOURCES, config_from_state, data_preview, duration,
                         file_columns, format_changed, guess_file_columns, length_histogram,
                         precision_note, steps_line, training_estimate)


def use_file(path: str, label: str) -> None:
    """A new data file: map its columns to the format's roles by name where they match."""
    state = st.session_state
    if state.get("train_data_path") == path:
        return
    state["train_data_path"], state["train_data_label"] = path, label
    guess_file_columns(state)


def file_source() -> None:
    """An uploaded file or a Hub dataset, then its format and which column is which."""
    state = st.session_state
    if state["train_source"] == SOURCES[1]:
        upload = st.file_uploader("Examples file (UTF-8)", type=["csv", "tsv", "jsonl", "json"],
                                  key="train_upload")
        if upload is not None:
            try:
                use_file(str(save_upload(upload.getvalue(), upload.name)), upload.name)
            except LabError as exc:
                show_error(exc)
                state.pop("train_data_path", None)
    else:
        _hub_source()
    if state.get("train_data_path"):
        try:
            _columns()
        except LabError as exc:
            show_error(exc)


def _hub_source() -> None:
    state = st.session_state
    c1, c2, c3 = st.columns([3, 1, 1])
    c1.text_input("Dataset name on the Hugging Face Hub", key="train_hub_name",
                  placeholder="e.g. imdb or org/name")
    c2.text_input("Split", key="train_hub_split")
    c3.write("")
    if c3.button("Fetch", key="train_hub_fetch"):
        try:
            with st.spinner("Fetching the dataset..."):
                path = fetch_hub_dataset(state["train_hub_name"], state["train_hub_split"])
            use_file(str(path), f"{state['train_hub_name']} ({state['train_hub_split']})")
        except LabError as exc:
            show_error(exc)


def _columns() -> None:
    state = st.session_state
    columns, count = file_columns(state["train_data_path"])
    st.caption(f"Using **{plain(state['train_data_label'])}**: {count:,} examples, columns "
               f"{plain(', '.join(columns))}. The validation split is a fraction of it.")
    st.selectbox("Format", FORMATS, key="train_format", format_func=FORMAT_LABELS.get,
                 on_change=format_changed)
    roles = DEFAULT_COLUMNS[state["train_format"]]
    for col, role in zip(st.columns(len(roles)), roles):
        if state.get(f"train_col_{role}") not in columns:
            state[f"train_col_{role}"] = ""
        col.selectbox(f"{role} column", ["", *columns], key=f"train_col_{role}",
                      format_func=lambda c, r=role: c or f"(choose the {r} column)")


def checked_config() -> TrainConfig | None:
    """The one TrainConfig the widgets describe, its data as the model reads it, its
    estimated time and memory; None, with the reason shown, when it is not valid."""
    try:
        config = config_from_state(st.session_state)
        with st.spinner("Reading and tokenizing the data..."):
            preview = data_preview(config)
        _preview(config, preview)
        with st.spinner("Estimating time and memory..."):
            seconds, peak = training_estimate(config)
        _estimate(config, seconds, peak)
        with st.expander("The config this run will save (config.json)"):
            st.json(config.to_dict())
        return config
    except LabError as exc:
        show_error(exc)
        return None


def _preview(config: TrainConfig, preview) -> None:
    left, right = st.columns([3, 2])
    with left:
        st.markdown(f"**Preview** · {len(preview.train_lengths):,} training and "
                    f"{preview.validation_count:,} validation examples, as the model reads them")
        st.dataframe(preview.rows, hide_index=True, width="stretch",
                     column_config={"prompt": st.column_config.TextColumn(width="large")})
    with right:
        length_histogram(preview)
    st.caption(steps_line(config, len(preview.train_lengths)))
    many = many_passes_warning(config, len(preview.train_lengths))
    if many:
        st.warning(many, icon=":material/repeat:")
    if preview.cut:
        st.warning(f"{preview.cut} of {len(preview.train_lengths)} training examples are longer "
                   f"than the max length ({config.max_length} tokens): the start of their prompt "
                   "would be cut. Raise the max length to keep them whole.",
                   icon=":material/content_cut:")


def _estimate(config: TrainConfig, seconds: float | None, peak: int) -> None:
    available = psutil.virtual_memory().available
    c = st.columns(3)
    c[0].metric("Estimated time (m:ss)", duration(seconds),
                help="From this machine's measured training speed in the run's number format "
                     "(not measured on a GPU: –).")
    c[1].metric("Estimated peak memory", f"{peak / 2**30:.2f} GiB")
    c[2].metric("Memory available now", f"{available / 2**30:.1f} GiB")
    st.caption(f"Number format {precision_note(config)}. The estimate comes from that "
               "measured speed.")
    if peak > available:
        st.warning("The run may not fit in the memory available now: lower the batch size or "
                   "the max length, or pick LoRA over full fine-tuning.", icon=":material/memory:")
