"""Generation, streaming, batches and scoring on a tiny local model."""

import dataclasses
import json
import math
import threading
import time

import pytest
import torch

from core.config import GenerationParams
from core.errors import ConfigError, PromptTooLongError

GREEDY = GenerationParams(max_new_tokens=12)


def test_greedy_is_deterministic_and_counts_tokens(tiny_engine):
    first = tiny_engine.generate("The quick brown", GREEDY)
    again = tiny_engine.generate("The quick brown", GREEDY)
    assert first.text == again.text and first.text
    assert first.prompt_tokens == tiny_engine.count_tokens("The quick brown")
    assert first.completion_tokens <= 12
    assert first.latency_s > 0 and first.tokens_per_s > 0
    assert first.engine == "transformers" and first.finish_reason in ("length", "stop")


def test_max_new_tokens_bounds_the_answer(tiny_engine):
    short = tiny_engine.generate("Review:", GenerationParams(max_new_tokens=3))
    assert short.completion_tokens <= 3
    assert short.finish_reason in ("length", "stop")


def test_stop_sequence_cuts_the_answer(tiny_engine):
    full = tiny_engine.generate("Review: I loved", GenerationParams(max_new_tokens=24)).text
    stop = full[len(full) // 2: len(full) // 2 + 2]
    assert stop.strip() or len(stop) == 2
    cut = tiny_engine.generate("Review: I loved", GenerationParams(max_new_tokens=24, stop=(stop,)))
    assert cut.text == full[:full.index(stop)]
    assert cut.finish_reason == "stop"
    assert cut.completion_tokens < 24


def test_stream_gives_the_same_text_as_generate(tiny_engine):
    expected = tiny_engine.generate("The quick brown", GREEDY)
    stream = tiny_engine.stream("The quick brown", GREEDY)
    chunks = list(stream)
    assert "".join(chunks) == expected.text == stream.completion.text
    assert stream.completion.completion_tokens == expected.completion_tokens
    assert stream.completion.time_to_first_token_s is not None


def test_stream_with_stop_never_shows_the_stop(tiny_engine):
    full = tiny_engine.generate("Review: I loved", GenerationParams(max_new_tokens=24)).text
    stop = full[len(full) // 2: len(full) // 2 + 2]
    stream = tiny_engine.stream("Review: I loved", GenerationParams(max_new_tokens=24, stop=(stop,)))
    assert "".join(stream) == full[:full.index(stop)]
    assert stream.completion.finish_reason == "stop"


def test_abandoned_stream_stops_generating(tiny_engine):
    stream = tiny_engine.stream("The quick brown", GenerationParams(max_new_tokens=200))
    iterator = iter(stream)
    next(iterator)
    iterator.close()  # what a consumer that stops early does
    assert stream.completion.completion_tokens < 200
    assert stream.completion.finish_reason in ("cancelled", "stop")


def test_sampling_follows_the_seed(tiny_engine):
    params = GenerationParams(max_new_tokens=16, temperature=1.5, top_p=0.95, top_k=50, seed=11)
    a = tiny_engine.generate("The quick brown", params).text
    b = tiny_engine.generate("The quick brown", params).text
    texts = {tiny_engine.generate("The quick brown",
                                  GenerationParams(max_new_tokens=16, temperature=1.5, seed=s)).text
             for s in range(4)}
    assert a == b
    assert len(texts) > 1  # different seeds, different samples


def test_repetition_penalty_changes_a_repetitive_answer(tiny_engine):
    plain = tiny_engine.generate("The quick brown", GenerationParams(max_new_tokens=24)).text
    penalised = tiny_engine.generate("The quick brown", GenerationParams(max_new_tokens=24,
                                                                         repetition_penalty=2.5)).text
    assert plain != penalised


def test_batch_matches_one_by_one(tiny_engine):
    prompts = ["The quick brown", "Review: A dull and tiresome", "0 1 2"]
    batch = tiny_engine.generate_batch(prompts, GREEDY)
    single = [tiny_engine.generate(p, GREEDY) for p in prompts]
    assert [c.text for c in batch] == [c.text for c in single]
    assert [c.prompt_tokens for c in batch] == [c.prompt_tokens for c in single]


def test_prompt_longer_than_the_window_is_refused_with_numbers(tiny_engine):
    long_prompt = "The quick brown fox " * 100
    with pytest.raises(PromptTooLongError) as info:
        tiny_engine.generate(long_prompt, GREEDY)
    assert "reads at most 256 tokens" in info.value.problem
    assert "Shorten the prompt by" in info.value.fix


def test_empty_prompt_is_refused(tiny_engine):
    with pytest.raises(ConfigError, match="prompt is empty"):
        tiny_engine.generate("   ", GREEDY)


def test_label_scores_are_the_model_log_likelihoods(tiny_engine):
    prompt, labels = "Review: I loved this film. Sentiment:", [" positive", " negative", " mixed"]
    scores = tiny_engine.score_candidates(prompt, labels)
    assert abs(sum(s.probability for s in scores) - 1) < 1e-6
    tok, model = tiny_engine.tokenizer, tiny_engine.model
    for score in scores:
        ids = tok(prompt + score.candidate)["input_ids"]
        n = len(tok(score.candidate, add_special_tokens=False)["input_ids"])
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
        manual = sum(logp[len(ids) - n - 1 + j, ids[len(ids) - n + j]].item() for j in range(n))
        assert score.n_tokens == n
        assert math.isclose(score.logprob, manual, abs_tol=1e-3)


def test_batched_scoring_matches_one_at_a_time(tiny_engine):
    prompts = ["Review: great. Sentiment:", "Review: a long and dull film. Sentiment:"]
    for labels in ([" positive", " negative"], [" p", " n"]):
        batch = tiny_engine.score_batch(prompts, labels)
        for prompt, row in zip(prompts, batch):
            alone = tiny_engine.score_candidates(prompt, labels)
            assert [round(s.logprob, 3) for s in row] == [round(s.logprob, 3) for s in alone]


def test_scoring_needs_two_labels(tiny_engine):
    with pytest.raises(ConfigError, match="at least two non-empty candidate"):
        tiny_engine.score_candidates("x", [" only"])


def test_a_stream_the_consumer_stops_reports_cancelled(tiny_engine):
    params = GenerationParams(max_new_tokens=200)
    assert tiny_engine.generate("The quick brown", params).finish_reason == "length"  # no early end
    for stop_it in (lambda stream, iterator: iterator.close(), lambda stream, iterator: stream.close()):
        stream = tiny_engine.stream("The quick brown", params)
        iterator = iter(stream)
        next(iterator)
        stop_it(stream, iterator)
        assert stream.completion.finish_reason == "cancelled"
        assert stream.completion.completion_tokens < 200


def test_a_stream_read_to_its_end_is_not_cancelled(tiny_engine):
    stream = tiny_engine.stream("The quick brown", GREEDY)
    list(stream)
    assert stream.completion.finish_reason == "length"


def test_a_seed_holds_while_the_request_waits_for_the_model(tiny_engine):
    params = GenerationParams(max_new_tokens=16, temperature=1.5, seed=5)
    expected = tiny_engine.generate("The quick brown", params).text
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        text=tiny_engine.generate("The quick brown", params).text))
    with tiny_engine._lock:  # another request is generating
        worker.start()
        time.sleep(0.3)  # this one now waits for the model
        torch.manual_seed(999)  # what the other request's own seeding does meanwhile
    worker.join(30)
    assert result["text"] == expected


