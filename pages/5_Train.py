"""Train: base model, data, template, method and hyperparameters -> one TrainConfig -> a run."""

import psutil
import streamlit as st

from core.errors import LabError
from core.runs import get_run, start_run
from core.tasks import list_tasks, task_title
from core.precision import PRECISIONS
from core.train_config import (METHODS, NAME_MAX, PRESETS, SCHEDULERS, TrainConfig,
                               many_passes_warning)
from core.train_model import check_qlora, target_choices
from core.training_data import DEFAULT_COLUMNS, FORMATS, fetch_hub_dataset, save_upload
from ui.controls import init_state, plain
from ui.engine import show_error
from ui.sidebar import render_sidebar
from ui.training import (FORMAT_LABELS, METHOD_LABELS, OTHER, SOURCES, apply_preset, base_label,
                         base_model, base_options, config_from_state, data_preview,
                         default_template, duration, file_columns, format_changed,
                         guess_file_columns, length_histogram, initial_state, method_changed,
                         precision_note, preset_label, reset_template, steps_line,
                         training_estimate)

st.set_page_config(page_title="Train · PromptTune Lab", page_icon="🏋️",
                   layout="wide")
render_sidebar()
st.title(":material/model_training: Train")
st.caption("Fine-tuning changes the weights: pick a base model and your examples, a method and a "
           "preset, and start. The run trains in its own process, one at a time on this machine; "
           "watch it on the Runs page, even after closing the tab.")

init_state(initial_state())
init_state({f"train_col_{role}": "" for fmt in FORMATS for role in DEFAULT_COLUMNS[fmt]})
state = st.session_state


def use_file(path: str, label: str) -> None:
    """A new data file: map its columns to the format's roles by name where they match."""
    if state.get("train_data_path") == path:
        return
    state["train_data_path"], state["train_data_label"] = path, label
    guess_file_columns(state)


# 1. base model
st.subheader("1 · Base model")
c1, c2 = st.columns([1, 2])
c1.selectbox("Base model", base_options(), key="train_base_choice", format_func=base_label)
if state["train_base_choice"] == OTHER:
    c2.text_input("Local folder or Hub id", key="train_base_other",
                  placeholder="/path/to/model or HuggingFaceTB/SmolLM2-135M")
c2.caption("Training runs on transformers with fp32 weights, in float32 or under bf16 autocast, "
           "whichever this processor runs faster (measured once, see step 5); the embedded "
           "models train from their converted safetensors copy.")

# 2. data
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
    if state.get("train_data_path"):
        try:
            columns, count = file_columns(state["train_data_path"])
            st.caption(f"Using **{plain(state['train_data_label'])}**: {count:,} examples, "
                       f"columns {plain(', '.join(columns))}. The validation split is a fraction "
                       "of it.")
            st.selectbox("Format", FORMATS, key="train_format", format_func=FORMAT_LABELS.get,
                         on_change=format_changed)
            roles = DEFAULT_COLUMNS[state["train_format"]]
            for col, role in zip(st.columns(len(roles)), roles):
                if state.get(f"train_col_{role}") not in columns:
                    state[f"train_col_{role}"] = ""
                col.selectbox(f"{role} column", ["", *columns], key=f"train_col_{role}",
                              format_func=lambda c, r=role: c or f"(choose the {r} column)")
        except LabError as exc:
            show_error(exc)
c1, c2, c3 = st.columns(3)
uses_fraction = state["train_source"] != SOURCES[0] or \
    not state["train_val_mode"].startswith("the task")
c1.slider("Validation fraction (of the training data)", 0.0, 0.5, step=0.05,
          key="train_val_fraction", disabled=not uses_fraction,
          help=None if uses_fraction else "Off: the task's own validation split is used.")
c2.number_input("At most this many training examples (0 = all)", 0, 10**6, key="train_max_train")
c3.number_input("At most this many validation examples (0 = all)", 0, 10**6, key="train_max_eval")

# 3. template
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

# 4. method
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

# 5. hyperparameters
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

# the one config, its data preview, its estimate
st.subheader("6 · Check and start")
st.text_input("Run name (optional)", key="train_name", max_chars=NAME_MAX,
              placeholder="e.g. lora-r16-lr1e-3",
              help="How the Runs and Compare pages list this run; empty: its method and data.")
config = None
try:
    config = config_from_state(state)
    with st.spinner("Reading and tokenizing the data..."):
        preview = data_preview(config)
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
    with st.spinner("Estimating time and memory..."):
        seconds, peak = training_estimate(config)
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
    with st.expander("The config this run will save (config.json)"):
        st.json(config.to_dict())
except LabError as exc:
    show_error(exc)
    config = None

if st.button("Start training", key="train_start", type="primary", disabled=config is None):
    try:
        state["train_started_run"] = start_run(config)
        state["runs_selected"] = state["train_started_run"]
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
