"""Generation, streaming, batches and scoring on a tiny local model."""

import math

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
