"""Pieces of the Train and Runs pages: widgets -> TrainConfig, the data preview, run views."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.config import DEFAULT_MODEL, ModelSpec
from core.errors import LabError
from core.runs import Run, get_run
from core.tasks import load_task
from core.train_config import (METHOD_LR, PRESETS, TrainConfig, passes, planned_steps,
                               schedule_summary)
from core.train_model import estimate, load_tokenizer, resolve_device, training_precision
from core.datafiles import columns_of, read_examples
from core.training_data import (DEFAULT_COLUMNS, DEFAULT_TEMPLATES, DataPreview, guess_columns,
                                preview_data)
from ui.engine import current_spec, show_error
from ui.model_picker import OTHER, picker_keys

# the Train page's base model: the one model picker, under the page's first key names
BASE_KEYS = picker_keys("train", choice="train_base_choice", source="train_base_other")
SOURCES = ("A task (sample or yours)", "Upload CSV / JSONL", "Hugging Face dataset")
METHOD_LABELS = {"lora": "LoRA", "qlora": "QLoRA (4-bit base)", "ia3": "IA3",
                 "prompt-tuning": "Prompt tuning", "full": "Full fine-tuning"}
FORMAT_LABELS = {"text-label": "text + label (with a template)",
                 "prompt-completion": "prompt / completion",
                 "instruction": "instruction / input / output", "chat": "chat messages"}
# widget key -> TrainConfig field, for the Trainer hyperparameters a preset fills
HYPER = {"train_epochs": "epochs", "train_max_steps": "max_steps", "train_batch": "batch_size",
         "train_accum": "grad_accum", "train_lr": "learning_rate", "train_scheduler": "scheduler",
         "train_warmup": "warmup_ratio", "train_max_len": "max_length", "train_seed": "seed",
         "train_eval_steps": "eval_steps", "train_save_steps": "save_steps",
         "train_threads": "threads", "train_precision": "precision"}


# -- the Train page's state --------------------------------------------------------------


def preset_values(name: str) -> dict[str, Any]:
    """The widget values of a preset's hyperparameters (0 where the config says None)."""
    config = PRESETS[name]
    values = {key: getattr(config, name) for key, name in HYPER.items()}
    values["train_max_steps"] = config.max_steps or 0
    values["train_lr"] = config.lr
    values["train_epochs"] = float(config.epochs)
    return values


def apply_preset() -> None:
    """on_change of the preset selector: fill the hyperparameters, keep everything else."""
    st.session_state.update(preset_values(st.session_state["train_preset"]))


def method_changed() -> None:
    """A method has its own sensible learning rate (METHOD_LR); LoRA keeps the preset's."""
    method = st.session_state["train_method"]
    preset_lr = PRESETS[st.session_state["train_preset"]].lr
    st.session_state["train_lr"] = preset_lr if method == "lora" else METHOD_LR[method]


def default_base() -> tuple[str, str]:
    """(choice, folder): the sidebar's model where training can use it, else the embedded one."""
    spec = current_spec()
    if spec.is_embedded:
        return spec.source, ""
    if Path(spec.source).expanduser().is_dir():
        return OTHER, spec.source
    return DEFAULT_MODEL, ""


def default_template(state) -> str:
    """The template for the data chosen now: the task's (its input written ``{input}``, as on
    every page), or the format's default."""
    if state["train_source"] == SOURCES[0]:
        try:
            return load_task(state["train_task"]).prompt_template
        except LabError:  # a damaged task of the user's: named where the config is checked
            return state.get("train_template") or DEFAULT_TEMPLATES["text-label"]
    return DEFAULT_TEMPLATES[state["train_format"]]


def reset_template() -> None:
    st.session_state["train_template"] = default_template(st.session_state)


def receive(request: dict[str, Any]) -> None:
    """What another page asked the Train page to show (``ui.navigate``): ``task``, picked as
    the data, with its template."""
    if request.get("task"):
        st.session_state.update({"train_source": SOURCES[0], "train_task": request["task"]})
        reset_template()


