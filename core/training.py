"""Fine-tuning a causal LM on a task: the settings, the data, the model, the Trainer.

``TrainConfig`` is the one object the launcher page builds, the CLI reads from
JSON/YAML and a run saves as ``config.json``. ``train(config, run_dir)`` does the
work in the calling process (``core.runs`` starts it in a process of its own) and
leaves in ``run_dir``: ``adapter/`` (PEFT) or ``model/`` (full fine-tuning),
``template.json`` (how to prompt the tuned model exactly as it was trained),
``metrics.json``, ``events.jsonl`` (one JSON object per line) and, on request,
``merged/``. ``estimate(config)`` predicts seconds and peak memory before a start.

Choices measured on 2-core CPUs (see ../shared/MEASURED.md): fp32 weights with
bf16 autocast (bf16 weights train 4x slower), dynamic padding, loss on the
completion tokens only, and the LM head applied to those positions only (Gemma's
262k-word head costs more than the rest of the model).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from core.config import DEFAULT_MODEL, _check_range, check_known_settings
from core.errors import ConfigError, LabError
from core.training_data import (DEFAULT_COLUMNS, DEFAULT_TEMPLATES, FORMATS,  # noqa: F401
                                PromptFormat, TrainingData, _template_names, prepare_data)

METHODS = ("lora", "qlora", "ia3", "prompt-tuning", "full")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
DEVICES = ("auto", "cpu", "cuda")
# learning rate when the config leaves it at None; LoRA/QLoRA/full as measured here
METHOD_LR = {"lora": 2e-4, "qlora": 5e-4, "ia3": 5e-3, "prompt-tuning": 3e-2, "full": 5e-5}
LLAMA_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one fine-tuning run needs. Ranges are checked on construction.

    Data: a sample ``task`` (``assets/tasks/<name>``) or a ``data_path`` (CSV, TSV,
    JSONL, JSON) read as ``data_format``; ``columns`` maps the format's roles
    (see ``DEFAULT_COLUMNS``) to the file's column names. A ``data_path`` wins over
    ``task``. ``template`` is the prompt the model is trained on (``{input}`` or the
    input column's name for text-label; default: the task's template).
    ``learning_rate`` None means the method's default (``METHOD_LR``); ``max_steps``
    None means ``epochs`` decide; ``eval_steps``/``save_steps`` 0 mean only at the end.
    """

    model: str = DEFAULT_MODEL
    task: str | None = "review-sentiment"
    data_path: str | None = None
    data_format: str = "text-label"
    columns: dict[str, str] = field(default_factory=dict)
    template: str | None = None
    validation_split: str | None = "validation"  # a task's split; None: a fraction of train
    validation_fraction: float = 0.1
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    method: str = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None  # None: q,k,v,o projections, detected
    num_virtual_tokens: int = 20  # prompt tuning
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 8
    grad_accum: int = 1
    learning_rate: float | None = None
    scheduler: str = "linear"
    warmup_ratio: float = 0.0
    max_length: int = 256
    seed: int = 0
    eval_steps: int = 0
    save_steps: int = 0
    threads: int = 1
    device: str = "auto"
    merge_after: bool = False

    def __post_init__(self) -> None:
        self._check_choices()
        self._check_numbers()
        self._check_data()

    def _check_choices(self) -> None:
        for name, allowed in (("method", METHODS), ("data_format", FORMATS),
                              ("scheduler", SCHEDULERS), ("device", DEVICES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"Unknown {name} {getattr(self, name)!r}.",
                                  f"Use one of {', '.join(allowed)}.")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError("The base model (model) is empty.", f"Use e.g. {DEFAULT_MODEL}.")
        if self.merge_after and self.method in ("prompt-tuning", "full"):
            raise ConfigError(f"merge_after works for LoRA, QLoRA and IA3, not {self.method}.",
                              "Turn merge_after off for this method.")
        if self.target_modules is not None:
            modules = (self.target_modules,) if isinstance(self.target_modules, str) \
                else tuple(self.target_modules)
            if not modules or any(not isinstance(m, str) or not m for m in modules):
                raise ConfigError("target_modules must be a non-empty list of module names.",
                                  "Use e.g. [\"q_proj\", \"v_proj\"], or null to detect them.")
            object.__setattr__(self, "target_modules", modules)
        for name in ("merge_after",):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false.")

    def _check_numbers(self) -> None:
        for name in ("validation_fraction", "lora_dropout", "epochs", "learning_rate",
                     "warmup_ratio"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        ints = {"lora_r": (1, 1024), "lora_alpha": (1, 4096), "num_virtual_tokens": (1, 512),
                "batch_size": (1, 1024), "grad_accum": (1, 1024), "max_length": (8, 131072),
                "seed": (0, 2**32 - 1), "eval_steps": (0, 10**7), "save_steps": (0, 10**7),
                "threads": (0, 256)}
        for name, (low, high) in ints.items():
            _check_range(name, getattr(self, name), low, high, int)
        for name in ("max_steps", "max_train_examples", "max_eval_examples"):
            if getattr(self, name) is not None:
                _check_range(name, getattr(self, name), 1, 10**7, int)
        _check_range("validation_fraction", self.validation_fraction, 0.0, 0.5, float)
        _check_range("lora_dropout", self.lora_dropout, 0.0, 0.9, float)
        _check_range("epochs", self.epochs, 0.01, 1000.0, float)
        _check_range("warmup_ratio", self.warmup_ratio, 0.0, 0.5, float)
        if self.learning_rate is not None:
            _check_range("learning_rate", self.learning_rate, 1e-8, 1.0, float)

    def _check_data(self) -> None:
        if self.data_path is not None:
            if not isinstance(self.data_path, str) or not self.data_path.strip():
                raise ConfigError("data_path is empty.", "Give the path of a CSV/JSONL file.")
            object.__setattr__(self, "task", None)  # a file wins over the default task
        elif not self.task:
            raise ConfigError("No training data: neither task nor data_path is set.",
                              "Pick a sample task (e.g. review-sentiment) or give a data file.")
        if self.task is not None and self.data_format != "text-label":
            raise ConfigError(f"Sample tasks train as text-label, not {self.data_format}.",
                              "Set data_format to text-label, or give a data_path.")
        if not isinstance(self.columns, dict) or any(
                not isinstance(k, str) or not isinstance(v, str) for k, v in self.columns.items()):
            raise ConfigError("columns must map role names to column names (strings).",
                              f"e.g. {DEFAULT_COLUMNS[self.data_format]}.")
        unknown = sorted(set(self.columns) - set(DEFAULT_COLUMNS[self.data_format]))
        if unknown:
            raise ConfigError(f"columns has role(s) {', '.join(unknown)} that {self.data_format} "
                              "does not use.",
                              f"Its roles are: {', '.join(DEFAULT_COLUMNS[self.data_format])}.")
        if self.template is not None:
            _template_names(self.template)

    @property
    def lr(self) -> float:
        """The learning rate the run uses (the method's default when unset)."""
        return self.learning_rate if self.learning_rate is not None else METHOD_LR[self.method]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules) if self.target_modules else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict (JSON, YAML, a saved run); unknown keys are an error."""
        if not isinstance(data, dict):
            raise ConfigError("A training config must be a JSON/YAML object of settings.")
        check_known_settings(cls, data, "training")
        return cls(**data)


PRESETS: dict[str, TrainConfig] = {
    # ~2 minutes on a 2-core CPU with the embedded Gemma, one training thread.
    "live-demo": TrainConfig(method="lora", lora_r=16, lora_alpha=32, lora_dropout=0.0,
                             learning_rate=1e-3, batch_size=8, max_steps=60,
                             warmup_ratio=0.1, max_length=128, threads=1),
    "thorough": TrainConfig(method="lora", lora_r=16, lora_alpha=32, lora_dropout=0.05,
                            learning_rate=2e-4, epochs=3.0, batch_size=8, scheduler="cosine",
                            warmup_ratio=0.05, max_length=256, eval_steps=50, save_steps=50),
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A preset with some settings changed; unknown names are a ConfigError."""
    if name not in PRESETS:
        raise ConfigError(f"There is no training preset {name!r}.",
                          f"Use one of: {', '.join(PRESETS)}.")
    return replace(PRESETS[name], **overrides) if overrides else PRESETS[name]


def load_config(path: str | Path, preset_name: str | None = None) -> TrainConfig:
    """Read a config from a JSON or YAML file, over a preset's values when one is named."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Could not read the training config {path}: {exc}",
                          "Give the path of a JSON (or YAML) file.") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    except ValueError as exc:  # json.JSONDecodeError and yaml.YAMLError both
        raise ConfigError(f"{path} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: "
                          f"{exc}", "Fix the file's syntax.") from None
    base = preset(preset_name).to_dict() if preset_name else {}
    return TrainConfig.from_dict({**base, **(data or {})})


# -- model ------------------------------------------------------------------------


def resolve_device(config: TrainConfig) -> str:
    import torch

    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device is cuda but PyTorch sees no CUDA GPU here.",
                          "Use device auto or cpu.")
    return config.device


def model_location(config: TrainConfig) -> str:
    """The local folder (or Hub id) of the base model; embedded models are converted once."""
    from core.config import ModelSpec
    from core.models import resolve_source

    return resolve_source(ModelSpec(source=config.model))[0]


def linear_names(model) -> set[str]:
    """The last name component of every Linear layer (q_proj, c_attn, ...)."""
    import torch

    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name}


def default_targets(model, method: str) -> tuple[str, ...]:
    """LoRA: q,k,v,o projections (llama/gemma style); IA3: k, v and the MLP's down proj."""
    return targets_for(linear_names(model), method)


def targets_for(names: set[str], method: str) -> tuple[str, ...]:
    """The default target modules among a model's linear layer ``names`` for ``method``."""
    if method == "ia3" and {"k_proj", "v_proj", "down_proj"} <= names:
        return ("k_proj", "v_proj", "down_proj")
    if set(LLAMA_ATTENTION) <= names:
        return LLAMA_ATTENTION
    if "c_attn" in names:  # GPT-2 style
        return ("c_attn", "c_proj")
    raise ConfigError("Could not find the attention projections of this model "
                      f"(its linear layers: {', '.join(sorted(names))}).",
                      "Set target_modules to the layer names to adapt.")


def target_choices(config: TrainConfig) -> tuple[list[str], tuple[str, ...]]:
    """(the base model's linear layer names, the method's default targets), read from the
    safetensors headers without loading the model; ([], ()) where the weights are not local."""
    location = Path(model_location(config))
    names = set()
    for file in location.glob("*.safetensors") if location.is_dir() else ():
        from safetensors import safe_open

        with safe_open(str(file), framework="np") as fh:
            for key in fh.keys():
                parts = key.split(".")
                if parts[-1] == "weight" and len(fh.get_slice(key).get_shape()) == 2 \
                        and not any(w in key for w in ("embed", "wte", "wpe", "lm_head")):
                    names.add(parts[-2])
    if not names:
        return [], ()
    try:
        return sorted(names), targets_for(names, config.method)
    except ConfigError:
        return sorted(names), ()


def model_window(config: TrainConfig) -> int | None:
    """The base model's context window (max_position_embeddings), where its config says."""
    path = Path(model_location(config)) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    data = data.get("text_config", data)  # multimodal configs nest the language model's
    return data.get("max_position_embeddings") or data.get("n_positions")


def check_max_length(config: TrainConfig) -> None:
    """A max_length beyond the base model's window is a ConfigError naming both."""
    window = model_window(config)
    if window and config.max_length > window:
        raise ConfigError(f"max_length {config.max_length} is beyond the context window of "
                          f"{config.model} ({window:,} tokens).",
                          f"Set max_length to {window} or less.")


def check_qlora(device: str = "auto") -> None:
    """Raise the LabError that says why QLoRA cannot run here; return where it can."""
    _qlora_options("cuda" if device == "cuda" else "cpu")


def load_tokenizer(config: TrainConfig):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_location(config))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(config: TrainConfig, device: str):
    """The base model in fp32 (QLoRA: NF4 weights); training casts to bf16 by autocast."""
    import torch
    from transformers import AutoModelForCausalLM

    options: dict[str, Any] = {"dtype": torch.float32, "use_safetensors": True}
    if config.method == "qlora":
        options.update(_qlora_options(device))
    try:
        return AutoModelForCausalLM.from_pretrained(model_location(config), **options)
    except (OSError, ValueError, RuntimeError) as exc:
        raise LabError(f"Could not load the base model {config.model} for training: "
                       f"{str(exc).splitlines()[0]}",
                       "Check the model source (a folder with config.json and safetensors, "
                       "or an embedded model after `python -m core prepare`).") from exc


