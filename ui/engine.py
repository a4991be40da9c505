"""The one loaded model per process, shared by all pages and sessions, loaded where it is used.

A page's layout never waits for the model: the sidebar hands pages a ``LazyEngine``
until the model is in memory, and the first page code that uses it loads it at that
place, under a "Loading Gemma 3 270M..." status. Pages that never use the model
(Train, Runs, History, most of Compare and Knowledge) never wait for it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import streamlit as st

from core.config import ModelSpec
from core.embedded import EMBEDDED_MODELS, is_converted
from core.errors import LabError, ModelError
from core.engines import Engine, load_engine as core_load_engine
from core.models import resolve_source
from ui.controls import plain

SPEC_KEY = "lab_model_spec"
FAILED_KEY = "lab_model_failed"  # (spec, ModelError) of this session's last failed load
KEEP = 2  # engines kept in memory: the current model and the one before
log = logging.getLogger(__name__)


class _Shelf:
    """The loaded engines, most recent last; one load at a time (two cores, one memory)."""

    def __init__(self) -> None:
        self.engines: OrderedDict[ModelSpec, Engine] = OrderedDict()
        self.lock = threading.Lock()


@st.cache_resource(show_spinner=False)
def _shelf() -> _Shelf:
    # a cache_resource so that st.cache_resource.clear() (tests, a settings reset) empties it
    return _Shelf()


def load_engine(spec: ModelSpec) -> Engine:
    """Load once per process and spec (the last two stay); never mutate what this returns."""
    shelf = _shelf()
    with shelf.lock:
        if spec not in shelf.engines:
            shelf.engines[spec] = core_load_engine(spec)
            while len(shelf.engines) > KEEP:
                shelf.engines.popitem(last=False)
        shelf.engines.move_to_end(spec)
        return shelf.engines[spec]


def loaded_engine(spec: ModelSpec) -> Engine | None:
    """The engine of ``spec`` if it is in memory already; never loads."""
    return _shelf().engines.get(spec)


def current_spec() -> ModelSpec:
    """The model the user picked in the sidebar (the embedded default at first)."""
    return st.session_state.get(SPEC_KEY) or ModelSpec()


def model_title(spec: ModelSpec) -> str:
    """The model's name as the sidebar shows it: 'Gemma 3 270M (base)', or its id or folder."""
    if spec.is_embedded and spec.embedded_name in EMBEDDED_MODELS:
        return EMBEDDED_MODELS[spec.embedded_name].title
    return Path(spec.source).name or spec.source


def check_spec(spec: ModelSpec) -> None:
    """Raise the ModelError a load would raise where it shows without loading (a folder that
    is missing or holds no model), so every page can say it at once."""
    if spec.is_embedded:
        return
    if spec.is_gguf:
        if not Path(spec.source).expanduser().is_file():
            raise ModelError(f"The GGUF file {spec.source} does not exist.",
                             "Check the path, or pick an embedded model.")
        return
    resolve_source(spec)  # folders and Hub ids: checks the folder, loads nothing


def get_engine() -> Engine | None:
    """Load (or fetch from memory) the picked model here, with a status in place; on failure
    show why, remember it for this session (the sidebar says it) and return None."""
    spec = current_spec()
    first = (" (the very first start converts it once, about a minute)"
             if spec.is_embedded and not is_converted(spec.embedded_name) else "")
    try:
        with st.spinner(f"Loading {plain(model_title(spec), keep_format=True)}…{first}"):
            return load_engine(spec)
    except LabError as exc:
        error: LabError = exc
    except Exception as exc:  # last resort: a failure the core did not foresee
        log.exception("Loading %s failed", spec.source)  # the traceback, for the console
        error = unexpected_load_error(spec, exc)
    st.session_state[FAILED_KEY] = (spec, error)
    show_error(error)
    return None


class LazyEngine:
    """The picked model before it is in memory: the first use of an engine attribute loads it
    right there (``get_engine``), so a page draws everything above that point first.

    If the load fails, the failure is remembered and the page reruns: the sidebar then shows
    the error and the page gets None, its "no model" path, with every widget kept.
    """

    def __init__(self, spec: ModelSpec, on_load: Callable[[Engine], None]) -> None:
        self._spec = spec
        self._on_load = on_load
        self._engine: Engine | None = None

    def __getattr__(self, name: str):
        if name.startswith("_"):  # copy/pickle probes: never load for them
            raise AttributeError(name)
        return getattr(self.loaded(), name)

    def loaded(self) -> Engine:
        """The real engine, loading it now if needed."""
        if self._engine is None:
            engine = get_engine()
            if engine is None:
                st.rerun()
            self._engine = engine
            self._on_load(engine)
        return self._engine


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
    """A LabError as a person reads it: the problem, then the fix. Both often name what a user
    wrote (a file, a run, a model folder), so nothing in them may become a link or an image;
    the lab's own `code` in them still reads as code."""
    st.error(f"**{plain(exc.problem, keep_format=True)}**"
             + (f"\n\n**Fix:** {plain(exc.fix, keep_format=True)}" if exc.fix else ""),
             icon=":material/error:")