@st.cache_data(max_entries=8, show_spinner=False)
def file_columns(path: str) -> tuple[list[str], int]:
    """(column names in first-seen order, row count) of a data file."""
    rows = read_examples(Path(path).read_bytes(), Path(path).name)
    return columns_of(rows), len(rows)


def guess_file_columns(state) -> None:
    """Point each column picker of the chosen format at the file's column of that name (else
    empty, to be chosen), so the pickers show what the preview and the run will use."""
    columns, _ = file_columns(state["train_data_path"])
    guessed = guess_columns(state["train_format"], columns)
    for role in DEFAULT_COLUMNS[state["train_format"]]:
        state[f"train_col_{role}"] = guessed.get(role, "")


def format_changed() -> None:
    """on_change of the format: its default template, and its columns guessed again."""
    reset_template()
    if st.session_state.get("train_data_path"):
        guess_file_columns(st.session_state)


def initial_state() -> dict[str, Any]:
    choice, folder = default_base()
    state = {"train_base_choice": choice, "train_base_other": folder,
             "train_source": SOURCES[0], "train_task": "review-sentiment",
             "train_format": "text-label", "train_hub_name": "", "train_hub_split": "train",
             "train_val_mode": "the task's validation split", "train_val_fraction": 0.1,
             "train_max_train": 0, "train_max_eval": 0, "train_preset": "live-demo",
             "train_method": "lora", "train_lora_r": 16, "train_lora_alpha": 32,
             "train_lora_dropout": 0.0, "train_virtual_tokens": 20, "train_device": "auto",
             "train_merge": False, "train_targets": [], "train_name": "",
             **preset_values("live-demo")}
    state["train_template"] = load_task("review-sentiment").prompt_template
    return state


def base_model(state) -> str:
    return state["train_base_other"].strip() if state["train_base_choice"] == OTHER \
        else state["train_base_choice"]


def config_from_state(state) -> TrainConfig:
    """The one TrainConfig the widgets describe; its ConfigError names a bad value."""
    from core.errors import ConfigError

    data: dict[str, Any]
    if state["train_source"] == SOURCES[0]:
        by_task = state["train_val_mode"].startswith("the task")
        data = {"task": state["train_task"], "data_format": "text-label",
                "validation_split": "validation" if by_task else None}
    else:
        path = state.get("train_data_path")
        if not path:
            raise ConfigError("No data file is chosen yet.",
                              "Upload a CSV/JSONL file, or fetch a Hugging Face dataset.")
        fmt = state["train_format"]
        data = {"task": None, "data_path": path, "data_format": fmt,
                "columns": chosen_columns(state, fmt, path), "validation_split": None}
    method = state["train_method"]
    targets = tuple(state.get("train_targets") or ()) or None
    return TrainConfig(
        name=state["train_name"], model=base_model(state) or "", **data, template=state["train_template"] or None,
        validation_fraction=float(state["train_val_fraction"]),
        max_train_examples=int(state["train_max_train"]) or None,
        max_eval_examples=int(state["train_max_eval"]) or None,
        method=method, lora_r=int(state["train_lora_r"]), lora_alpha=int(state["train_lora_alpha"]),
        lora_dropout=float(state["train_lora_dropout"]),
        target_modules=targets if method not in ("full", "prompt-tuning") else None,
        num_virtual_tokens=int(state["train_virtual_tokens"]),
        epochs=float(state["train_epochs"]), max_steps=int(state["train_max_steps"]) or None,
        batch_size=int(state["train_batch"]), grad_accum=int(state["train_accum"]),
        learning_rate=float(state["train_lr"]), scheduler=state["train_scheduler"],
        warmup_ratio=float(state["train_warmup"]), max_length=int(state["train_max_len"]),
        seed=int(state["train_seed"]), eval_steps=int(state["train_eval_steps"]),
        save_steps=int(state["train_save_steps"]), threads=int(state["train_threads"]),
        device=state["train_device"], precision=state["train_precision"],
        merge_after=bool(state["train_merge"]) and method in ("lora", "qlora", "ia3"))