def _qlora_options(device: str) -> dict:
    import torch
    from transformers import BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise LabError("QLoRA needs bitsandbytes, which is not installed.",
                       "pip install bitsandbytes, or choose LoRA.") from exc
    compute = torch.bfloat16 if device == "cuda" else torch.float32  # fp32: see MEASURED.md
    return {"quantization_config": BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute,
        bnb_4bit_use_double_quant=False),
        # under accelerate launch each process holds its own copy on its own GPU
        "device_map": {"": int(os.environ.get("LOCAL_RANK", "0")) if device == "cuda" else "cpu"}}


def disable_bnb_cpu_repacking(model) -> int:
    """Turn off bitsandbytes' in-place CPU repacking on every Linear4bit; return how many.

    bitsandbytes 0.50.2 repacks a Linear4bit weight for a fast AVX512-BF16 kernel on the
    first eval forward and never unpacks it: training afterwards runs through a kernel
    without autograd and the LoRA gradients are wrong (MEASURED.md).
    """
    import bitsandbytes as bnb

    count = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count


def build_model(config: TrainConfig, device: str):
    """The model to train: the base wrapped by PEFT for the chosen method (full: the base)."""
    import peft

    model = load_base(config, device)
    if config.method == "full":
        return model
    if config.method == "qlora":
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        if device == "cpu":
            disable_bnb_cpu_repacking(model)
    targets = config.target_modules or default_targets(model, config.method)
    missing = sorted(set(targets) - linear_names(model))
    if missing and config.method != "prompt-tuning":
        raise ConfigError(f"target_modules names layer(s) this model does not have: "
                          f"{', '.join(missing)}.",
                          f"Its linear layers: {', '.join(sorted(linear_names(model)))}.")
    if config.method in ("lora", "qlora"):
        peft_config = peft.LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                      lora_dropout=config.lora_dropout,
                                      target_modules=list(targets), task_type="CAUSAL_LM")
    elif config.method == "ia3":
        feedforward = [t for t in targets if t in ("down_proj", "fc2", "c_proj")]
        peft_config = peft.IA3Config(target_modules=list(targets),
                                     feedforward_modules=feedforward, task_type="CAUSAL_LM")
    else:
        peft_config = peft.PromptTuningConfig(num_virtual_tokens=config.num_virtual_tokens,
                                              task_type="CAUSAL_LM")
    return peft.get_peft_model(model, peft_config)


