"""PEFT adapters: loaded on transformers, exported to GGUF LoRA for llama.cpp, same effect."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.adapters import llama_cpp_support, read_adapter_config
from core.config import GenerationParams, ModelSpec
from core.engines import engine_choice, load_engine
from core.errors import ModelError
from core.models import load_transformers

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]


def make_lora(source: str, folder, targets=TARGETS, std: float = 0.03, method: str = "lora"):
    """A LoRA (or IA3) adapter whose B matrices are small random values: it changes the model
    visibly without wrecking it, like an adapter after a short training run."""
    from peft import IA3Config, LoraConfig, get_peft_model

    model, _, _ = load_transformers(ModelSpec(source=source, engine="transformers", dtype="float32"))
    torch.manual_seed(0)
    if method == "ia3":
        config = IA3Config(target_modules=["k_proj", "v_proj", "down_proj"],
                           feedforward_modules=["down_proj"])
    else:
        config = LoraConfig(r=8, lora_alpha=16, target_modules=list(targets))
    peft = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(0, std)
    peft.save_pretrained(folder)
    return str(folder)


def test_folder_without_adapter_is_explained(tmp_path):
    with pytest.raises(ModelError, match="holds no PEFT adapter"):
        read_adapter_config(tmp_path)


def test_tiny_model_with_a_lora_adapter_answers_differently(tiny_model_dir, tmp_path):
    adapter = make_lora(str(tiny_model_dir), tmp_path / "lora", targets=["q_proj", "v_proj"], std=0.5)
    base = load_engine(ModelSpec(source=str(tiny_model_dir), dtype="float32"))
    tuned = load_engine(ModelSpec(source=str(tiny_model_dir), dtype="float32", adapter=adapter))
    labels = [" p", " n"]
    assert tuned.info.adapter == adapter
    assert base.score_candidates("Review:", labels)[0].logprob != \
        tuned.score_candidates("Review:", labels)[0].logprob
    # the base model itself was not changed by loading the adapter
    assert base.generate("The quick", GenerationParams(max_new_tokens=5)).text == \
        load_engine(ModelSpec(source=str(tiny_model_dir), dtype="float32")).generate(
            "The quick", GenerationParams(max_new_tokens=5)).text


def test_ia3_adapters_run_on_transformers_and_say_why(tiny_model_dir, tmp_path):
    adapter = make_lora(str(tiny_model_dir), tmp_path / "ia3", method="ia3")
    ok, why = llama_cpp_support(adapter)
    assert not ok and "IA3 adapters have no llama.cpp form" in why
    spec = ModelSpec(source="embedded:smollm2-135m-instruct", adapter=adapter)
    assert engine_choice(spec) == ("transformers", why)


def test_adapter_on_the_wrong_base_model_is_explained(tiny_model_dir, tmp_path):
    adapter = make_lora(str(tiny_model_dir), tmp_path / "lora", targets=["q_proj"])
    with pytest.raises(ModelError, match="does not fit this model") as info:
        load_engine(ModelSpec(source="embedded:smollm2-135m-instruct", engine="transformers",
                              adapter=adapter))
    assert "base model it was trained on" in info.value.fix


@pytest.mark.integration
@pytest.mark.parametrize("source,targets,std", [
    ("embedded:smollm2-135m-instruct", TARGETS, 0.03),
    # q and k alone: llama-architecture GGUFs order their rows differently (rope), so an
    # export that forgot to reorder them would move these scores the wrong way
    ("embedded:smollm2-135m-instruct", ["q_proj", "k_proj"], 0.2),
    ("embedded:gemma-3-270m", TARGETS, 0.03),
])
def test_exported_lora_has_the_same_effect_on_llama_cpp(source, targets, std, tmp_path):
    adapter = make_lora(source, tmp_path / "lora", targets=targets, std=std)
    prompt = "The capital of France is"
    labels = [" Paris", " London", " the", " a", " located", " not"]
    scores = {}
    for engine in ("transformers", "llama.cpp"):
        for tuned in (False, True):
            # float32 on transformers: bf16 log-probs move in steps as large as the shifts
            eng = load_engine(ModelSpec(source=source, engine=engine,
                                        dtype="float32" if engine == "transformers" else "auto",
                                        adapter=adapter if tuned else None))
            scores[engine, tuned] = np.array([s.logprob for s in eng.score_candidates(prompt, labels)])
    shift_hf = scores["transformers", True] - scores["transformers", False]
    shift_cpp = scores["llama.cpp", True] - scores["llama.cpp", False]
    assert np.abs(shift_hf).max() > 0.2  # the adapter does change the model
    # same direction and size of change on both engines: a wrong export (tensor names,
    # q/k row order, alpha/r scaling) gives uncorrelated shifts
    assert np.corrcoef(shift_hf, shift_cpp)[0, 1] > 0.8, (shift_hf, shift_cpp)
    # tolerance: 4-bit base with 8-bit activations against bf16, as for the base model
    assert np.abs(scores["transformers", True] - scores["llama.cpp", True]).max() < 0.5
    assert len(list((tmp_path / "lora").glob("lora-for-*.gguf"))) == 1  # exported once, kept