def chosen_columns(state, fmt: str, path: str) -> dict[str, str]:
    """The columns the pickers show for ``fmt``'s roles: exactly what the run will read (an
    empty picker is a ConfigError, not a silent default). Instruction's input may stay empty."""
    from core.errors import ConfigError

    columns = {}
    for role, default in DEFAULT_COLUMNS[fmt].items():
        chosen = state.get(f"train_col_{role}")
        if chosen:
            columns[role] = chosen
        elif not (fmt == "instruction" and role == "input"):
            names, _ = file_columns(path)
            file = state.get("train_data_label") or Path(path).name
            raise ConfigError(f"The {role} column is not chosen: {file} has no column "
                              f"{default!r} to use by default.",
                              f"Choose it above, from the file's columns: {', '.join(names)}.")
    return columns


# -- preview and estimate ---------------------------------------------------------------------


@st.cache_resource(max_entries=2, show_spinner=False)
def _tokenizer(model: str):
    return load_tokenizer(TrainConfig(model=model))


def _settings_key(config: TrainConfig) -> str:
    """The config as a cache key, less the run's name: a rename changes neither the data
    nor the estimate, so it must not read and tokenize everything again."""
    return json.dumps({**config.to_dict(), "name": ""}, sort_keys=True)


def data_preview(config: TrainConfig) -> DataPreview:
    """Examples as the model will read them, and their token lengths (cached per config)."""
    return _preview(_settings_key(config))


def training_estimate(config: TrainConfig) -> tuple[float | None, int]:
    """(seconds or None on a GPU, peak bytes) the run should take (cached per config)."""
    return _estimate(_settings_key(config))


@st.cache_data(max_entries=8, show_spinner=False)
def _preview(config_json: str) -> DataPreview:
    config = TrainConfig.from_dict(json.loads(config_json))
    return preview_data(config, _tokenizer(config.model))


@st.cache_data(max_entries=8, show_spinner=False)
def _estimate(config_json: str) -> tuple[float | None, int]:
    return estimate(TrainConfig.from_dict(json.loads(config_json)))


def steps_line(config: TrainConfig, train_examples: int) -> str:
    """The run's steps, how often it reads the data, and its learning-rate schedule."""
    total = planned_steps(config, train_examples)
    per_step = config.batch_size * config.grad_accum
    return (f"{total:,} steps x {per_step} examples a step: about "
            f"{passes(config, train_examples):.1f} passes (epochs) over {train_examples:,} "
            f"training examples. {schedule_summary(config, total).capitalize()}.")


def precision_note(config: TrainConfig) -> str:
    """The run's number format and why, as the Train page says it (measured here)."""
    return training_precision(config, resolve_device(config))[1]  # "float32: ..." and why


def preset_label(name: str) -> str:
    """A preset as the picker names it, with its time estimated from this machine's
    measured speed on the sample task (not a figure from elsewhere)."""
    what = {"live-demo": "live demo", "thorough": "thorough (3 epochs, evaluation and "
                                                  "checkpoints)"}.get(name, name)
    try:
        seconds, _ = training_estimate(PRESETS[name])
    except LabError:
        return what
    return f"{what}, about {duration(seconds)} (m:ss) here" if seconds else what


def length_histogram(preview: DataPreview) -> None:
    """Token lengths of the training examples, with the max length marked."""
    figure = go.Figure(go.Histogram(x=preview.train_lengths, nbinsx=40, marker_color="#1f77b4",
                                    name="examples"))
    figure.add_vline(x=preview.max_length, line_dash="dash", line_color="#d62728",
                     annotation_text=f"max length {preview.max_length}")
    figure.update_layout(height=260, margin=dict(l=10, r=10, t=40, b=10), bargap=0.05,
                         title=f"Token lengths of {len(preview.train_lengths)} training examples",
                         xaxis_title="tokens (prompt + completion + end)",
                         yaxis_title="examples")
    st.plotly_chart(figure, key="train_lengths_chart")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


# -- the Runs page ---------------------------------------------------------------------------


def _number(value: Any, digits: int = 4) -> Any:
    return round(value, digits) if isinstance(value, (int, float)) else None