# -- training loop pieces ----------------------------------------------------------


class Collator:
    """Left-pads a batch (dynamic padding), with position ids; counts the tokens it saw.

    Left padding puts every completion at the end of its row, so the LM head only
    needs the last few positions (``logits_to_keep``).
    """

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id
        self.tokens_seen = 0

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        width = max(len(e["input_ids"]) for e in batch)
        ids, labels, mask = [], [], []
        for e in batch:
            pad = width - len(e["input_ids"])
            ids.append([self.pad_id] * pad + e["input_ids"])
            labels.append([-100] * pad + e["labels"])
            mask.append([0] * pad + [1] * len(e["input_ids"]))
            self.tokens_seen += len(e["input_ids"])
        mask_t = torch.tensor(mask)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": mask_t,
                "position_ids": (mask_t.cumsum(-1) - 1).clamp(min=0)}


def completion_loss(model, inputs: dict, num_items: int | None = None,
                    prompt_tuning: bool = False):
    """Cross-entropy on the completion tokens only, with the LM head on their positions."""
    import torch

    labels = inputs["labels"]
    width = labels.shape[1]
    has_label = (labels != -100).any(0).nonzero()
    keep = width - int(has_label[0]) + 1 if len(has_label) else 1
    kwargs = {k: v for k, v in inputs.items() if k != "labels"}
    if prompt_tuning:  # PEFT prepends virtual tokens and ignores position ids
        kwargs.pop("position_ids", None)
    logits = model(**kwargs, logits_to_keep=keep).logits
    # the logit at position t predicts the token at t + 1
    targets = labels[:, width - keep + 1:]
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
        ignore_index=-100, reduction="sum")
    count = num_items if num_items else (targets != -100).sum().clamp(min=1)
    return loss / count


