"""The sidebar every page shows first: model picker and the loaded model's status."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import streamlit as st

from core.config import DEVICES, DTYPES, ENGINES, ModelSpec
from core.embedded import EMBEDDED_MODELS
from core.errors import LabError
from core.engines import Engine
from core.models import ModelInfo
from ui.controls import keep_state, plain
from ui.engine import (FAILED_KEY, SPEC_KEY, LazyEngine, check_spec, current_spec, loaded_engine,
                       model_title, show_error)

OTHER = "Other: Hugging Face id or local folder"
PAGES = [("app.py", "Home", ":material/science:"),
         ("pages/0_Tour.py", "Tour: the 10-minute lesson", ":material/school:"),
         ("pages/8_Tasks.py", "Tasks: your own data", ":material/dataset:"),
         ("pages/1_Playground.py", "Playground", ":material/chat:"),
         ("pages/3_Few-shot_builder.py", "Few-shot builder", ":material/format_list_numbered:"),
         ("pages/4_Knowledge.py", "Knowledge", ":material/menu_book:"),
         ("pages/5_Train.py", "Train", ":material/model_training:"),
         ("pages/6_Runs.py", "Runs", ":material/list_alt:"),
         ("pages/7_Compare.py", "Compare", ":material/compare:"),
         ("pages/2_History.py", "History", ":material/history:")]
ROOT = Path(__file__).resolve().parent.parent


def _label(option: str) -> str:
    if option == OTHER:
        return option
    return f"{EMBEDDED_MODELS[option.removeprefix('embedded:')].title} (embedded)"


def render_sidebar() -> Engine | LazyEngine | None:
    """Draw the model picker and the model's status; return the engine the pages use.

    Loads nothing: the model in memory comes back as it is; one not loaded yet comes back
    as a ``LazyEngine`` that loads where the page first uses it (with the loading shown
    there); None, with the reason shown, when the chosen model cannot be loaded. The page
    stays usable either way and the user can pick another model.
    """
    keep_state()
    spec = current_spec()
    options = [f"embedded:{name}" for name in EMBEDDED_MODELS] + [OTHER]
    with st.sidebar:
        for path, label, icon in PAGES:
            if (ROOT / path).is_file():
                st.page_link(path, label=label, icon=icon)
        st.divider()
        st.markdown("### Model")
        _model_picker(spec, options)
        return _engine_status(current_spec())


def _model_picker(spec: ModelSpec, options: list[str]) -> None:
    """The model, engine and device widgets; a valid choice becomes the session's spec."""
    choice = st.selectbox("Model", options, index=options.index(spec.source)
                          if spec.source in options else len(options) - 1,
                          format_func=_label, key="sidebar_model_choice",
                          label_visibility="collapsed")
    source = choice
    if choice == OTHER:
        st.session_state.setdefault("sidebar_model_source",
                                    "" if spec.is_embedded else spec.source)
        source = st.text_input("Hub id or folder",
                               placeholder="HuggingFaceTB/SmolLM2-135M or /path/to/model",
                               key="sidebar_model_source").strip()
    engine_name = st.selectbox(
        "Engine", ENGINES, index=ENGINES.index(spec.engine), key="sidebar_engine",
        help="auto: llama.cpp for the embedded GGUF models on a CPU (3-7x faster), "
             "transformers for Hugging Face models and GPUs.")
    with st.expander("Device, precision, threads"):
        device = st.selectbox("Device", DEVICES, index=DEVICES.index(spec.device.split(":")[0]),
                              key="sidebar_device")
        dtype = st.selectbox("Weights dtype", DTYPES, index=DTYPES.index(spec.dtype),
                             key="sidebar_dtype",
                             help="auto: on a CPU, the format measured fastest for an "
                                  "answer on this processor; on CUDA, bfloat16.")
        threads = st.number_input(
            "CPU threads (0 = measured at first start)", 0, 256, value=spec.threads,
            key="sidebar_threads",
            help="On 2 shared cores, 1 thread beats 2 whenever another process is busy.")
        # the first value comes from the spec; later ones from the widget or from "Use in
        # Playground", which sets the key (a value= as well would make Streamlit warn)
        st.session_state.setdefault("sidebar_adapter", spec.adapter or "")
        adapter = st.text_input(
            "Adapter folder (optional)", key="sidebar_adapter",
            help="A PEFT adapter saved by a training run. LoRA runs on llama.cpp too "
                 "(exported to GGUF once); other methods run on transformers.").strip()
        trust = st.checkbox("Trust remote code", value=spec.trust_remote_code,
                            key="sidebar_trust",
                            help="Runs Python code from the model's repository. Read it first.")
    if source:
        try:
            st.session_state[SPEC_KEY] = ModelSpec(
                source=source, engine=engine_name, device=device, dtype=dtype,
                threads=int(threads), adapter=adapter or None, trust_remote_code=trust)
        except LabError as exc:
            show_error(exc)


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