METRIC_ROWS = (  # metrics.json key, what a person calls it, how to write the value
    ("accuracy", "Validation accuracy", lambda v: f"{v:.3f}"),
    ("eval_loss", "Validation loss", lambda v: f"{v:.3f}"),
    ("train_loss", "Training loss (mean)", lambda v: f"{v:.3f}"),
    ("steps", "Steps", lambda v: f"{v:,}"),
    ("tokens_seen", "Tokens trained on", lambda v: f"{v:,}"),
    ("train_seconds", "Training time", lambda v: f"{duration(v)} (m:ss)"),
    ("total_seconds", "Whole run, with loading and evaluation", lambda v: f"{duration(v)} (m:ss)"),
    ("peak_rss_bytes", "Peak memory", lambda v: f"{v / 2**30:.2f} GiB"),
    ("examples_cut", "Examples cut by the max length", lambda v: f"{v:,}"),
)


def metrics_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    """A run's final figures as a two-column table a person reads, units included."""
    rows = []
    for key, label, write in METRIC_ROWS:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append({"metric": label, "value": write(value)})
    return pd.DataFrame(rows)


def shown_status(run: Run) -> str:
    """A run's status as lists write it: a cancel asked of a running run shows at once."""
    if run.cancelling:
        return "cancelling after this step"
    return run.status + (f" (#{run.queue_position})" if run.queue_position else "")


def run_label(run: Run) -> str:
    """How a list names a run: its name (else its id), status and method."""
    status = "cancelling" if run.cancelling else run.status
    return f"{run.name or run.id} · {status} · {METHOD_LABELS.get(run.method, '?')}"


def runs_frame(runs: list[Run]) -> pd.DataFrame:
    """One row per run: what it trained, how it went, its final figures."""
    rows = []
    for run in runs:
        created = run.created_at
        try:
            created = datetime.fromisoformat(run.created_at).astimezone().strftime("%Y-%m-%d %H:%M")
        except ValueError:
            pass
        rows.append({"name": run.name, "run": run.id, "status": shown_status(run),
                     "method": METHOD_LABELS.get(run.method, "?"),
                     "data": Path(run.data).name if run.data_path else run.data,
                     "base": run.base_model or None, "created": created,
                     "duration": duration(run.duration_s),
                     "steps": run.measured.steps,
                     "train loss": _number(run.measured.train_loss),
                     "eval loss": _number(run.measured.eval_loss),
                     "accuracy": _number(run.measured.accuracy, 3)})
    return pd.DataFrame(rows)


def refreshed(run_id: str, shown_status: str) -> Run | None:
    """The run as it stands now, for a live fragment polling it: None (the error shown) when
    it cannot be read; the whole page reruns when the status changed since it was drawn
    (its buttons and the steps after it depend on the status; a cancel asked of a running
    run counts as one, ``cancelling``)."""
    try:
        run = get_run(run_id)
    except LabError as exc:
        show_error(exc)
        return None
    if ("cancelling" if run.cancelling else run.status) != shown_status:
        st.rerun(scope="app")
    return run


def cancelling_note(events: list[dict]) -> str:
    """What a cancel asked of a running run does now, said at once (the step it is on ends
    first; a step can take many seconds on a CPU)."""
    steps = [e for e in events if e.get("type") == "step"]
    if not steps:
        return ("Cancelling after this step: the run is still loading, so it stops after its "
                "first step and keeps the adapter as it stands then.")
    on = min(steps[-1]["step"] + 1, steps[-1]["total_steps"])
    return (f"Cancelling after this step: step {on} of {steps[-1]['total_steps']} finishes "
            "first, then the run stops and keeps the adapter as it stands. If that was the last "
            "step, the run simply finishes.")


def poll_events(run: Run) -> list[dict]:
    """Every event of ``run`` so far, reading only what was added since the last poll."""
    cache = st.session_state.setdefault("runs_events", {})
    offset, events = cache.get(run.id, (0, []))
    from core.runs import read_events

    new, offset = read_events(run.run_dir, offset)
    events = events + new
    cache[run.id] = (offset, events)
    return events


