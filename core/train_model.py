"""The model a run trains: the base loaded for training, PEFT wrapped around it per method,
and the estimate of time and memory made before a start.

QLoRA loads the base in 4-bit NF4 through bitsandbytes, on CUDA or on the CPU (with
the repacking fix below); everything else loads fp32 weights and trains in float32 or
under bf16/fp16 autocast, as ``training_precision`` decides (bf16 weights train 4x
slower on these CPUs: ../shared/MEASURED.md).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from core.errors import ConfigError, LabError
from core.train_config import TrainConfig
from core.training_data import prepare_data

LLAMA_ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


def resolve_device(config: TrainConfig) -> str:
    import torch

    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device is cuda but PyTorch sees no CUDA GPU here.",
                          "Use device auto or cpu.")
    return config.device


def training_precision(config: TrainConfig, device: str) -> tuple[str, str]:
    """(format, why) of the run's arithmetic on ``device``: the config's ``precision``, with
    ``auto`` the format measured fastest for a training step here (``core.precision``)."""
    from core.precision import choose_format

    if config.method == "qlora" and device == "cpu":
        if config.precision not in ("auto", "float32"):
            raise ConfigError(f"QLoRA on the CPU trains in float32, not {config.precision}: "
                              "bitsandbytes' CPU layers compute in float32.",
                              "Set precision to auto or float32, or train LoRA.")
        return "float32", "float32: QLoRA's 4-bit layers compute in float32 on the CPU"
    if config.precision == "float16" and device == "cpu":
        raise ConfigError("float16 training needs a CUDA GPU.",
                          "Use precision auto, float32 or bfloat16 on the CPU.")
    if config.precision == "bfloat16" and device == "cuda":
        import torch

        if not torch.cuda.is_bf16_supported():
            raise ConfigError("This GPU does not support bfloat16.",
                              "Use precision auto (float16 here) or float32.")
    return choose_format(config.precision, "train", device)


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


def _model_settings(config: TrainConfig) -> dict:
    """The base model's config.json (a multimodal one's language model part); {} if unread."""
    path = Path(model_location(config)) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}  # not a model config: loading the model names that problem
    inner = data.get("text_config")  # multimodal configs nest the language model's
    return inner if isinstance(inner, dict) else data


def model_window(config: TrainConfig) -> int | None:
    """The base model's context window (max_position_embeddings), where its config says."""
    data = _model_settings(config)
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


def load_base(config: TrainConfig, device: str, precision: str = "float32"):
    """The base model in fp32 (QLoRA: NF4 weights computing in ``precision`` on CUDA);
    training casts to bf16/fp16 by autocast where the run's precision says so."""
    import torch
    from transformers import AutoModelForCausalLM

    options: dict[str, Any] = {"dtype": torch.float32, "use_safetensors": True}
    if config.method == "qlora":
        options.update(_qlora_options(device, precision))
    try:
        return AutoModelForCausalLM.from_pretrained(model_location(config), **options)
    except (OSError, ValueError, RuntimeError) as exc:
        raise LabError(f"Could not load the base model {config.model} for training: "
                       f"{str(exc).splitlines()[0]}",
                       "Check the model source (a folder with config.json and safetensors, "
                       "or an embedded model after `python -m core prepare`).") from exc


def _qlora_options(device: str, precision: str = "float32") -> dict:
    import torch
    from transformers import BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise LabError("QLoRA needs bitsandbytes, which is not installed.",
                       "pip install bitsandbytes, or choose LoRA.") from exc
    compute = getattr(torch, precision) if device == "cuda" else torch.float32  # MEASURED.md
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


