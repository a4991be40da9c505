"""``python -m core bench`` (or ``./lab.sh bench``): the lab's speed goals, as ratios.

1. Generation: tokens/s of the lab's ``generate`` against a bare ``model.generate``
   on the same model, prompt and settings, interleaved so that both see the same
   machine load. Goal: ratio >= 0.95.
2. Second start: time for a fresh process to load the default model from the
   lab's converted copy, against loading the embedded GGUF directly with
   transformers (what every start would cost without the conversion). Goal:
   under 10 s on 2 cores.

These machines are shared and noisy: the numbers are medians of repeated runs,
and only the ratios carry across machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Write a short story about a robot who learns to paint. Once upon a time,"


def bench_generation(rounds: int, new_tokens: int) -> dict:
    import torch

    from core.config import GenerationParams, ModelSpec
    from core.hf_engine import TransformersEngine

    engine = TransformersEngine.load(ModelSpec())
    params = GenerationParams(max_new_tokens=new_tokens)
    batch = engine.tokenizer([PROMPT], return_tensors="pt")

    def bare() -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            out = engine.model.generate(**batch, max_new_tokens=new_tokens, do_sample=False,
                                        pad_token_id=engine.tokenizer.pad_token_id)
        return (out.shape[1] - batch["input_ids"].shape[1]) / (time.perf_counter() - started)

    def lab() -> float:
        return engine.generate(PROMPT, params).tokens_per_s

    lab(), bare()  # warm up both paths
    lab_runs, bare_runs = [], []
    for _ in range(rounds):
        lab_runs.append(lab())
        bare_runs.append(bare())
    lab_tps, bare_tps = statistics.median(lab_runs), statistics.median(bare_runs)
    return {"model": engine.info.source, "dtype": engine.info.dtype, "threads": engine.info.threads,
            "new_tokens": new_tokens, "rounds": rounds, "lab_tokens_per_s": round(lab_tps, 2),
            "bare_generate_tokens_per_s": round(bare_tps, 2), "ratio": round(lab_tps / bare_tps, 3),
            "goal": ">= 0.95"}


LOAD_CONVERTED = """
import time, json
started = time.perf_counter()
from core.config import ModelSpec
from core.hf_engine import TransformersEngine
engine = TransformersEngine.load(ModelSpec())
print(json.dumps({"total_s": time.perf_counter() - started, "load_s": engine.info.load_seconds}))
"""

LOAD_GGUF = """
import time, json
started = time.perf_counter()
from transformers import AutoModelForCausalLM, AutoTokenizer
from core.embedded import gguf_path
path = gguf_path("gemma-3-270m")
t0 = time.perf_counter()
AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype="bfloat16")
print(json.dumps({"total_s": time.perf_counter() - started, "load_s": time.perf_counter() - t0}))
"""


def _fresh_process(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_second_start(rounds: int, with_gguf: bool) -> dict:
    from core.embedded import ensure_converted

    ensure_converted("gemma-3-270m")  # the first start's work; not what is measured
    runs = [_fresh_process(LOAD_CONVERTED) for _ in range(rounds)]
    result = {"second_start_total_s": round(statistics.median(r["total_s"] for r in runs), 2),
              "second_start_load_s": round(statistics.median(r["load_s"] for r in runs), 2),
              "goal": "second_start_total_s < 10"}
    if with_gguf:
        gguf = _fresh_process(LOAD_GGUF)
        result["gguf_load_total_s"] = round(gguf["total_s"], 2)
        result["speedup_vs_gguf"] = round(gguf["total_s"] / result["second_start_total_s"], 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--skip-gguf-baseline", action="store_true",
                        help="skip loading the GGUF directly (about a minute)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    results = {"generation": bench_generation(args.rounds, args.new_tokens),
               "second_start": bench_second_start(3, not args.skip_gguf_baseline)}
    for name, figures in results.items():
        print(f"== {name}")
        for key, value in figures.items():
            print(f"  {key:28s} {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
