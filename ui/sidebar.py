"""The sidebar every page shows first: model picker and the loaded model's status."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import streamlit as st

from core.config import ModelSpec
from core.errors import LabError
from core.engines import Engine
from core.models import ModelInfo
from ui.controls import keep_state, plain
from ui.engine import (FAILED_KEY, SPEC_KEY, LazyEngine, check_spec, current_spec, loaded_engine,
                       model_title, show_error)
from ui.model_picker import model_picker, set_model

PAGES = [("app.py", "Home", ":material/science:"),
         ("pages/0_Tour.py", "Tour: the 10-minute lesson", ":material/school:"),
         ("pages/8_Tasks.py", "Tasks: your own data", ":material/dataset:"),
         ("pages/1_Playground.py", "Playground", ":material/chat:"),
         ("pages/3_Few-shot_builder.py", "Few-shot builder", ":material/format_list_numbered:"),
         ("pages/4_Knowledge.py", "Knowledge", ":material/menu_book:"),
         ("pages/5_Train.py", "Train", ":material/model_training:"),
         ("pages/6_Runs.py", "Runs", ":material/list_alt:"),
         ("pages/7_Compare.py", "Compare", ":material/compare:"),
         ("pages/9_Advisor.py", "Advisor", ":material/explore:"),
         ("pages/2_History.py", "History", ":material/history:")]
ROOT = Path(__file__).resolve().parent.parent


def render_sidebar() -> Engine | LazyEngine | None:
    """Draw the model picker and the model's status; return the engine the pages use.

    Loads nothing: the model in memory comes back as it is; one not loaded yet comes back
    as a ``LazyEngine`` that loads where the page first uses it (with the loading shown
    there); None, with the reason shown, when the chosen model cannot be loaded. The page
    stays usable either way and the user can pick another model.
    """
    keep_state()
    with st.sidebar:
        for path, label, icon in PAGES:
            if (ROOT / path).is_file():
                st.page_link(path, label=label, icon=icon)
        st.divider()
        st.markdown("### Model")
        spec = model_picker("sidebar", current_spec(), label_visibility="collapsed")
        if spec is not None:
            st.session_state[SPEC_KEY] = spec
        return _engine_status(current_spec())


def use_model(spec: ModelSpec) -> None:
    """Make ``spec`` the session's model, in the sidebar's widgets too; call it before the
    sidebar is drawn (a page that was asked to open with a model does, first)."""
    set_model("sidebar", spec)
    st.session_state[SPEC_KEY] = spec


def _engine_status(spec: ModelSpec) -> Engine | LazyEngine | None:
    """The status of ``spec``'s model (loaded, failed, or not loaded yet) and what pages get."""
    failed = st.session_state.get(FAILED_KEY)
    if failed and failed[0] == spec:
        show_error(failed[1])
        if st.button("Try loading it again", key="sidebar_retry"):
            st.session_state.pop(FAILED_KEY, None)
            st.rerun()
        return None
    try:
        check_spec(spec)
    except LabError as exc:
        show_error(exc)
        return None
    engine = loaded_engine(spec)
    if engine is not None:
        _render_status(engine.name, engine.info)
        return engine
    status = st.empty()
    status.caption(f"**{plain(model_title(spec), keep_format=True)}** · not loaded yet: it loads where a page first "
                   "needs it, and stays loaded for every page.")

    def show_loaded(engine: Engine) -> None:
        with status.container():
            _render_status(engine.name, engine.info)

    return LazyEngine(spec, show_loaded)


def _render_status(engine_name: str, info: ModelInfo) -> None:
    rss = psutil.Process(os.getpid()).memory_info().rss
    st.caption(
        f"**{plain(info.title, keep_format=True)}** · {engine_name} engine  \n"
        f"device **{info.device}** · dtype **{info.dtype}** · {info.threads} CPU "
        f"thread{'' if info.threads == 1 else 's'}  \n"
        f"{info.parameters / 1e6:.0f}M parameters · weights {info.weights_bytes / 2**30:.2f} GiB · "
        f"process {rss / 2**30:.2f} GiB  \n"
        f"context {info.context_window:,} tokens · loaded in {info.load_seconds:.1f} s  \n"
        f"chat template: {'yes' if info.has_chat_template else 'no (plain turn format)'}"
        + (f"  \nadapter: {plain(info.adapter, keep_format=True)}" if info.adapter else "")
        + (f"  \ndtype {plain(info.dtype_reason, keep_format=True)}" if info.dtype_reason else ""))

