"""Integration: the real embedded Gemma 3 270M, as converted and loaded by the lab."""

import pytest

from core.config import GenerationParams
from core.embedded import converted_dir, gguf_path, is_converted
from tests.greedy import choices_along

pytestmark = pytest.mark.integration

PROMPTS = ["The capital of France is", "def fibonacci(n):",
           "Once upon a time, in a small village,",
           "Review: The food was cold and the waiter was rude.\nSentiment:"]
# llama.cpp multiplies with 4-bit weights and 8-bit activations, transformers with the
# dequantized weights in bfloat16 (whose logits near 20 move in steps of 0.125): where the
# top two tokens are this close (in nats), either may win. Measured gaps at the flips: 0-0.25.
NEAR_TIE = 0.5


def test_embedded_model_is_converted_once_to_safetensors(gemma_engine):
    assert is_converted("gemma-3-270m")
    folder = converted_dir("gemma-3-270m")
    assert any(folder.glob("*.safetensors")) and not list(folder.glob("*.gguf"))
    assert "quantization_config" not in (folder / "config.json").read_text()
    info = gemma_engine.info
    assert info.title == "Gemma 3 270M (base)" and not info.has_chat_template
    assert 260e6 < info.parameters < 280e6 and info.context_window == 32768


def test_greedy_generation_is_deterministic(gemma_engine):
    params = GenerationParams(max_new_tokens=24)
    first = gemma_engine.generate("The capital of France is", params)
    second = gemma_engine.generate("The capital of France is", params)
    assert first.text == second.text
    assert "Paris" in first.text or "capital" in first.text
    assert first.completion_tokens == 24 and first.finish_reason == "length"


def test_first_32_greedy_tokens_match_llama_cpp_on_the_same_gguf(gemma_engine):
    from llama_cpp import Llama

    from core.config import ModelSpec
    from core.engines import load_engine
    from core.llama_engine import token_piece

    llm = Llama(str(gguf_path("gemma-3-270m")), n_ctx=512, n_threads=2, verbose=False)
    lab_llama = load_engine(ModelSpec(engine="llama.cpp"))
    exact, total = 0, 0
    for prompt in PROMPTS:
        ids = gemma_engine.tokenizer(prompt)["input_ids"]
        assert ids == llm.tokenize(prompt.encode(), add_bos=True)  # same tokenizer
        reference = []
        for token in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0):
            reference.append(token)
            if len(reference) == 32:
                break
        llm.reset()
        # the lab's llama.cpp engine walks exactly llama.cpp's greedy path
        ours_fast = lab_llama.generate(prompt, GenerationParams(max_new_tokens=32))
        # (llama-cpp-python's own detokenize garbles pieces over 32 bytes: token_piece does not)
        expected = b"".join(token_piece(llm._model.vocab, t) for t in reference)
        assert ours_fast.text == expected.decode("utf-8", "replace")
        # follow llama.cpp's path and ask transformers for its greedy choice at every step
        for step, (same, gap) in enumerate(choices_along(gemma_engine.model, ids, reference)):
            assert same or gap < NEAR_TIE, (prompt, step, gap)
            exact += same
            total += 1
        ours = gemma_engine.generate(prompt, GenerationParams(max_new_tokens=3))
        assert ours.text == gemma_engine.tokenizer.decode(reference[:3])
    assert exact / total > 0.9


def test_label_scoring_reads_sentiment_with_a_few_shots(gemma_engine):
    shots = ("Review: An absolute delight from start to finish.\nSentiment: positive\n\n"
             "Review: Boring, long and badly acted.\nSentiment: negative\n\n")
    labels = [" positive", " negative"]
    good = gemma_engine.score_candidates(shots + "Review: I loved every minute.\nSentiment:", labels)
    bad = gemma_engine.score_candidates(shots + "Review: A waste of two hours.\nSentiment:", labels)
    assert good[0].probability > 0.5 > bad[0].probability
    assert all(s.n_tokens == 1 for s in good)  # both labels are single Gemma tokens


def test_streaming_on_the_embedded_model(gemma_engine):
    stream = gemma_engine.stream("1, 2, 3, 4,", GenerationParams(max_new_tokens=16, stop=("8",)))
    text = "".join(stream)
    assert text.startswith(" 5, 6, 7,") and "8" not in text
    assert stream.completion.finish_reason == "stop"
