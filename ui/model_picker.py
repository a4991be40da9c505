"""The one model picker: which model, and (where it runs here) its engine, device, dtype,
threads, adapter. The sidebar, the Train page and Compare's setups all draw it.

``model_picker(prefix, spec)`` draws the widgets under keys that start with ``prefix`` and
returns the ``ModelSpec`` they describe; ``set_model(prefix, spec)`` puts a spec into those
widgets before they are drawn (a run's adapter opened in the Playground, an answer reopened
from History).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.config import DEVICES, DTYPES, ENGINES, ModelSpec
from core.embedded import EMBEDDED_MODELS
from core.errors import LabError

OTHER = "Other: Hugging Face id or local folder"


@dataclass(frozen=True)
class PickerKeys:
    """The widget keys of one picker (each page's own prefix)."""

    choice: str
    source: str
    engine: str
    device: str
    dtype: str
    threads: str
    adapter: str
    trust: str


def picker_keys(prefix: str, choice: str | None = None, source: str | None = None) -> PickerKeys:
    """The keys of the picker ``prefix``; ``choice``/``source`` keep a page's older names."""
    return PickerKeys(choice or f"{prefix}_model_choice", source or f"{prefix}_model_source",
                      *(f"{prefix}_{part}" for part in
                        ("engine", "device", "dtype", "threads", "adapter", "trust")))


def model_options() -> list[str]:
    """The embedded models, then 'Other' (a Hub id or a local folder)."""
    return [f"embedded:{name}" for name in EMBEDDED_MODELS] + [OTHER]


def model_label(option: str) -> str:
    """'Gemma 3 270M (embedded)' for an embedded model; 'Other' as it reads."""
    if option == OTHER:
        return option
    return f"{EMBEDDED_MODELS[option.removeprefix('embedded:')].title} (embedded)"


def model_picker(prefix: str, spec: ModelSpec, *, runtime: bool = True,
                 keys: PickerKeys | None = None, label: str = "Model",
                 label_visibility: str = "visible") -> ModelSpec | None:
    """Draw the picker; return the spec it describes (None while 'Other' is empty, or with
    the reason shown when the choice is not valid). ``spec``: the first values. ``runtime``:
    also the engine, device, dtype, threads, adapter and remote-code widgets."""
    keys = keys or picker_keys(prefix)
    source = _source_widgets(keys, spec, label, label_visibility)
    fields = _runtime_widgets(keys, spec) if runtime else {}
    if not source:
        return None
    try:
        return ModelSpec(source=source, **fields) if fields else ModelSpec(source=source)
    except LabError as exc:
        from ui.engine import show_error

        show_error(exc)
        return None


def _keep(key: str, first) -> None:
    """The widget's value: its last one (assigned again, so that the widget of another page,
    which Streamlit counts as a new widget, takes it over), else ``first``. Never value= as
    well: Streamlit warns when both set a widget."""
    st.session_state[key] = st.session_state[key] if key in st.session_state else first


def _source_widgets(keys: PickerKeys, spec: ModelSpec, label: str, visibility: str) -> str:
    options = model_options()
    _keep(keys.choice, spec.source if spec.source in options else OTHER)
    choice = st.selectbox(label, options, format_func=model_label, key=keys.choice,
                          label_visibility=visibility)
    if choice != OTHER:
        return choice
    _keep(keys.source, "" if spec.is_embedded else spec.source)
    return st.text_input("Hub id or folder", key=keys.source,
                         placeholder="HuggingFaceTB/SmolLM2-135M or /path/to/model").strip()


def _runtime_widgets(keys: PickerKeys, spec: ModelSpec) -> dict:
    first = {keys.engine: spec.engine, keys.device: spec.device.split(":")[0],
             keys.dtype: spec.dtype, keys.threads: spec.threads,
             keys.adapter: spec.adapter or "", keys.trust: spec.trust_remote_code}
    for key, value in first.items():
        _keep(key, value)
    engine = st.selectbox("Engine", ENGINES, key=keys.engine,
                          help="auto: llama.cpp for the embedded GGUF models on a CPU (3-7x "
                               "faster), transformers for Hugging Face models and GPUs.")
    with st.expander("Device, precision, threads"):
        device = st.selectbox("Device", DEVICES, key=keys.device)
        dtype = st.selectbox("Weights dtype", DTYPES, key=keys.dtype,
                             help="auto: on a CPU, the format measured fastest for an answer on "
                                  "this processor; on CUDA, bfloat16.")
        threads = st.number_input(
            "CPU threads (0 = measured at first start)", 0, 256, key=keys.threads,
            help="On 2 shared cores, 1 thread beats 2 whenever another process is busy.")
        adapter = st.text_input(
            "Adapter folder (optional)", key=keys.adapter,
            help="A PEFT adapter saved by a training run. LoRA runs on llama.cpp too "
                 "(exported to GGUF once); other methods run on transformers.").strip()
        trust = st.checkbox("Trust remote code", key=keys.trust,
                            help="Runs Python code from the model's repository. Read it first.")
    return {"engine": engine, "device": device, "dtype": dtype, "threads": int(threads),
            "adapter": adapter or None, "trust_remote_code": trust}


def set_model(prefix: str, spec: ModelSpec, keys: PickerKeys | None = None) -> None:
    """Put ``spec`` into picker ``prefix``'s widgets; call it before they are drawn."""
    keys = keys or picker_keys(prefix)
    embedded = spec.source in model_options()
    st.session_state.update({
        keys.choice: spec.source if embedded else OTHER,
        keys.source: "" if embedded else spec.source,
        keys.engine: spec.engine, keys.device: spec.device.split(":")[0], keys.dtype: spec.dtype,
        keys.threads: spec.threads, keys.adapter: spec.adapter or "",
        keys.trust: spec.trust_remote_code})
