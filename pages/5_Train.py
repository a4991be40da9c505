"""Train: base model, data, template, method and hyperparameters -> one TrainConfig -> a run."""

import streamlit as st

from core.config import ModelSpec
from core.errors import LabError
from core.runs import get_run, start_run
from core.tasks import list_tasks, task_title
from core.precision import PRECISIONS
from core.train_config import METHODS, NAME_MAX, PRESETS, SCHEDULERS, TrainConfig
from core.train_model import check_qlora, target_choices
from core.training_data import DEFAULT_COLUMNS, FORMATS
from ui.controls import init_state, plain
from ui.engine import show_error
from ui.sidebar import render_sidebar
from ui.model_picker import model_picker
from ui.navigate import arrival, ask
from ui.train_sections import checked_config, file_source
from ui.training import (BASE_KEYS, METHOD_LABELS, SOURCES, apply_preset, base_model,
                         default_template, initial_state, method_changed, preset_label, receive,
                         reset_template)

st.set_page_config(page_title="Train · PromptTune Lab", page_icon="🏋️",
                   layout="wide")
render_sidebar()
st.title(":material/model_training: Train")
st.caption("Fine-tuning changes the weights: pick a base model and your examples, a method and a "
           "preset, and start. The run trains in its own process, one at a time on this machine; "
           "watch it on the Runs page, even after closing the tab.")

init_state(initial_state())
init_state({f"train_col_{role}": "" for fmt in FORMATS for role in DEFAULT_COLUMNS[fmt]})
receive(arrival("train"))
state = st.session_state




def base_model_section() -> None:
    """1. The base model: the one model picker, without the runtime settings."""
    st.subheader("1 · Base model")
    c1, c2 = st.columns([1, 2])
    with c1:
        model_picker("train", ModelSpec(), runtime=False, keys=BASE_KEYS, label="Base model")
    c2.caption("Training runs on transformers with fp32 weights, in float32 or under bf16 autocast, "
               "whichever this processor runs faster (measured once, see step 5); the embedded "
               "models train from their converted safetensors copy.")


def data_section() -> None:
    """2. The examples: a task, a file or a Hub dataset; the validation split and limits."""
    st.subheader("2 · Data")
    st.radio("Examples from", SOURCES, key="train_source", horizontal=True, on_change=reset_template)
    if state["train_source"] == SOURCES[0]:
        c1, c2 = st.columns(2)
        if state["train_task"] not in list_tasks():  # a task of yours renamed or deleted since
            state["train_task"] = list_tasks()[0]
            reset_template()
        c1.selectbox("Task (a sample, or yours from the Tasks page)", list_tasks(), key="train_task",
                     on_change=reset_template, format_func=task_title)
        c2.radio("Validation", ["the task's validation split", "a fraction of train"],
                 key="train_val_mode", horizontal=True)
    else:
        file_source()
    c1, c2, c3 = st.columns(3)
    uses_fraction = state["train_source"] != SOURCES[0] or \
        not state["train_val_mode"].startswith("the task")
    c1.slider("Validation fraction (of the training data)", 0.0, 0.5, step=0.05,
              key="train_val_fraction", disabled=not uses_fraction,
              help=None if uses_fraction else "Off: the task's own validation split is used.")
    c2.number_input("At most this many training examples (0 = all)", 0, 10**6, key="train_max_train")
    c3.number_input("At most this many validation examples (0 = all)", 0, 10**6, key="train_max_eval")


def template_section() -> None:
    """3. The prompt the model is trained on."""
    st.subheader("3 · Prompt template")
    c1, c2 = st.columns([3, 2])
    c1.text_area("The prompt the model is trained on", key="train_template", height=100,
                 help="Saved with the adapter as template.json, so the comparison prompts the tuned "
                      "model exactly as it was trained.")
    c2.caption("`{input}` is the example's input, as in the Playground and the Few-shot builder "
               "(other columns of a file by their names, e.g. `{instruction}`); the answer follows "
               "the prompt after a space and ends with the model's end token. Chat messages: leave "
               "it empty to use the model's chat template (or the lab's plain turn format).")
    if c2.button("Reset to the data's default", key="train_template_reset"):
        state["train_template"] = default_template(state)
        st.rerun()


def method_section() -> None:
    """4. The method and its own settings; the target modules where it has them."""
    st.subheader("4 · Method")
    c1, c2 = st.columns([1, 2])
    c1.selectbox("Method", METHODS, key="train_method", format_func=METHOD_LABELS.get,
                 on_change=method_changed)
    method = state["train_method"]
    with c2:
        if method in ("lora", "qlora"):
            a, b, c = st.columns(3)
            a.number_input("Rank r", 0, 1024, key="train_lora_r")
            b.number_input("Alpha", 0, 4096, key="train_lora_alpha")
            c.number_input("Dropout", 0.0, 1.0, step=0.05, key="train_lora_dropout")
        elif method == "prompt-tuning":
            st.number_input("Virtual tokens", 0, 512, key="train_virtual_tokens")
        elif method == "full":
            st.caption("Every weight trains: gradients and two Adam moments add ~12 bytes per "
                       "parameter. For small models only.")
        else:
            st.caption("IA3 learns one scaling vector per target layer: the fewest trainable "
                       "parameters, and a higher learning rate.")
    if method == "qlora":
        try:
            check_qlora(state["train_device"])
            st.info("QLoRA here: the base is loaded in 4-bit NF4 by bitsandbytes (its CPU backend "
                    "when there is no CUDA GPU; measured ~2x slower per step than LoRA on this CPU: "
                    "it saves memory, not time). Its layers must be at least 64 wide.",
                    icon=":material/info:")
        except LabError as exc:
            show_error(exc)
    if method in ("lora", "qlora", "ia3"):
        targets(method)


