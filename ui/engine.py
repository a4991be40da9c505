"""The one loaded model per process, shared by all pages and sessions."""

from __future__ import annotations

import logging

import streamlit as st

from core.config import ModelSpec
from core.errors import LabError, ModelError
from core.engines import Engine, load_engine as core_load_engine

SPEC_KEY = "lab_model_spec"
log = logging.getLogger(__name__)


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
    except Exception as exc:  # last resort: a failure the core did not foresee
        log.exception("Loading %s failed", spec.source)  # the traceback, for the console
        show_error(unexpected_load_error(spec, exc))
        return None


def unexpected_load_error(spec: ModelSpec, exc: Exception) -> ModelError:
    """An unforeseen load failure as a ModelError, so the page names it instead of showing a
    traceback (and keeps its editor, so nothing typed is lost)."""
    detail = (str(exc).strip().splitlines() or [""])[0]
    return ModelError(f"Loading {spec.source} failed unexpectedly: {type(exc).__name__}"
                      + (f": {detail}" if detail else ""),
                      "Pick another model or engine in the sidebar; if this model loaded before, "
                      "delete the lab's cache folder (PROMPTTUNE_CACHE) and run `python -m core "
                      "prepare` again. The console shows the full traceback.")


def show_error(exc: LabError) -> None:
    """A LabError as a person reads it: the problem, then the fix."""
    st.error(f"**{exc.problem}**" + (f"\n\n**Fix:** {exc.fix}" if exc.fix else ""), icon=":material/error:")
