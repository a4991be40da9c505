"""Loading a causal language model from a ``ModelSpec``.

Sources: an embedded model (converted once to safetensors, see
``core.embedded``), a local folder, or a Hugging Face Hub id. Only safetensors
weights are read, and remote code runs only when the spec asks for it.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.config import ModelSpec
from core.embedded import embedded_model, ensure_converted
from core.errors import ModelError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class ModelInfo:
    """What the sidebar and every answer's figures say about a loaded model."""

    source: str
    title: str
    path: str
    device: str
    dtype: str
    parameters: int
    context_window: int
    has_chat_template: bool
    load_seconds: float
    weights_bytes: int
    threads: int
    adapter: str | None = None
    dtype_reason: str = ""  # why this dtype: set by the user, or measured (core.precision)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(requested: str) -> str:
    """Map ``auto`` to CUDA where it is there, else CPU; check explicit requests."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("CUDA was requested but no CUDA GPU is visible to PyTorch.",
                         "Choose device 'auto' or 'cpu', or install a CUDA build of torch.")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise ModelError("MPS was requested but is not available on this machine.",
                         "Choose device 'auto' or 'cpu'.")
    return requested


def resolve_dtype(requested: str, device: str, work: str = "generate") -> tuple[str, str]:
    """(dtype, why) of the weights for ``work`` (generate, prefill or decode) on ``device``.

    ``auto``: on the CPU, the format measured fastest on this processor for that work
    (``core.precision``: bf16 decodes ~2x faster than fp32 on AVX2 and AVX512-BF16
    processors alike, but processes prompts ~5x slower where bf16 is emulated); on CUDA,
    bfloat16 (float16 where unsupported). Training loads its own fp32 copy.
    """
    from core.precision import choose_format

    return choose_format(requested, work, device)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's CPU thread count: the argument if given and positive, else the
    measured default (``core.threads``); return the count."""
    import torch

    from core.threads import default_threads

    threads = threads if threads and threads > 0 else default_threads()
    torch.set_num_threads(threads)
    return threads


def resolve_source(spec: ModelSpec) -> tuple[str, str]:
    """Return (path or Hub id to load from, human title). Checks folders before loading."""
    if spec.is_embedded:
        model = embedded_model(spec.embedded_name)
        return str(ensure_converted(model.name)), model.title
    path = Path(spec.source).expanduser()
    looks_like_path = spec.source.startswith((".", "/", "~")) or path.exists() or "\\" in spec.source
    if looks_like_path:
        return str(check_model_folder(path)), path.name
    if not HUB_ID.match(spec.source):
        raise ModelError(f"{spec.source!r} is neither an existing folder nor a valid Hugging Face "
                         "model id.",
                         "Give a Hub id like 'HuggingFaceTB/SmolLM2-135M', a path to a folder "
                         "with config.json and *.safetensors, or an embedded model.")
    return spec.source, spec.source


def check_model_folder(path: Path) -> Path:
    """Check that a folder holds a loadable model in safetensors format."""
    if not path.exists():
        raise ModelError(f"The folder {path} does not exist.",
                         "Check the path, or give a Hugging Face Hub id instead.")
    if not path.is_dir():
        if path.suffix.lower() == ".gguf":
            raise ModelError(f"{path} is a GGUF file, which the transformers engine does not load.",
                             "Choose the llama.cpp engine (or auto) for GGUF files.")
        raise ModelError(f"{path} is a file, not a model folder.",
                         "Give the folder that holds config.json and the *.safetensors weights.")
    if not (path / "config.json").exists():
        raise ModelError(f"The folder {path} holds no model: config.json is missing.",
                         "Point at the folder that `save_pretrained` wrote.")
    if not any(path.glob("*.safetensors")):
        if any(path.glob("*.bin")) or any(path.glob("*.pt")):
            raise ModelError(f"The folder {path} has only pickle weights (*.bin/*.pt); the lab "
                             "loads safetensors only, since pickles can run code when read.",
                             "Convert them once with `model.save_pretrained(folder, "
                             "safe_serialization=True)` in a trusted environment.")
        raise ModelError(f"The folder {path} has a config.json but no *.safetensors weights.",
                         "Copy the model's safetensors files into the folder.")
    return path