def targets(method: str) -> None:
    """The modules LoRA, QLoRA or IA3 adapt (the architecture's defaults first), and merging."""
    model = base_model(state)
    try:
        names, defaults = target_choices(TrainConfig(model=model or "?", method=method))
    except LabError as exc:
        names, defaults = [], ()
        show_error(exc)
    if state.get("train_targets_for") != (model, method) or \
            not set(state["train_targets"]) <= set(names):
        state["train_targets"] = [t for t in defaults if t in names]
        state["train_targets_for"] = (model, method)
    st.multiselect("Target modules", names, key="train_targets",
                   help="Empty: detected from the model (q, k, v, o projections for Llama/Gemma; "
                        "k, v, down projection for IA3).")
    if defaults:
        st.caption(f"Default for this architecture and method: {plain(', '.join(defaults))}.")
    st.checkbox("Also save a merged model (the adapter folded into the base)", key="train_merge")


def hyperparameters_section() -> None:
    """5. A preset fills the Trainer's settings; each stays editable."""
    st.subheader("5 · Hyperparameters")
    st.selectbox("Preset", list(PRESETS), key="train_preset", on_change=apply_preset,
                 format_func=preset_label,
                 help="Fills the fields below; each stays editable. Each time is estimated from "
                      "this machine's measured training speed (its number format included), for "
                      "the embedded Gemma 3 270M on the review-sentiment task; section 6 estimates "
                      "your own settings.")
    c = st.columns(4)
    c[0].number_input("Epochs", 0.0, 1000.0, step=0.5, key="train_epochs")
    c[1].number_input("Max steps (0 = by epochs)", 0, 10**7, key="train_max_steps")
    c[2].number_input("Batch size", 0, 1024, key="train_batch")
    c[3].number_input("Gradient accumulation", 0, 1024, key="train_accum")
    c = st.columns(4)
    c[0].number_input("Learning rate", 0.0, 1.0, step=1e-5, format="%.2e", key="train_lr")
    c[1].selectbox("Schedule", SCHEDULERS, key="train_scheduler")
    c[2].number_input("Warmup (fraction of steps)", 0.0, 1.0, step=0.05, key="train_warmup")
    c[3].number_input("Max length (tokens)", 0, 131072, step=16, key="train_max_len")
    c = st.columns(6)
    c[0].number_input("Seed", 0, 2**32 - 1, key="train_seed")
    c[1].number_input("Eval every (steps, 0 = at the end)", 0, 10**7, key="train_eval_steps")
    c[2].number_input("Save every (steps, 0 = at the end)", 0, 10**7, key="train_save_steps")
    c[3].number_input("Training threads (0 = auto)", 0, 256, key="train_threads",
                      help="auto: every core while nothing else keeps the machine busy, one while "
                           "something does (two threads beside a busy neighbour run several times "
                           "slower than one), checked at every step.")
    c[4].selectbox("Device", ("auto", "cpu", "cuda"), key="train_device")
    c[5].selectbox("Number format", PRECISIONS, key="train_precision",
                   help="auto: the format measured fastest for a training step on this processor "
                        "(bfloat16 autocast where it is native, float32 where bf16 is emulated and "
                        "~35x slower); float16 needs a CUDA GPU.")


def start_section() -> None:
    """6. The one config checked (preview, estimate), the start, where the run is."""
    st.subheader("6 · Check and start")
    st.text_input("Run name (optional)", key="train_name", max_chars=NAME_MAX,
                  placeholder="e.g. lora-r16-lr1e-3",
                  help="How the Runs and Compare pages list this run; empty: its method and data.")
    config = checked_config()

    if st.button("Start training", key="train_start", type="primary", disabled=config is None):
        try:
            state["train_started_run"] = start_run(config)
            ask("runs", run=state["train_started_run"])  # the Runs page opens on it
        except LabError as exc:
            show_error(exc)
    if state.get("train_started_run"):
        try:
            run = get_run(state["train_started_run"])
            where = f"queued (#{run.queue_position} in line)" if run.queue_position else run.status
            st.success(f"Run **{plain(run.name or run.id)}** is {where}. Its folder: "
                       f"{plain(run.run_dir)}",
                       icon=":material/rocket_launch:")
            st.page_link("pages/6_Runs.py", label="Watch it on the Runs page", icon=":material/list_alt:")
        except LabError as exc:
            show_error(exc)


base_model_section()
data_section()
template_section()
method_section()
hyperparameters_section()
start_section()
