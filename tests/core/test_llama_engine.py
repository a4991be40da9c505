"""Integration: the llama.cpp engine on the embedded SmolLM2 135M Instruct."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from core.config import GenerationParams, ModelSpec
from core.errors import ConfigError

pytestmark = pytest.mark.integration

PROMPT = "The three primary colours are"


@pytest.fixture(scope="module")
def engine():
    from core.engines import load_engine

    return load_engine(ModelSpec(source="embedded:smollm2-135m-instruct", engine="llama.cpp"))


def _model_writes(engine, monkeypatch, text: str) -> list[int]:
    """Make the model's sampler produce exactly ``text`` and then its end token."""
    tokens = engine.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def generate(*args, **kwargs):
        yield from [*tokens, engine.llm.token_eos()]

    monkeypatch.setattr(engine.llm, "generate", generate)
    return tokens


def _piece_size(engine, token: int) -> int:
    import ctypes

    import llama_cpp

    buffer = ctypes.create_string_buffer(256)
    return llama_cpp.llama_token_to_piece(engine.llm._model.vocab, token, buffer, 256, 0, False)


def test_tokens_longer_than_32_bytes_reach_the_answer(engine, monkeypatch):
    text = "def f():\n" + " " * 32 + "return 1\n" + "-" * 64
    tokens = _model_writes(engine, monkeypatch, text)
    assert max(_piece_size(engine, t) for t in tokens) > 32  # indentation and rules: long tokens
    done = engine.generate(PROMPT, GenerationParams(max_new_tokens=64))
    assert done.text == text and done.finish_reason == "stop"


@pytest.mark.parametrize("stop", ["→→", "é"])
def test_a_non_ascii_stop_string_cuts_the_answer(engine, monkeypatch, stop):
    _model_writes(engine, monkeypatch, f"a → b, café {stop} c")
    params = GenerationParams(max_new_tokens=64, stop=(stop,))
    expected = f"a → b, café {stop} c".split(stop)[0]
    for done in (engine.generate(PROMPT, params), _streamed(engine, params)):
        assert done.text == expected and done.finish_reason == "stop"


def _streamed(engine, params):
    stream = engine.stream(PROMPT, params)
    "".join(stream)
    return stream.completion


def test_closing_a_stream_frees_the_engine_for_the_next_request(engine):
    stream = engine.stream(PROMPT, GenerationParams(max_new_tokens=64))
    chunks = iter(stream)
    next(chunks), next(chunks)
    stream.close()
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        done=engine.generate(PROMPT, GenerationParams(max_new_tokens=4))), daemon=True)
    worker.start()
    worker.join(20)  # a few tokens take well under a second; a held lock never returns
    answered_at_once = "done" in result
    del chunks  # frees a lock still held, so that a failure here does not hang later tests
    worker.join(20)
    assert answered_at_once and result["done"].completion_tokens == 4
    assert stream.completion.finish_reason == "cancelled"


def test_unseeded_sampling_is_fresh_each_call_and_reports_its_seed(engine):
    engine.generate(PROMPT, GenerationParams(max_new_tokens=16, temperature=1.0, seed=7))
    unseeded = GenerationParams(max_new_tokens=16, temperature=1.0, seed=None)
    first, second = engine.generate(PROMPT, unseeded), engine.generate(PROMPT, unseeded)
    assert first.text != second.text  # not the seeded call's sample, twice
    assert first.seed is not None and first.seed != second.seed
    redo = engine.generate(PROMPT, dataclasses.replace(unseeded, seed=first.seed))
    assert redo.text == first.text


def test_a_schema_llama_cpp_cannot_convert_is_a_config_error(engine):
    schema = json.dumps({"type": "object", "required": ["code"],
                         "properties": {"code": {"type": "string", "pattern": "[A-Z]{3}"}}})
    params = GenerationParams(max_new_tokens=8, json_schema=schema)
    for run in (engine.generate, engine.stream):  # a stream fails before the first token
        with pytest.raises(ConfigError) as info:
            run(PROMPT, params)
        assert "`pattern` at properties/code" in info.value.problem
        assert 'must start with "^"' in info.value.problem
        assert "turn constrained decoding off" in info.value.fix


def test_an_anchored_pattern_still_constrains_the_answer(engine):
    schema = {"type": "object", "required": ["code"], "additionalProperties": False,
              "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}}
    done = engine.generate(PROMPT, GenerationParams(max_new_tokens=24, json_schema=json.dumps(schema)))
    code = json.loads(done.text)["code"]
    assert len(code) == 3 and code.isupper()


def test_constrained_strings_cannot_hold_raw_control_characters():
    """llama-cpp-python's converter allows a raw newline inside a JSON string; the lab's grammar
    does not, so a constrained answer always parses."""
    from core.llama_engine import json_gbnf

    rule = next(line for line in json_gbnf('{"type": "string"}').splitlines() if line.startswith("char"))
    assert rule.startswith('char ::= [^"\\\\\\x7F\\x00-\\x1F]')