def _trainer_class():
    from transformers import Trainer

    class CompletionTrainer(Trainer):
        """Trainer whose loss is ``completion_loss`` (head on completion positions only)."""

        prompt_tuning = False

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if num_items_in_batch is not None and hasattr(num_items_in_batch, "to"):
                num_items_in_batch = num_items_in_batch.to(inputs["labels"].device)
            loss = completion_loss(model, inputs, num_items_in_batch, self.prompt_tuning)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                # num_items_in_batch counts every process's tokens and DDP averages the
                # gradients over processes: scale back up, as Trainer.compute_loss does
                loss = loss * self.accelerator.num_processes
            return (loss, {"loss": loss}) if return_outputs else loss

    return CompletionTrainer


class EventLog:
    """Appends JSON lines to ``events.jsonl`` (and prints a progress line)."""

    def __init__(self, run_dir: Path, echo: bool = True, enabled: bool = True) -> None:
        self.path = run_dir / "events.jsonl"
        self.echo = echo
        self.enabled = enabled

    def write(self, kind: str, **fields: Any) -> None:
        if not self.enabled:
            return
        event = {"type": kind, "time": round(time.time(), 3), **fields}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")
        if self.echo:
            print(format_event(event), flush=True)


def format_event(event: dict) -> str:
    """One human line for an event, as the CLI prints it."""
    kind = event.get("type")
    if kind == "step":
        parts = [f"step {event['step']}/{event['total_steps']}"]
        for key, fmt in (("loss", "loss {:.4f}"), ("learning_rate", "lr {:.2e}"),
                         ("tokens_per_s", "{:.0f} tok/s"), ("eta_s", "eta {:.0f} s")):
            if event.get(key) is not None:
                parts.append(fmt.format(event[key]))
        parts.append(f"rss {event.get('rss_bytes', 0) / 2**30:.2f} GB")
        return " · ".join(parts)
    if kind == "eval":
        return f"step {event['step']}: eval_loss {event['eval_loss']:.4f}"
    rest = {k: v for k, v in event.items() if k not in ("type", "time")}
    return f"[{kind}] {json.dumps(rest)}"


def rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _progress_callback(log: EventLog, run_dir: Path, collator: Collator):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """Writes a step event per log, an eval event per evaluation; stops on a cancel file."""

        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.first_step: int | None = None
            self.cancelled = False

        def on_train_begin(self, args, state, control, **kwargs):
            self.started, self.first_step = time.perf_counter(), state.global_step

        def on_step_end(self, args, state, control, **kwargs):
            if agreed(args, (run_dir / "cancel").exists()):
                self.cancelled = True
                control.should_training_stop = True
                control.should_save = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "eval_loss" in logs:
                log.write("eval", step=state.global_step, eval_loss=logs["eval_loss"])
                return
            if "loss" not in logs:
                return
            elapsed = time.perf_counter() - self.started
            # every process sees batches like rank 0's: its count times the processes
            tokens = collator.tokens_seen * world_size()
            done = max(state.global_step - (self.first_step or 0), 1)
            log.write("step", step=state.global_step, total_steps=state.max_steps,
                      epoch=round(state.epoch or 0.0, 4), loss=logs.get("loss"),
                      learning_rate=logs.get("learning_rate"),
                      tokens_per_s=round(tokens / elapsed, 1) if elapsed else None,
                      rss_bytes=rss_bytes(), elapsed_s=round(elapsed, 2),
                      eta_s=round(elapsed / done * (state.max_steps - state.global_step), 1))

    return Progress()