def load_transformers(spec: ModelSpec, threads: int | None = None, work: str = "generate"):
    """Load model and tokenizer for ``spec``; return (model, tokenizer, ModelInfo). ``work``
    says what the model will mostly do, for a dtype of ``auto`` (see ``resolve_dtype``)."""
    import torch

    started = time.perf_counter()
    location, title = resolve_source(spec)
    device = resolve_device(spec.device)
    dtype, dtype_reason = resolve_dtype(spec.dtype, device, work)
    n_threads = configure_threads(threads or spec.threads)
    options = {"revision": spec.revision, "trust_remote_code": spec.trust_remote_code,
               "dtype": getattr(torch, dtype)}
    from safetensors import SafetensorError

    try:
        if Path(location).is_dir():
            tokenizer, model = _from_pretrained(location, **options)
        else:
            tokenizer, model = _from_hub(spec, location, options)
    except ModelError:
        raise
    except SafetensorError as exc:  # a weights file cut short, or not safetensors at all
        raise _damaged_weights_error(spec, location, exc) from exc
    except RuntimeError as exc:
        if _is_size_mismatch(exc):  # load_state_dict: shapes in config.json differ from the weights
            raise _mismatch_error(spec, location, exc) from exc
        raise _explain_load_error(spec, exc) from exc
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise _explain_load_error(spec, exc) from exc
    if spec.adapter:
        model = _with_adapter(model, spec.adapter)
    model.to(device)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    info = ModelInfo(
        source=spec.source,
        title=title,
        path=location,
        device=device,
        dtype=dtype,
        parameters=sum(p.numel() for p in model.parameters()),
        context_window=context_window(model, tokenizer),
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
        load_seconds=time.perf_counter() - started,
        weights_bytes=sum(p.numel() * p.element_size() for p in model.parameters()),
        threads=n_threads,
        adapter=spec.adapter,
        dtype_reason=dtype_reason,
    )
    return model, tokenizer, info


def _with_adapter(model, adapter: str):
    """Wrap ``model`` with the PEFT adapter in ``adapter`` (kept separate, not merged)."""
    from peft import PeftModel

    from core.adapters import read_adapter_config

    config = read_adapter_config(adapter)
    try:
        return PeftModel.from_pretrained(model, adapter)
    except (ValueError, KeyError, RuntimeError) as exc:
        base = config.get("base_model_name_or_path") or "its base model"
        raise ModelError(f"The adapter in {adapter} does not fit this model: "
                         f"{str(exc).splitlines()[0]}",
                         f"Load it on the base model it was trained on ({base}).") from exc


def _from_pretrained(location: str, dtype, **options):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(location, **options)
    model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, use_safetensors=True,
                                                 **options)
    return tokenizer, model


def _from_hub(spec: ModelSpec, hub_id: str, options: dict):
    """Load from the local Hub cache first; go online only where the Hub answers.

    Without this, an unreachable Hub costs ~50 s of retries before any message.
    """
    try:
        return _from_pretrained(hub_id, local_files_only=True, **options)
    except (OSError, ValueError):
        if not hub_reachable():
            raise ModelError(
                f"Could not load {spec.source!r}: it is not in the local Hugging Face cache and "
                "the Hub cannot be reached from here"
                + (" (HF_HUB_OFFLINE=1)." if os.environ.get("HF_HUB_OFFLINE") == "1" else "."),
                "Connect to the network once to download it, copy the model into a local "
                "folder and give its path, or pick an embedded model.") from None
    return _from_pretrained(hub_id, **options)


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check that the Hugging Face endpoint answers (proxies: assume yes)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def context_window(model, tokenizer) -> int:
    """The number of tokens (prompt plus answer) the model can attend to."""
    window = getattr(model.config, "max_position_embeddings", None)
    if not window:
        window = getattr(tokenizer, "model_max_length", 2048)
    return int(min(window, 10**7))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


def _redo_fix(spec: ModelSpec, location: str, otherwise: str) -> str:
    """How to get sound files again: the embedded copy is rebuilt by ``prepare``."""
    if spec.is_embedded:
        return f"Delete the folder {location} and run `python -m core prepare` again."
    return otherwise


def _damaged_weights_error(spec: ModelSpec, location: str, exc: Exception) -> ModelError:
    return ModelError(
        f"The weights of {spec.source!r} in {location} are damaged or incomplete "
        f"({_first_line(exc)}).",
        _redo_fix(spec, location, "Copy or download the *.safetensors files again: a copy or "
                                  "download cut short leaves them incomplete."))


def _is_size_mismatch(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(mark in text for mark in ("size mismatch", "mismatched_sizes", "load_state_dict"))


def _mismatch_error(spec: ModelSpec, location: str, exc: Exception) -> ModelError:
    return ModelError(
        f"The weights of {spec.source!r} in {location} do not fit its config.json: "
        f"{_first_line(exc)}",
        _redo_fix(spec, location, "Put the config.json that belongs to these *.safetensors "
                                  "files in the folder (the shapes it names must match them)."))


def _explain_load_error(spec: ModelSpec, exc: Exception) -> ModelError:
    text = str(exc)
    if "trust_remote_code" in text:
        return ModelError(f"{spec.source} needs custom code from its repository to load.",
                          "Read that code first; if you trust it, turn on 'trust remote code'.")
    if "safetensors" in text.lower() and "not found" in text.lower() or "use_safetensors" in text:
        return ModelError(f"{spec.source} has no safetensors weights; the lab refuses pickle "
                          "weights since they can run code when read.",
                          "Pick a model published with *.safetensors files.")
    if isinstance(exc, OSError):
        return ModelError(f"Could not load {spec.source!r}: {text.splitlines()[0] if text else exc!r}",
                          "Check the id on huggingface.co (spelling; gated or private models "
                          "need `hf auth login`), or give a local folder.")
    return ModelError(f"Could not load {spec.source!r}: {text.splitlines()[0] if text else exc!r}",
                      "Check that it is a causal language model supported by transformers.")
