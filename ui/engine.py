"""The one loaded model per process, shared by all pages and sessions."""

from __future__ import annotations

import streamlit as st

from core.config import ModelSpec
from core.errors import LabError
from core.engines import Engine, load_engine as core_load_engine

SPEC_KEY = "lab_model_spec"


@st.cache_resource(max_entries=2, show_spinner=False)
def load_engine(spec: ModelSpec) -> Engine:
    """Load once per process and spec; never mutate what this returns."""
    return core_load_engine(spec)


def current_spec() -> ModelSpec:
    """The model the user picked in the sidebar (the embedded default at first)."""
    return st.session_state.get(SPEC_KEY) or ModelSpec()


def get_engine() -> Engine | None:
    """Load (or fetch from cache) the picked model, showing progress and errors in the page."""
    spec = current_spec()
    try:
        with st.spinner(f"Loading {spec.source} (the very first start converts the embedded "
                        "model once, about a minute)..."):
            return load_engine(spec)
    except LabError as exc:
        show_error(exc)
        return None


def show_error(exc: LabError) -> None:
    """A LabError as a person reads it: the problem, then the fix."""
    st.error(f"**{exc.problem}**" + (f"\n\n**Fix:** {exc.fix}" if exc.fix else ""), icon=":material/error:")