def layer_count(model) -> int | None:
    """How many transformer layers (blocks) the model has, where its config says."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") \
        else model.config
    return getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)


def top_layers(model, count: int | None) -> list[int] | None:
    """The indices of the top ``count`` layers (None: every layer, PEFT's default). Adapting
    only upper layers lets the backward pass stop at the lowest adapted one: nothing below
    it needs a gradient."""
    if count is None:
        return None
    total = layer_count(model)
    if total is None:
        raise ConfigError("lora_layers needs the model's layer count, which its config does "
                          "not say.", "Leave lora_layers empty (null): adapt every layer.")
    if count > total:
        raise ConfigError(f"lora_layers is {count}, but the model has {total} layers.",
                          f"Set lora_layers to {total} or less, or null for all of them.")
    return list(range(total - count, total))


def build_model(config: TrainConfig, device: str, precision: str = "float32"):
    """The model to train: the base wrapped by PEFT for the chosen method (full: the base)."""
    import peft

    model = load_base(config, device, precision)
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
    layers = top_layers(model, config.lora_layers)
    if config.method in ("lora", "qlora"):
        peft_config = peft.LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                      lora_dropout=config.lora_dropout,
                                      target_modules=list(targets), task_type="CAUSAL_LM",
                                      layers_to_transform=layers)
    elif config.method == "ia3":
        feedforward = [t for t in targets if t in ("down_proj", "fc2", "c_proj")]
        peft_config = peft.IA3Config(target_modules=list(targets),
                                     feedforward_modules=feedforward, task_type="CAUSAL_LM")
    else:
        peft_config = peft.PromptTuningConfig(num_virtual_tokens=config.num_virtual_tokens,
                                              task_type="CAUSAL_LM")
    return peft.get_peft_model(model, peft_config)



# -- estimate ------------------------------------------------------------------------

# The time of a step comes from this processor's measured speed in the run's format
# (core.precision: token-parameters per second of a LoRA step through frozen layers, one
# thread), scaled to the model: tokens in the step x non-embedding parameters + completion
# positions x head (embedding) parameters (the LM head runs on completion positions only),
# times what a real step costs beyond the bare products (attention, norms, the optimizer,
# Python), calibrated against the live-demo run on Gemma 3 270M in each format (float32:
# 1.40 at one thread, 1.54 at two with bf16 emulated; bfloat16: 1.05 at one thread).
# Methods relative to LoRA as bench/training.py measured them: full 2.8x, QLoRA 2.1x.
STEP_OVERHEAD = {"float32": 1.45, "bfloat16": 1.05, "float16": 1.05}
METHOD_COST = {"lora": 1.0, "ia3": 0.95, "prompt-tuning": 1.1, "full": 2.8, "qlora": 2.1}
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


def token_params_per_s(precision: str, device: str, threads: int) -> float | None:
    """This machine's measured training speed in ``precision`` at ``threads`` threads, as
    token-parameters per second; None on a GPU (not measured there)."""
    from core.precision import cpu_measurement
    from core.threads import thread_speedup

    if device != "cpu":
        return None
    rate = cpu_measurement().token_params_per_s.get(precision)
    return rate * thread_speedup(threads) if rate else None


def _step_work(config: TrainConfig, data) -> tuple[float, float, float, int]:
    """(mean padded tokens per example, mean completion tokens, body params as the step's work
    counts them, head params)."""
    total, embed = _param_counts(model_location(config))
    lengths = [len(e["input_ids"]) for e in data.train] or [1]
    completion = sum(sum(1 for x in e["labels"] if x != -100) for e in data.train) / len(lengths)
    # dynamic padding: 25% over the mean in random batches (the calibration's figure; 14% on
    # review-sentiment at batch 8), under 1% in batches grouped by length (3% allowed)
    padded = (sum(lengths) / len(lengths)) * (1.03 if config.group_by_length else 1.25)
    return padded, completion, (total - embed) * backward_share(config), embed


def backward_share(config: TrainConfig) -> float:
    """The share of a step's body work left when only the top ``lora_layers`` layers are
    adapted: the forward runs through every layer, the backward (about as much work) only
    down to the lowest adapted one."""
    if config.lora_layers is None:
        return 1.0
    total = _model_settings(config).get("num_hidden_layers") or config.lora_layers
    return (1.0 + min(config.lora_layers, total) / total) / 2.0


CALIBRATION_RUNS = 5  # the newest finished runs of a kind that calibrate the estimate
CALIBRATION_MIN_STEPS = 10  # fewer steps are mostly warm-up


def _run_ratio(folder: Path, config: TrainConfig, precision: str) -> float | None:
    """A finished run's real seconds a step over the uncalibrated estimate it started with;
    None unless it trained ``config``'s model and method in ``precision`` on the CPU, whole."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        settings = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        with (folder / "events.jsonl").open(encoding="utf-8") as fh:
            start = next((e for e in map(json.loads, fh) if e.get("type") == "start"), {})
    except (OSError, ValueError, AttributeError):
        return None
    same = (settings.get("model") == config.model and settings.get("method") == config.method
            and metrics.get("precision") == precision and start.get("device") == "cpu")
    raw = start.get("raw_step_s", start.get("estimated_step_s"))
    steps, seconds = metrics.get("steps") or 0, metrics.get("train_seconds")
    if not same or metrics.get("cancelled") or start.get("resumed_from") or not raw \
            or steps < CALIBRATION_MIN_STEPS or not seconds:
        return None
    return seconds / steps / raw


def measured_ratio(config: TrainConfig, precision: str) -> float | None:
    """How this machine really trains against the estimate: real seconds a step over the
    estimated ones, for the lab's newest finished CPU runs of the same model, method and number
    format, the lowest of the newest five (the machine while nothing else kept it busy: a small
    benchmark timed on a busy machine, saved once, would misjudge every later estimate). None
    when no such run is there."""
    from core.paths import data_dir

    try:
        folders = sorted((data_dir() / "runs").iterdir(), key=lambda f: f.stat().st_mtime,
                         reverse=True)
    except OSError:
        return None
    ratios = []
    for folder in folders:
        ratio = _run_ratio(folder, config, precision)
        if ratio is not None:
            ratios.append(ratio)
        if len(ratios) == CALIBRATION_RUNS:
            break
    return min(ratios) if ratios else None


def step_seconds(config: TrainConfig, data, precision: str, device: str,
                 threads: int, calibrated: bool = True) -> float | None:
    """Seconds one optimizer step should take here, from the measured speed (None on a GPU),
    scaled by how the lab's recent runs of the same kind really trained (``measured_ratio``)
    unless ``calibrated`` is False."""
    fmt = "float32" if config.method == "qlora" and device == "cpu" else precision
    rate = token_params_per_s(fmt, device, max(1, threads))
    if rate is None:
        return None
    padded, completion, body, embed = _step_work(config, data)
    per_step = config.batch_size * config.grad_accum
    work = per_step * (padded * body + completion * embed)  # the head: answer positions
    seconds = work / rate * STEP_OVERHEAD[fmt] * METHOD_COST[config.method]
    ratio = measured_ratio(config, fmt) if calibrated else None
    return float(f"{seconds * (ratio or 1.0):.3g}")


def estimate(config: TrainConfig) -> tuple[float | None, int]:
    """(seconds, peak memory in bytes) the run should take, before it starts; seconds is None
    on a GPU, whose speed the lab does not measure.

    Reads the data (so data errors show here, before a start), the model's parameter
    count and this processor's measured speed in the run's number format. With threads
    auto, it counts every core: the run uses them while nothing else keeps them busy.
    """
    check_max_length(config)
    tokenizer = load_tokenizer(config)
    data = prepare_data(config, tokenizer)
    device = resolve_device(config)
    precision = training_precision(config, device)[0]
    threads = config.threads or os.cpu_count() or 1
    step_s = step_seconds(config, data, precision, device, threads)
    padded, _, body, embed = _step_work(config, data)
    activations = config.batch_size * padded * body * ACTIVATION_BYTES_PER_TOKEN_PARAM
    memory = RUNTIME_BYTES + (body + embed) * (4 + EXTRA_BYTES_PER_PARAM[config.method]) \
        + activations
    if step_s is None:
        return None, int(memory)
    per_step = config.batch_size * config.grad_accum
    steps = config.max_steps or math.ceil(len(data.train) / per_step * config.epochs)
    # scoring the validation rows: one forward per label, about a third of a training step's
    # cost per token (no backward)
    per_example = step_s / per_step / 3 if per_step else 0.0
    eval_s = len(data.validation) * per_example * (1 + len(data.prompt_format.labels))
    seconds = STARTUP_SECONDS + steps * step_s + eval_s
    return round(seconds, 1), int(memory)
