"""Shared fixtures: an isolated lab data folder per test, a tiny model, the embedded model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.tiny import build_tiny_model  # noqa: E402


@pytest.fixture(autouse=True)
def lab_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own PROMPTTUNE_HOME: no test touches real history."""
    home = tmp_path / "lab-home"
    monkeypatch.setenv("PROMPTTUNE_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_long_model_dir(tmp_path_factory) -> Path:
    """The tiny model with a 4,096-token window, for few-shot prompts of real examples."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-long-model"), context=4096)


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-chat-model"), chat_template=True)


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir):
    from core.config import ModelSpec
    from core.hf_engine import TransformersEngine

    return TransformersEngine.load(ModelSpec(source=str(tiny_model_dir), dtype="float32"))


@pytest.fixture(scope="session")
def gemma_engine():
    """The real embedded default model (Gemma 3 270M base), loaded once per test run."""
    from core.config import ModelSpec
    from core.hf_engine import TransformersEngine

    return TransformersEngine.load(ModelSpec())