def loss_chart(events: list[dict], key: str) -> None:
    """Training loss per step and evaluation loss where evaluated; nothing before the first."""
    steps = [e for e in events if e.get("type") == "step" and e.get("loss") is not None]
    evals = [e for e in events if e.get("type") == "eval"]
    if not steps and not evals:  # queued, loading, or cancelled before a step: no empty axes
        return
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=[e["step"] for e in steps], y=[e["loss"] for e in steps],
                                mode="lines+markers", name="training loss",
                                line=dict(color="#1f77b4")))
    if evals:
        figure.add_trace(go.Scatter(x=[e["step"] for e in evals], y=[e["eval_loss"] for e in evals],
                                    mode="lines+markers", name="eval loss",
                                    line=dict(color="#ff7f0e", dash="dash")))
    total = steps[-1]["total_steps"] if steps else None
    figure.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), title="Loss",
                         xaxis=dict(title="step", range=[0, total * 1.02 + 0.2] if total else None,
                                    dtick=max(1, (total or 10) // 10)),
                         yaxis_title="loss (completion tokens)",
                         legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    st.plotly_chart(figure, key=key)


def progress_row(events: list[dict]) -> None:
    """Step of total, ETA, tokens/s, memory and learning rate from the newest step event."""
    steps = [e for e in events if e.get("type") == "step"]
    if not steps:
        st.caption("Waiting for the first step (loading the model and the data)...")
        return
    last = steps[-1]
    st.progress(min(1.0, last["step"] / max(1, last["total_steps"])),
                f"step {last['step']} of {last['total_steps']}")
    cols = st.columns(5)
    cols[0].metric("Step", f"{last['step']} / {last['total_steps']}")
    cols[1].metric("ETA (m:ss)", duration(last.get("eta_s")))
    tps = last.get("tokens_per_s")
    cols[2].metric("Tokens/s", f"{tps:.0f}" if tps is not None else "–")
    cols[3].metric("Memory (RSS)", f"{last.get('rss_bytes', 0) / 2**30:.2f} GiB")
    lr = last.get("learning_rate")
    cols[4].metric("Learning rate", f"{lr:.2e}" if lr is not None else "–")


def run_setup_line(events: list[dict]) -> str | None:
    """Where and how the run trains, from its start event: device, threads, number format
    and why, and the step time estimated from this machine's measured speed."""
    start = next((e for e in events if e.get("type") == "start"), None)
    if not start or not start.get("precision"):
        return None
    step = start.get("estimated_step_s")
    steps = [e for e in events if e.get("type") == "step" and e.get("threads")]
    threads = start.get("threads")
    if threads == "auto":
        threads = f"auto (now {steps[-1]['threads']})" if steps else "auto"
    schedule = next((e for e in events if e.get("type") == "schedule"), None)
    return (f"Device {start.get('device')} · threads {threads} · number format "
            f"{start.get('precision_reason') or start['precision']}"
            + (f" · estimated {step:.2f} s a step" if step else "")
            + (f" · {schedule['summary']}" if schedule and schedule.get("summary") else ""))


def output_folder(run: Run) -> Path:
    return run.run_dir / ("model" if run.method == "full" else "adapter")


def spec_for(run: Run) -> ModelSpec:
    """The model that serves a run's result: the base with the adapter (full: the model)."""
    folder = str(output_folder(run))
    if run.method == "full":
        return ModelSpec(source=folder)
    return ModelSpec(source=run.base_model, adapter=folder)


def trained_prompt(run: Run) -> str | None:
    """A prompt exactly as the run's model was trained to read it (text-label runs): the
    first test example of its task, or a placeholder to replace; None for other formats."""
    from core.compare import tuned_prompt  # the comparison prompts the tuned model this way

    try:
        template = json.loads((run.run_dir / "template.json").read_text(encoding="utf-8"))
        if template.get("data_format") != "text-label":
            return None
        text = "Type your text here"
        if run.task:
            text = load_task(run.task).examples("test", limit=1)[0].input
        return tuned_prompt(template, text)
    except (OSError, ValueError, KeyError, IndexError, AttributeError, LabError):
        return None
