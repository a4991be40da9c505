"""A LoRA trained by the lab runs the same on both engines after its GGUF export (issue 8).

Six steps of the live-demo preset on the embedded Gemma 3 270M (under a minute here)
move the three sentiment labels' log-likelihoods by nats, so an export that dropped,
misnamed or mis-scaled the LoRA tensors would show. The adapter is then loaded as a
user would load it: ``load_engine(ModelSpec(adapter=<run>/adapter, engine=...))``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.config import GenerationParams, ModelSpec
from core.engines import load_engine
from core.train_config import preset
from core.training import train
from tests.greedy import choices_along

pytestmark = pytest.mark.integration

LABELS = [" POSITIVE", " NEGATIVE", " MIXED"]
REVIEWS = ["The food was cold and the waiter was rude.",
           "An absolute delight from start to finish.",
           "Great screen, but the battery dies by noon.",
           "I would not buy it again.",
           "Lovely staff; the room itself was tired and noisy."]
# Tolerances. llama.cpp multiplies the 4-bit (Q4_K_M) base weights with 8-bit activations
# and adds the LoRA in f32; transformers runs the dequantized weights in float32 here. On
# the base model the label log-likelihoods differ by 0.1-0.2 nats a token
# (test_engine_parity); the LoRA adds the same kind of rounding to its own small product.
# Measured on this adapter: per-token gap at most 0.11 nats (mean 0.05) while the adapter
# moves the labels by up to 13 nats; the shifts on the two engines correlate at 0.985. The
# bound is the base model's (test_engine_parity), three times the gap measured.
NATS_PER_TOKEN = 0.35
# Greedy tokens: where transformers' top two tokens are this close (in nats), either engine
# may pick either; the same bound as tests/core/test_embedded_model.py uses for the base.
NEAR_TIE = 0.5
GREEDY_TOKENS = 8


@pytest.fixture(scope="module")
def lab_adapter(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("lab-lora")
    # the live-demo preset, cut to 6 steps; a few validation examples keep the final
    # scoring short
    metrics = train(preset("live-demo", max_steps=6, max_eval_examples=6), run_dir, echo=False)
    assert metrics["steps"] == 6
    return run_dir


@pytest.fixture(scope="module")
def engines(lab_adapter):
    adapter = str(lab_adapter / "adapter")
    # float32 on transformers: bf16 log-probs move in steps as large as the gaps measured
    return {(engine, tuned): load_engine(ModelSpec(
                engine=engine, dtype="float32" if engine == "transformers" else "auto",
                adapter=adapter if tuned else None))
            for engine in ("transformers", "llama.cpp") for tuned in (False, True)}


def _prompts(run_dir) -> list[str]:
    """The reviews in the template the adapter was trained on (its template.json)."""
    template = json.loads((run_dir / "template.json").read_text())["template"]
    return [template.format(text=review, input=review) for review in REVIEWS]


def _scores(engine, prompts) -> tuple[np.ndarray, list[int]]:
    rows = [engine.score_candidates(p, LABELS) for p in prompts]
    return np.array([[s.logprob for s in row] for row in rows]), [s.n_tokens for s in rows[0]]


def test_label_log_likelihoods_agree_and_move_the_same_way(lab_adapter, engines):
    prompts = _prompts(lab_adapter)
    scores = {key: _scores(engine, prompts) for key, engine in engines.items()}
    n_tokens = np.array(scores["transformers", True][1])
    assert scores["llama.cpp", True][1] == list(n_tokens)
    hf, cpp = scores["transformers", True][0], scores["llama.cpp", True][0]
    shift_hf = hf - scores["transformers", False][0]
    shift_cpp = cpp - scores["llama.cpp", False][0]
    gap = np.abs(hf - cpp) / n_tokens
    print(f"\nper-token gap tuned hf vs llama.cpp: max {gap.max():.3f}, mean {gap.mean():.3f}; "
          f"shift hf max |{np.abs(shift_hf).max():.2f}| nats; correlation of shifts "
          f"{np.corrcoef(shift_hf.ravel(), shift_cpp.ravel())[0, 1]:.4f}")
    assert np.abs(shift_hf).max() > 1.0  # six steps changed the model measurably
    assert gap.max() < NATS_PER_TOKEN, gap
    # same direction on both engines for every shift larger than the tolerance
    clear = np.abs(shift_hf) > NATS_PER_TOKEN * n_tokens
    assert clear.any() and (np.sign(shift_hf[clear]) == np.sign(shift_cpp[clear])).all()
    assert np.corrcoef(shift_hf.ravel(), shift_cpp.ravel())[0, 1] > 0.95
    # and the label each engine would answer is the same
    assert (hf.argmax(1) == cpp.argmax(1)).all(), (hf, cpp)


def test_greedy_tokens_agree_except_at_near_ties(lab_adapter, engines):
    from core.llama_engine import token_piece

    fast, slow = engines["llama.cpp", True], engines["transformers", True]
    params = GenerationParams(max_new_tokens=GREEDY_TOKENS)
    exact = total = first_same = 0
    gaps = []
    for prompt in _prompts(lab_adapter):
        ids = slow.tokenizer(prompt)["input_ids"]
        assert ids == fast.llm.tokenize(prompt.encode(), add_bos=True)
        fast.llm.reset()
        reference = []
        for token in fast.llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0):
            reference.append(token)
            if len(reference) == GREEDY_TOKENS or token == fast.llm.token_eos():
                break  # trained on label + EOS, the tuned model stops after the label
        fast.llm.reset()
        # the lab's llama.cpp engine with the adapter walks that same greedy path
        expected = b"".join(token_piece(fast.llm._model.vocab, t) for t in reference
                            if t != fast.llm.token_eos())
        assert fast.generate(prompt, params).text == expected.decode("utf-8", "replace")
        # transformers + PEFT, on llama.cpp's path: its greedy choice at every step
        for step, (same, gap) in enumerate(choices_along(slow.model, ids, reference)):
            gaps.append(gap)
            assert same or gap < NEAR_TIE, (prompt, step, gap)
            exact += same
            total += 1
        first = slow.generate(prompt, GenerationParams(max_new_tokens=1)).text
        first_same += first == token_piece(fast.llm._model.vocab, reference[0]).decode(
            "utf-8", "replace")
    print(f"\ngreedy tokens: {exact}/{total} the same, largest gap where not "
          f"{max([g for g in gaps if g > 0], default=0):.3f} nats; first token the same "
          f"for {first_same}/{len(REVIEWS)} prompts")
    assert exact / total > 0.9 and first_same >= len(REVIEWS) - 1