# -- the run ------------------------------------------------------------------------


def set_threads(threads: int) -> int:
    """Training threads: ``threads`` or 1, leaving the other core to the app's inference."""
    import torch

    n = threads or 1
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process
        pass
    return n


def is_main_process() -> bool:
    """Rank 0 (or no distributed launch): the one process that writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    """How many processes train together (``accelerate launch``/torchrun set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def agreed(args, flag: bool) -> bool:
    """Rank 0's ``flag``, the same on every process: a cancel seen by one rank a step before
    the others would leave them waiting in the gradient all-reduce for ever."""
    import torch
    import torch.distributed as dist

    if world_size() == 1 or not dist.is_initialized():
        return flag
    value = torch.tensor([int(flag)], device=args.device)
    dist.broadcast(value, src=0)
    return bool(value.item())


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete ``checkpoints/checkpoint-N`` folder of a run, if any.

    A kill while a checkpoint is written leaves a folder without ``trainer_state.json``
    (transformers writes it last): resuming from that one would fail every time, so the
    newest folder that has it is the one to resume from.
    """
    found = sorted((run_dir / "checkpoints").glob("checkpoint-*"),
                   key=lambda p: int(p.name.rsplit("-", 1)[-1]) if p.name.rsplit("-", 1)[-1].isdigit() else -1)
    complete = [p for p in found if (p / "trainer_state.json").is_file()]
    return complete[-1] if complete else None


def _training_args(config: TrainConfig, run_dir: Path, device: str):
    from transformers import TrainingArguments

    bf16 = config.method != "qlora" or device == "cuda"  # QLoRA on CPU computes in fp32
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"), num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr, lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_ratio, seed=config.seed, logging_steps=1,
        eval_strategy="steps" if config.eval_steps else "no", eval_steps=config.eval_steps or None,
        save_strategy="steps" if config.save_steps else "no", save_steps=config.save_steps or 500,
        save_total_limit=2, bf16=bf16, use_cpu=device == "cpu", report_to="none",
        disable_tqdm=True, remove_unused_columns=False, prediction_loss_only=True,
        label_names=["labels"], dataloader_num_workers=0, optim="adamw_torch")


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False,
          echo: bool = True) -> dict:
    """Fine-tune as ``config`` says; write the outputs into ``run_dir``; return the metrics.

    Raises LabError for anything a person can fix. A ``cancel`` file in ``run_dir``
    stops training after the current step; the adapter is still saved and the
    returned metrics say ``cancelled: true``.
    """
    import torch
    from transformers import PrinterCallback

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    main = is_main_process()
    log = EventLog(run_dir, echo=echo and main, enabled=main)
    set_threads(config.threads)
    device = resolve_device(config)
    started = time.perf_counter()
    check_max_length(config)
    tokenizer = load_tokenizer(config)
    data = prepare_data(config, tokenizer)
    for warning in data.warnings:
        log.write("warning", message=warning)
    checkpoint = last_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise LabError("There is no checkpoint to resume from in this run.",
                       "Start the run again, with save_steps above 0 to keep checkpoints.")
    torch.manual_seed(config.seed)
    model = build_model(config, device)
    log.write("start", examples=len(data.train), validation=len(data.validation),
              train_tokens=data.train_tokens, cut=data.cut, device=device,
              trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
              resumed_from=checkpoint.name if checkpoint else None,
              load_s=round(time.perf_counter() - started, 2))
    collator = Collator(tokenizer.pad_token_id)
    progress = _progress_callback(log, run_dir, collator)
    trainer = _trainer_class()(model=model, args=_training_args(config, run_dir, device),
                               train_dataset=data.train,
                               eval_dataset=data.validation or None,
                               data_collator=collator, callbacks=[progress])
    trainer.prompt_tuning = config.method == "prompt-tuning"
    trainer.remove_callback(PrinterCallback)  # our events print their own lines
    train_started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    train_seconds = time.perf_counter() - train_started
    metrics = {"cancelled": progress.cancelled, "steps": trainer.state.global_step,
               "train_loss": result.training_loss, "train_seconds": round(train_seconds, 2),
               "tokens_seen": collator.tokens_seen, "examples_cut": data.cut,
               "peak_rss_bytes": peak_rss_bytes(), "method": config.method}
    if not progress.cancelled and data.validation:
        metrics["eval_loss"] = trainer.evaluate()["eval_loss"]
    state_dict = gathered_state_dict(trainer)  # collective: every process takes part
    if main:
        out = save_outputs(trainer.model, tokenizer, config, data.prompt_format, run_dir,
                           state_dict)
        metrics["output_dir"] = out.name
    if not progress.cancelled and data.prompt_format.labels and data.eval_rows:
        # every process scores: under FSDP or ZeRO-3 a forward pass gathers the weights from
        # all of them, so a rank-0-only pass would wait for the others for ever
        metrics["accuracy"] = label_accuracy(trainer.model, tokenizer, data.eval_rows,
                                             data.prompt_format.labels)
    if main:
        if config.merge_after and not progress.cancelled:
            merge_adapter(config, run_dir)
        metrics["total_seconds"] = round(time.perf_counter() - started, 2)
        _write_json(run_dir / "metrics.json", metrics)
        log.write("end", **{k: v for k, v in metrics.items() if k != "method"})
    return metrics


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def gathered_state_dict(trainer) -> dict | None:
    """The whole model's weights where FSDP or DeepSpeed shard them over the processes
    (a collective call: every rank makes it); None where each process holds them whole."""
    from accelerate.utils import DistributedType

    kind = trainer.accelerator.distributed_type
    if kind == DistributedType.FSDP:
        return trainer.accelerator.get_state_dict(trainer.model)
    if kind == DistributedType.DEEPSPEED:
        return trainer.accelerator.get_state_dict(trainer.deepspeed)
    return None


def save_outputs(model, tokenizer, config: TrainConfig, fmt: PromptFormat, run_dir: Path,
                 state_dict: dict | None = None) -> Path:
    """adapter/ (PEFT) or model/ (full), and template.json; returns the model folder."""
    if config.method == "full":
        out = run_dir / "model"
        model.save_pretrained(out, safe_serialization=True, state_dict=state_dict)
        tokenizer.save_pretrained(out)
    else:
        out = run_dir / "adapter"
        model.peft_config["default"].base_model_name_or_path = config.model
        model.save_pretrained(out, safe_serialization=True, state_dict=state_dict)
    _write_json(run_dir / "template.json", fmt.to_dict())
    return out


def merge_adapter(config: TrainConfig, run_dir: Path) -> Path:
    """merged/: the adapter folded into a fresh fp32 copy of the base (QLoRA too)."""
    from peft import PeftModel

    base = load_base(replace(config, method="lora"), "cpu")
    merged = PeftModel.from_pretrained(base, run_dir / "adapter").merge_and_unload()
    merged.save_pretrained(run_dir / "merged", safe_serialization=True)
    load_tokenizer(config).save_pretrained(run_dir / "merged")
    return run_dir / "merged"


def _is_prompt_learning(model) -> bool:
    config = getattr(model, "active_peft_config", None)
    return bool(config is not None and config.is_prompt_learning)


def label_accuracy(model, tokenizer, rows: list[tuple[str, str]], labels: tuple[str, ...],
                   batch_size: int = 16) -> float:
    """Share of ``rows`` whose answer is the label of highest log-likelihood after the prompt."""
    import torch

    cands = [tokenizer(" " + label, add_special_tokens=False)["input_ids"] for label in labels]
    seqs = [tokenizer(p)["input_ids"] + c for p, _ in rows for c in cands]
    keep = max(map(len, cands)) + 1
    scores: list[float] = []
    model.eval()
    device = next(model.parameters()).device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16)
    with torch.inference_mode(), autocast:
        for start in range(0, len(seqs), batch_size):
            chunk = seqs[start:start + batch_size]
            batch = Collator(tokenizer.pad_token_id)(
                [{"input_ids": s, "labels": s} for s in chunk])
            batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
            if _is_prompt_learning(model):  # virtual tokens come first; PEFT drops position ids
                batch.pop("position_ids")
            logp = torch.log_softmax(model(**batch, logits_to_keep=keep).logits.float(), -1)
            for i, seq in enumerate(chunk):
                cand = cands[(start + i) % len(cands)]
                scores.append(sum(logp[i, keep - len(cand) - 1 + j, tok].item()
                                  for j, tok in enumerate(cand)))
    right = 0
    for i, (_, answer) in enumerate(rows):
        row = scores[i * len(cands):(i + 1) * len(cands)]
        right += labels[row.index(max(row))].strip().lower() == answer.strip().lower()
    return round(right / len(rows), 4)


# -- estimate ------------------------------------------------------------------------

# Measured constants (Gemma 3 270M, live-demo preset, 1 training thread, 2-core CPU shared
# with other work; bf16 autocast over fp32 weights): 1.5-2.6 s/step at batch 8, ~33 tokens.
# Time per step = tokens in the step x non-embedding parameters x SECONDS_PER_TOKEN_PARAM
# + completion positions x head (embedding) parameters x the same (the LM head runs on
# completion positions only). Ratios from bench/training.py: full 2.8x, QLoRA 2.1x LoRA.
SECONDS_PER_TOKEN_PARAM = {"lora": 4.0e-11, "ia3": 3.8e-11, "prompt-tuning": 4.5e-11,
                           "full": 1.1e-10, "qlora": 8.5e-11}
STARTUP_SECONDS = 12.0       # imports, model and tokenizer load
RUNTIME_BYTES = 1000 * 2**20  # torch, transformers, tokenizer, allocator slack
ACTIVATION_BYTES_PER_TOKEN_PARAM = 1 / 40  # per token of a micro-batch, x body parameters
# bytes per parameter beyond the fp32 weights: full = grads + two Adam moments
EXTRA_BYTES_PER_PARAM = {"lora": 0.0, "ia3": 0.0, "prompt-tuning": 0.0, "full": 12.0,
                         "qlora": 0.0}


def _param_counts(location: str) -> tuple[int, int]:
    """(all parameters, embedding parameters) from the safetensors headers, no loading."""
    from safetensors import safe_open

    total = embed = 0
    for file in Path(location).glob("*.safetensors"):
        with safe_open(str(file), framework="np") as fh:
            for key in fh.keys():
                numel = math.prod(fh.get_slice(key).get_shape())
                total += numel
                embed += numel if "embed_tokens" in key or "wte" in key else 0
    return total, embed


def estimate(config: TrainConfig) -> tuple[float, int]:
    """(seconds, peak memory in bytes) the run should take, before it starts.

    Reads the data (so data errors show here, before a start) and the model's
    parameter count; see the constants above for the model of time and memory.
    """
    check_max_length(config)
    tokenizer = load_tokenizer(config)
    data = prepare_data(config, tokenizer)
    total, embed = _param_counts(model_location(config))
    body = total - embed
    lengths = [len(e["input_ids"]) for e in data.train]
    completion = sum(sum(1 for x in e["labels"] if x != -100) for e in data.train) / len(lengths)
    per_step = config.batch_size * config.grad_accum
    steps = config.max_steps or math.ceil(len(lengths) / per_step * config.epochs)
    padded = (sum(lengths) / len(lengths)) * 1.25  # dynamic padding: ~25% over the mean
    rate = SECONDS_PER_TOKEN_PARAM[config.method] / max(1, config.threads) ** 0.7
    step_s = per_step * (padded * body + (completion + 1) * embed) * rate
    n_eval = len(data.validation)
    eval_s = n_eval * (padded * body + embed) * rate / 3 * (1 + len(data.prompt_format.labels))
    seconds = STARTUP_SECONDS + steps * step_s + eval_s
    activations = config.batch_size * padded * body * ACTIVATION_BYTES_PER_TOKEN_PARAM
    memory = RUNTIME_BYTES + total * (4 + EXTRA_BYTES_PER_PARAM[config.method]) + activations
    return round(seconds, 1), int(memory)