def test_unseeded_sampling_draws_a_fresh_seed_and_reports_it(tiny_engine):
    params = GenerationParams(max_new_tokens=16, temperature=1.5, seed=None)
    first, second = (tiny_engine.generate("The quick brown", params) for _ in range(2))
    assert first.seed is not None and first.seed != second.seed and first.text != second.text
    redo = tiny_engine.generate("The quick brown", dataclasses.replace(params, seed=first.seed))
    assert redo.text == first.text


@pytest.mark.parametrize("stop", ["→→", "ééé", "→"])
def test_a_non_ascii_stop_string_ends_generation(tiny_engine, stop):
    from core.hf_engine import _StopCriteria

    tok = tiny_engine.tokenizer
    prompt = tok("Review:")["input_ids"]
    answer = tok(f" so {stop}", add_special_tokens=False)["input_ids"]
    assert len(answer) > len(stop) + 2  # byte-level tokens: more tokens than characters
    criteria = _StopCriteria(tok, len(prompt), (stop,), None)
    assert criteria(torch.tensor([prompt + answer]), None).tolist() == [True]
    assert criteria.stopped_at == {0: len(answer)}


@pytest.fixture(scope="module")
def pad_is_eos_engine(tiny_model_dir, tiny_engine):
    """The tiny model with a tokenizer that pads with its end token, as models without a pad
    token are loaded (``core.models.load_transformers``)."""
    from transformers import AutoTokenizer

    from core.hf_engine import TransformersEngine

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.pad_token = tokenizer.eos_token
    return TransformersEngine(tiny_engine.model, tokenizer, tiny_engine.info)


def test_batch_counts_generated_tokens_when_pad_is_eos(pad_is_eos_engine):
    engine = pad_is_eos_engine
    prompts = ["Review: I loved", "The quick brown"]
    full = engine.generate(prompts[0], GenerationParams(max_new_tokens=24)).text
    params = GenerationParams(max_new_tokens=24, stop=(full[len(full) // 2: len(full) // 2 + 2],))
    alone = [engine.generate(p, params) for p in prompts]
    assert alone[0].completion_tokens < alone[1].completion_tokens  # the batch pads row 0
    batch = engine.generate_batch(prompts, params)
    assert [c.completion_tokens for c in batch] == [c.completion_tokens for c in alone]
    assert [c.text for c in batch] == [c.text for c in alone]
    assert [c.finish_reason for c in batch] == [c.finish_reason for c in alone]


def test_a_schema_xgrammar_cannot_compile_is_a_config_error(tiny_engine):
    schema = json.dumps({"type": "object", "required": ["code"],
                         "properties": {"code": {"type": "string", "pattern": "^(?<=x)y$"}}})
    params = GenerationParams(max_new_tokens=4, json_schema=schema)
    for run in (tiny_engine.generate, tiny_engine.stream):  # a stream fails before its thread
        with pytest.raises(ConfigError) as info:
            run("The quick brown", params)
        assert "`pattern` at properties/code" in info.value.problem
        assert "Lookbehind" in info.value.problem
        assert "turn constrained decoding off" in info.value.fix
