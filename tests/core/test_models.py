"""Loading from folders and ids: every wrong source gets a message with a fix."""

import pytest

from core.config import ModelSpec
from core.errors import ModelError
from core.hf_engine import TransformersEngine
from core.models import check_model_folder, resolve_device, resolve_dtype, resolve_source


def test_missing_folder(tmp_path):
    with pytest.raises(ModelError, match="does not exist") as info:
        resolve_source(ModelSpec(source=str(tmp_path / "nowhere")))
    assert "Hub id" in info.value.fix


def test_folder_without_a_model(tmp_path):
    with pytest.raises(ModelError, match="holds no model: config.json is missing"):
        check_model_folder(tmp_path)


def test_a_file_is_not_a_model_folder(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\x80")
    with pytest.raises(ModelError, match="is a file, not a model folder"):
        check_model_folder(tmp_path / "weights.bin")
    (tmp_path / "weights.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelError, match="GGUF file") as info:
        check_model_folder(tmp_path / "weights.gguf")
    assert "llama.cpp engine" in info.value.fix


def test_pickle_weights_are_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80")
    with pytest.raises(ModelError, match="safetensors only") as info:
        check_model_folder(tmp_path)
    assert "save_pretrained" in info.value.fix


def test_config_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="no \\*.safetensors weights"):
        check_model_folder(tmp_path)


def test_invalid_hub_id():
    with pytest.raises(ModelError, match="neither an existing folder nor a valid Hugging Face"):
        resolve_source(ModelSpec(source="not a valid id!"))


def test_hub_id_with_hub_switched_off_names_the_problem():
    with pytest.raises(ModelError) as info:
        TransformersEngine.load(ModelSpec(source="no-such-org/no-such-model-xyz"))
    assert "Could not load 'no-such-org/no-such-model-xyz'" in info.value.problem
    assert "HF_HUB_OFFLINE=1" in info.value.problem
    assert "embedded model" in info.value.fix


def test_hub_id_with_unreachable_hub_fails_fast(monkeypatch):
    # a closed port on this machine stands in for a Hub that cannot be reached
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(ModelError, match="the Hub cannot be reached from here") as info:
        TransformersEngine.load(ModelSpec(source="no-such-org/no-such-model-xyz"))
    assert "local folder" in info.value.fix


def test_unknown_embedded_model():
    with pytest.raises(ModelError, match="no embedded model called 'llama-9000'") as info:
        resolve_source(ModelSpec(source="embedded:llama-9000"))
    assert "embedded:gemma-3-270m" in info.value.fix


def test_device_and_dtype_choice_on_this_machine():
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    from core.precision import cpu_measurement

    measured = cpu_measurement()
    for work in ("generate", "prefill", "decode"):  # auto: this processor's measured choice
        dtype, why = resolve_dtype("auto", "cpu", work)
        assert dtype == measured.chosen[work] and why == measured.reason(work)
    assert resolve_dtype("float32", "cpu") == ("float32", "float32: set in the settings")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU is visible"):
            resolve_device("cuda")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_engine_answers_in_each_dtype_forced_by_the_setting(dtype, tiny_model_dir):
    from core.config import GenerationParams

    engine = TransformersEngine.load(ModelSpec(source=str(tiny_model_dir), dtype=dtype),
                                     threads=1)
    assert engine.info.dtype == dtype and engine.info.dtype_reason == f"{dtype}: set in the settings"
    assert str(next(engine.model.parameters()).dtype) == f"torch.{dtype}"
    done = engine.generate("Review: fine.\nSentiment:", GenerationParams(max_new_tokens=4))
    assert done.completion_tokens == 4
    scores = engine.score_candidates("Review: fine.\nSentiment:", [" positive", " negative"])
    assert len(scores) == 2 and all(s.logprob < 0 and s.n_tokens > 0 for s in scores)


def test_dtype_auto_takes_the_format_measured_for_the_work(tiny_model_dir, monkeypatch):
    from core import precision
    from tests.core.test_precision import AVX2, _measurement

    monkeypatch.setattr(precision, "cpu_measurement", lambda: _measurement(AVX2, native=False))
    answers = TransformersEngine.load(ModelSpec(source=str(tiny_model_dir)), threads=1)
    assert answers.info.dtype == "bfloat16"  # an answer: decoding dominates, bf16 halves reads
    scoring = TransformersEngine.load(ModelSpec(source=str(tiny_model_dir)), threads=1,
                                      work="prefill")
    assert scoring.info.dtype == "float32"
    assert scoring.info.dtype_reason.startswith("float32: this processor has no native bfloat16")


def test_load_a_local_folder(tiny_model_dir):
    engine = TransformersEngine.load(ModelSpec(source=str(tiny_model_dir), dtype="float32"),
                                     threads=1)
    info = engine.info
    assert info.device == "cpu" and info.dtype == "float32" and info.threads == 1
    assert info.context_window == 256 and not info.has_chat_template
    assert info.parameters > 0 and info.weights_bytes == info.parameters * 4
    assert info.load_seconds > 0
