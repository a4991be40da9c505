"""PEFT adapters on both engines: checking them, and exporting LoRA to GGUF for llama.cpp.

A LoRA adapter saved by PEFT (``adapter_config.json`` + ``adapter_model.safetensors``)
runs on the transformers engine as it is. For the llama.cpp engine it is written
once as a GGUF LoRA file (the format of llama.cpp's ``convert_lora_to_gguf.py``:
``blk.N.attn_q.weight.lora_a`` / ``.lora_b`` tensors, ``adapter.lora.alpha``),
which llama.cpp applies on top of the quantized base. Other PEFT methods
(IA3, prompt tuning, ...) have no llama.cpp form: those variants run on
transformers, and the engine choice says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from core.errors import ModelError

LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$")
# modules llama.cpp can apply a LoRA to in the architectures the lab ships
EXPORTABLE = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def read_adapter_config(folder: str | Path) -> dict:
    """The adapter's config, with a clear error for folders that hold no PEFT adapter."""
    folder = Path(folder).expanduser()
    config_path = folder / "adapter_config.json"
    if not config_path.exists():
        raise ModelError(f"{folder} holds no PEFT adapter: adapter_config.json is missing.",
                         "Pick the folder that the training run saved its adapter in.")
    if not (folder / "adapter_model.safetensors").exists():
        raise ModelError(f"{folder} has no adapter_model.safetensors.",
                         "The lab loads adapters in safetensors format only.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"{config_path} is not valid JSON: {exc}",
                         "Restore the file from the training run.") from None
    if not isinstance(config, dict):
        raise ModelError(f"{config_path} holds a {type(config).__name__}, not the mapping of "
                         "settings a PEFT adapter config is.",
                         "Restore the file from the training run.")
    return config


def llama_cpp_support(folder: str | Path) -> tuple[bool, str]:
    """Whether the adapter can run on llama.cpp, and if not, why (in the user's words)."""
    config = read_adapter_config(folder)
    kind = config.get("peft_type", "?")
    if kind != "LORA":
        return False, f"{kind} adapters have no llama.cpp form; this variant runs on transformers."
    if config.get("use_dora") or config.get("use_rslora"):
        return False, "DoRA and rsLoRA adapters are not exported; this variant runs on transformers."
    targets = set(config.get("target_modules") or [])
    if not targets <= EXPORTABLE:
        return False, (f"LoRA on {', '.join(sorted(targets - EXPORTABLE))} is not exported; "
                       "this variant runs on transformers.")
    return True, "LoRA exported to GGUF for llama.cpp."


def _permute(weights: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """llama.cpp's q/k row order for llama-architecture models (convert_hf_to_gguf.py)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def export_lora_gguf(adapter: str | Path, base_gguf: str | Path, out: str | Path) -> Path:
    """Write the LoRA adapter in ``adapter`` as a GGUF LoRA for the base model ``base_gguf``."""
    import gguf
    from safetensors.numpy import load_file

    ok, why = llama_cpp_support(adapter)
    if not ok:
        raise ModelError(why)
    config = read_adapter_config(adapter)
    reader = gguf.GGUFReader(str(base_gguf))
    arch = _field(reader, "general.architecture")
    n_blocks = int(_field(reader, f"{arch}.block_count"))
    n_head = int(_field(reader, f"{arch}.attention.head_count"))
    n_head_kv = int(_field(reader, f"{arch}.attention.head_count_kv"))
    arch_id = {name: key for key, name in gguf.MODEL_ARCH_NAMES.items()}[arch]
    names = gguf.get_tensor_name_map(arch_id, n_blocks)
    base_tensors = {t.name for t in reader.tensors}

    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(config["lora_alpha"]))
    tensors = load_file(str(Path(adapter) / "adapter_model.safetensors"))
    for key in sorted(tensors):
        match = LORA_KEY.match(key)
        if not match:
            raise ModelError(f"Unexpected tensor {key!r} in the adapter.",
                             "Export only adapters saved by PEFT's save_pretrained.")
        target = names.get_name(match["module"])
        if target is None or f"{target}.weight" not in base_tensors:
            raise ModelError(f"The adapter's {match['module']} has no counterpart in {Path(base_gguf).name}.",
                             "Use the adapter with the base model it was trained on.")
        data = tensors[key].astype(np.float32)
        if arch == "llama" and match["ab"] == "B" and target.endswith(("attn_q", "attn_k")):
            data = _permute(data, n_head, n_head if target.endswith("attn_q") else n_head_kv)
        writer.add_tensor(f"{target}.weight.lora_{match['ab'].lower()}", np.ascontiguousarray(data))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(out)


def lora_gguf_for(adapter: str | Path, base_gguf: str | Path) -> Path:
    """The GGUF form of ``adapter``, written beside it once and refreshed when it changes."""
    adapter = Path(adapter).expanduser()
    out = adapter / f"lora-for-{Path(base_gguf).stem}.gguf"
    source = adapter / "adapter_model.safetensors"
    if not out.exists() or out.stat().st_mtime < source.stat().st_mtime:
        partial = out.with_suffix(".partial")
        export_lora_gguf(adapter, base_gguf, partial)
        partial.rename(out)
    return out


def _field(reader, key: str):
    field = reader.fields[key]
    value = field.parts[field.data[0]]
    return bytes(value).decode() if field.types[0] == 8 else value[0]  # 8: GGUF string
