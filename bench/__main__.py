"""``python -m bench`` (or ``./lab.sh bench``): the lab's speed goals, as ratios.

1. Generation: tokens/s of the lab's ``generate`` against a bare ``model.generate``
   on the same model, prompt and settings, interleaved so that both see the same
   machine load. Goal: ratio >= 0.95.
2. Second start: time for a fresh process to load the default model from the
   lab's converted copy, against loading the embedded GGUF directly with
   transformers (what every start would cost without the conversion). Goal:
   under 10 s on 2 cores.
3. Engines: tokens/s of the lab's llama.cpp engine against bare llama-cpp-python
   on the same file and settings (goal >= 0.9) and against the lab's transformers
   engine (goal >= 2.5x).
5. Prompting (``bench/prompting.py``): label scoring against generate-and-parse
   on the three-label sentiment test split, and structured output with
   constrained decoding on and off on the event-extraction test split.
6. Retrieval (``bench/retrieval.py``): index build time, query latency, hit rate
   at k on the sample handbook's 80 questions; answers with and without RAG.
8. Batched evaluation (``bench/prompting.py``): the comparison's scoring of a
   whole 8-shot evaluation set against one example at a time, each engine (goal 3x).
9. Training throughput (``bench/training.py``): the lab's training tokens/s against a
   bare transformers + peft loop on the same batches (goal >= 0.95), and the live-demo
   preset now against its values before issue 18, interleaved over seeds: training
   seconds, their ratio, test accuracy (goal <= 60 s of training with native bfloat16,
   <= 120 s without). ``live_demo_parts``: a step's processor time with the output layer
   on the answer positions against before, and the end-of-run scoring's two ways.
14. The free-text sample task (``bench/free_text.py``): the live-demo LoRA trained on
   support-reply against zero-, 2- and 4-shot prompting on its test messages, by chrF (or
   ROUGE-L) and the share of replies in the house format, with intervals; the tuned model's
   chrF over 4-shot's, and their paired difference.
13. The advisor (``bench/advise.py``): the "quick" advice on review-sentiment, headless,
   nothing reused (goal <= 600 s of wall time), with the live-demo LoRA's training in it.
7. Training (``bench/training.py``): s/step and peak memory of LoRA, full
   fine-tuning and QLoRA on the embedded model, as ratios to LoRA.
10. Number formats (``bench/precision.py``): training s/step and decoding and prompt
   tokens/s of the real model in float32 and bfloat16 side by side, beside the format
   ``auto`` picked on this processor from its small workloads.
11. Your own task (``bench/tasks.py``): a 100,000-row CSV made into a task (goal under
   10 s, peak memory beside a bare csv read's) and the Compare page's server time with it
   picked, against the page on a shipped task (goal under 2 s).
12. Jobs (``bench/jobs.py``): a comparison run as a background job (create, spawn, poll,
   load) against calling ``core.compare.evaluate`` in a fresh process on the same config.
   Goal: ratio <= 1.05.
4. Evaluation throughput on 50 shipped reviews: label scoring (few-shot prompt,
   log-likelihood of " positive" / " negative") and chain-of-thought generation,
   each engine and batching choice side by side, in examples/s.

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
sys.path.insert(0, str(ROOT))

from bench.advise import bench_advise  # noqa: E402
from bench.free_text import bench_free_text  # noqa: E402
from bench.prompting import (bench_batched_evaluation, bench_label_scoring,  # noqa: E402
                             bench_structured)
from bench.jobs import bench_job_overhead  # noqa: E402
from bench.precision import bench_precision  # noqa: E402
from bench.retrieval import bench_retrieval  # noqa: E402
from bench.tasks import bench_tasks  # noqa: E402
from bench.training import (bench_live_demo, bench_live_demo_parts, bench_training,  # noqa: E402
                            bench_training_ratio)
PROMPT = "Write a short story about a robot who learns to paint. Once upon a time,"


def bench_generation(rounds: int, new_tokens: int) -> dict:
    import torch

    from core.config import GenerationParams, ModelSpec
    from core.hf_engine import TransformersEngine

    engine = TransformersEngine.load(ModelSpec(engine="transformers"))
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
engine = TransformersEngine.load(ModelSpec(engine="transformers"))
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


def bench_engines(rounds: int, new_tokens: int) -> dict:
    from llama_cpp import Llama

    from core.config import GenerationParams, ModelSpec
    from core.engines import load_engine
    from core.llama_engine import LlamaCppEngine

    fast = load_engine(ModelSpec(engine="llama.cpp"))
    slow = load_engine(ModelSpec(engine="transformers"))
    assert isinstance(fast, LlamaCppEngine)
    bare = Llama(fast.info.path, n_ctx=fast.info.context_window, n_threads=fast.info.threads,
                 n_threads_batch=fast.info.threads, verbose=False)
    params = GenerationParams(max_new_tokens=new_tokens)

    def bare_run() -> float:
        started = time.perf_counter()
        out = bare.create_completion(PROMPT, max_tokens=new_tokens, temperature=0.0)
        return out["usage"]["completion_tokens"] / (time.perf_counter() - started)

    runs: dict[str, list[float]] = {"lab_llama_cpp": [], "bare_llama_cpp": [], "lab_transformers": []}
    fast.generate(PROMPT, params), bare_run(), slow.generate(PROMPT, params)  # warm up
    for _ in range(rounds):
        runs["lab_llama_cpp"].append(fast.generate(PROMPT, params).tokens_per_s)
        runs["bare_llama_cpp"].append(bare_run())
        runs["lab_transformers"].append(slow.generate(PROMPT, params).tokens_per_s)
    med = {k: statistics.median(v) for k, v in runs.items()}
    bare.close()
    return {"threads": fast.info.threads, "new_tokens": new_tokens,
            **{f"{k}_tokens_per_s": round(v, 2) for k, v in med.items()},
            "ratio_to_bare_llama_cpp": round(med["lab_llama_cpp"] / med["bare_llama_cpp"], 3),
            "goal_bare": ">= 0.9",
            "speedup_over_transformers": round(med["lab_llama_cpp"] / med["lab_transformers"], 2),
            "goal_transformers": ">= 2.5"}


SHOTS = ("Review: An absolute delight from start to finish.\nSentiment: positive\n\n"
         "Review: Boring, long and badly acted.\nSentiment: negative\n\n"
         "Review: The staff were kind and the food was superb.\nSentiment: positive\n\n"
         "Review: It broke on the first day.\nSentiment: negative\n\n")


def bench_evaluation(cot_examples: int, cot_tokens: int) -> dict:
    from core.config import GenerationParams, ModelSpec
    from core.engines import load_engine
    from core.throughput import fastest

    rows = [json.loads(line) for line in (ROOT / "assets/tasks/reviews-50.jsonl").read_text().splitlines()]
    prompts = [f"{SHOTS}Review: {r['text']}\nSentiment:" for r in rows]
    labels = [" positive", " negative"]
    cot = [f"Review: {r['text']}\nQuestion: is this review positive or negative? Let's think "
           "step by step.\nAnswer:" for r in rows[:cot_examples]]
    params = GenerationParams(max_new_tokens=cot_tokens)
    out: dict = {"examples": len(rows), "cot_examples": len(cot), "cot_new_tokens": cot_tokens}
    engines = {name: load_engine(ModelSpec(engine=name)) for name in ("llama.cpp", "transformers")}
    choice = fastest({"llama.cpp": lambda b: engines["llama.cpp"].score_batch(b, labels),
                      "transformers batch 16": lambda b: engines["transformers"].score_batch(
                          b, labels, batch_size=16)}, prompts[:16])
    out["scoring_setup_chosen_on_16_examples"] = f"{choice.name} {choice.examples_per_s}"
    for name, engine in engines.items():
        for batch in ((1,) if name == "llama.cpp" else (1, 16)):
            started = time.perf_counter()
            scores = engine.score_batch(prompts, labels, batch_size=batch)
            seconds = time.perf_counter() - started
            right = sum(max(s, key=lambda c: c.probability).candidate.strip() == r["label"]
                        for s, r in zip(scores, rows))
            key = f"scoring_{name}_batch{batch}"
            out[f"{key}_examples_per_s"] = round(len(rows) / seconds, 2)
            out[f"{key}_accuracy"] = round(right / len(rows), 3)
        for batch in ((1,) if name == "llama.cpp" else (1, 8)):
            started = time.perf_counter()
            for i in range(0, len(cot), batch):
                engine.generate_batch(cot[i:i + batch], params)
            out[f"cot_{name}_batch{batch}_examples_per_s"] = round(
                len(cot) / (time.perf_counter() - started), 3)
    # on CPUs without native bf16 (AVX2 only), prompt processing is faster in fp32
    fp32 = load_engine(ModelSpec(engine="transformers", dtype="float32"))
    started = time.perf_counter()
    fp32.score_batch(prompts, labels, batch_size=16)
    out["scoring_transformers_float32_batch16_examples_per_s"] = round(
        len(rows) / (time.perf_counter() - started), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--skip-gguf-baseline", action="store_true",
                        help="skip loading the GGUF directly (about a minute)")
    parser.add_argument("--cot-examples", type=int, default=50,
                        help="examples for the chain-of-thought throughput (0 skips it)")
    parser.add_argument("--cot-tokens", type=int, default=48)
    parser.add_argument("--sentiment-examples", type=int, default=150,
                        help="test reviews for label scoring vs generate-and-parse")
    parser.add_argument("--structured-examples", type=int, default=30,
                        help="test messages for constrained vs free JSON")
    parser.add_argument("--rag-questions", type=int, default=40,
                        help="sample questions answered with and without RAG")
    parser.add_argument("--batched-examples", type=int, default=60,
                        help="examples for batched evaluation vs one at a time")
    parser.add_argument("--train-steps", type=int, default=6, help="steps per training method")
    parser.add_argument("--live-demo-seeds", type=int, default=3,
                        help="seeds of the live-demo preset, before issue 18 and now")
    parser.add_argument("--only", choices=("generation", "second_start", "engines", "evaluation",
                                           "scoring", "structured", "retrieval", "training",
                                           "batched", "training_ratio", "live_demo",
                                           "precision", "tasks", "jobs", "advise",
                                           "live_demo_parts", "free_text"),
                        action="append", help="run only these parts (repeatable)")
    parser.add_argument("--free-text-examples", type=int, default=40,
                        help="support-reply test messages for prompting against the LoRA")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    parts = {"generation": lambda: bench_generation(args.rounds, args.new_tokens),
             "second_start": lambda: bench_second_start(3, not args.skip_gguf_baseline),
             "engines": lambda: bench_engines(args.rounds, args.new_tokens),
             "evaluation": lambda: bench_evaluation(args.cot_examples, args.cot_tokens),
             "scoring": lambda: bench_label_scoring(args.sentiment_examples),
             "structured": lambda: bench_structured(args.structured_examples),
             "retrieval": lambda: bench_retrieval(args.rag_questions),
             "tasks": bench_tasks,
             "jobs": lambda: bench_job_overhead(),
             "batched": lambda: bench_batched_evaluation(args.batched_examples),
             "training_ratio": lambda: bench_training_ratio(steps=8),
             "live_demo": lambda: bench_live_demo(tuple(range(args.live_demo_seeds))),
             "advise": lambda: bench_advise(),
             "live_demo_parts": lambda: bench_live_demo_parts(),
             "free_text": lambda: bench_free_text(args.free_text_examples),
             "precision": lambda: bench_precision(),
             "training": lambda: {f"{r['method']}_s_per_step": round(r["s_per_step"], 2)
                                  for r in bench_training(steps=args.train_steps)}}
    results = {name: run() for name, run in parts.items() if not args.only or name in args.only}
    for name, figures in results.items():
        print(f"== {name}")
        for key, value in figures.items():
            print(f"  {key:28s} {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
