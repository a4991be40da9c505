"""Number formats side by side on the real model: what ``auto`` picked, and was it right?

For float32 and bfloat16 in one run: the live-demo LoRA's seconds per training step (a
fresh process each, the format forced through ``precision``) and the transformers
engine's decoding and prompt-processing tokens/s on Gemma 3 270M (the format forced
through ``dtype``), beside the choice ``core.precision`` made from its small workloads.
A processor without native bf16 can be tried on any machine by capping torch and oneDNN
at AVX2 (the variables below); the choice is then measured anew for that setting.

    python -m bench --only precision
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python -m bench --only precision
"""

from __future__ import annotations

import statistics

FORMATS = ("float32", "bfloat16")
PROMPT = ("Review: The zipper broke on the second day, but the company sent a new jacket "
          "within a week and it has held up well since. ") * 8 + "\nSentiment:"


def _decode_and_prefill(fmt: str, new_tokens: int, rounds: int) -> dict:
    from core.config import GenerationParams, ModelSpec
    from core.hf_engine import TransformersEngine

    engine = TransformersEngine.load(ModelSpec(engine="transformers", dtype=fmt))
    params = GenerationParams(max_new_tokens=new_tokens)
    engine.generate("Once upon a time", GenerationParams(max_new_tokens=2))  # warm up
    decode, prefill = [], []
    prompt_tokens = engine.count_tokens(PROMPT)
    for _ in range(rounds):
        # decoding speed: the new tokens past the first, so prompt processing is left out
        first = engine.generate("Once upon a time,", GenerationParams(max_new_tokens=1))
        done = engine.generate("Once upon a time,", params)
        decode.append((done.completion_tokens - 1) / max(done.latency_s - first.latency_s, 1e-9))
        # prompt processing: a long prompt to its first new token
        prefill.append(prompt_tokens / engine.generate(PROMPT, GenerationParams(
            max_new_tokens=1)).latency_s)
    return {"decode_tokens_per_s": round(statistics.median(decode), 1),
            "prompt_tokens_per_s": round(statistics.median(prefill), 1),
            "prompt_tokens": prompt_tokens}


def bench_precision(train_steps: int = 4, new_tokens: int = 32, rounds: int = 3) -> dict:
    """Training s/step and decode/prompt tokens/s per format, and the auto choice beside them."""
    from bench.training import _in_fresh_process
    from core.precision import cpu_measurement

    measured = cpu_measurement()
    result: dict = {"processor": measured.processor["name"],
                    "capability": measured.processor["capability"],
                    "native_bf16": measured.native_bf16}
    for fmt in FORMATS:
        step = _in_fresh_process(f"_measure('lora', {train_steps}, "
                                 f"'embedded:gemma-3-270m', precision={fmt!r})")
        result[f"train_{fmt}_s_per_step"] = round(step["s_per_step"], 2)
        result.update({f"{key}_{fmt}": value
                       for key, value in _decode_and_prefill(fmt, new_tokens, rounds).items()
                       if key != "prompt_tokens"})
    picked = {"train": min(FORMATS, key=lambda f: result[f"train_{f}_s_per_step"]),
              "decode": max(FORMATS, key=lambda f: result[f"decode_tokens_per_s_{f}"]),
              "prefill": max(FORMATS, key=lambda f: result[f"prompt_tokens_per_s_{f}"])}
    for work, fastest in picked.items():
        result[f"auto_{work}"] = measured.chosen[work]
        result[f"fastest_{work}_on_the_model"] = fastest
    result["auto_generate"] = measured.chosen["generate"]
    result["auto_train_reason"] = measured.reason("train")
    print(f"Number formats on {result['processor']} ({result['capability']}, native bf16: "
          f"{result['native_bf16']}), Gemma 3 270M")
    print(f"  {'':22s} {'float32':>10s} {'bfloat16':>10s}   auto picked (fastest on the model)")
    rows = (("train s/step (live demo)", "train_{}_s_per_step", "train"),
            ("decode tokens/s", "decode_tokens_per_s_{}", "decode"),
            ("prompt tokens/s", "prompt_tokens_per_s_{}", "prefill"))
    for label, key, work in rows:
        print(f"  {label:22s} {result[key.format('float32')]:10.2f} "
              f"{result[key.format('bfloat16')]:10.2f}   {measured.chosen[work]} "
              f"({picked[work]})")
    print(f"  training: {result['auto_train_reason']}")
    return result
