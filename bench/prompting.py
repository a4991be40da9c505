"""Prompting benchmarks: label scoring vs generate-and-parse, constrained vs free JSON.

- Sentiment (3 labels, the shipped test split), a 4-shot balanced prompt: the
  label log-likelihood scoring the few-shot builder uses, against generating a
  few tokens and reading the label out of them. Accuracy and examples/s each.
- Event extraction (the shipped test split): structured output with constrained
  decoding on and off. Parse rate, schema-pass rate and examples/s each; the
  goal is 100% parse and pass with the constraint on.
"""

from __future__ import annotations

import json
import time

from core.config import GenerationParams, ModelSpec
from core.engines import load_engine
from core.fewshot import select_examples
from core.prompting import PromptRecipe, build_prompt, check_structured, first_label
from core.tasks import load_task


def bench_label_scoring(examples: int, engine_name: str = "llama.cpp") -> dict:
    engine = load_engine(ModelSpec(engine=engine_name))
    task = load_task("review-sentiment")
    shots = select_examples(task.examples("train"), "balanced", 4, seed=0)
    recipe = PromptRecipe("few-shot", task.instruction, task.prompt_template,
                          tuple(shots), labels=task.labels)
    test = task.examples("test")[:examples]
    prompts = [build_prompt(recipe, e.input) for e in test]
    out: dict = {"engine": engine.name, "examples": len(test), "shots": len(shots)}
    started = time.perf_counter()
    scores = engine.score_batch([p.text for p in prompts], [f" {lab}" for lab in task.labels])
    seconds = time.perf_counter() - started
    right = sum(max(row, key=lambda s: s.logprob).candidate.strip() == e.label
                for row, e in zip(scores, test))
    out["label_scoring_accuracy"] = round(right / len(test), 3)
    out["label_scoring_examples_per_s"] = round(len(test) / seconds, 2)
    params = GenerationParams(max_new_tokens=4, stop=prompts[0].stops)
    started = time.perf_counter()
    answers = [engine.generate(p.text, params).text for p in prompts]
    seconds = time.perf_counter() - started
    parsed = [first_label(a, task.labels) for a in answers]
    out["generate_parse_accuracy"] = round(sum(p == e.label for p, e in zip(parsed, test)) / len(test), 3)
    out["generate_parse_unparsed"] = sum(p is None for p in parsed)
    out["generate_parse_examples_per_s"] = round(len(test) / seconds, 2)
    out["scoring_speedup"] = round(out["label_scoring_examples_per_s"]
                                   / out["generate_parse_examples_per_s"], 2)
    return out


def bench_structured(examples: int, engine_name: str = "llama.cpp") -> dict:
    engine = load_engine(ModelSpec(engine=engine_name))
    task = load_task("event-extraction")
    shots = tuple(task.examples("train")[:2])
    test = task.examples("test")[:examples]
    out: dict = {"engine": engine.name, "examples": len(test), "shots": len(shots)}
    for constrained in (False, True):
        recipe = PromptRecipe("structured", task.instruction, task.prompt_template,
                              shots, json_schema=task.schema, constrained=constrained)
        name = "constrained" if constrained else "free"
        parsed = valid = exact = 0
        started = time.perf_counter()
        for example in test:
            built = build_prompt(recipe, example.input)
            params = GenerationParams(max_new_tokens=96, stop=built.stops, json_schema=built.json_schema)
            check = check_structured(engine.generate(built.text, params).text, task.schema)
            parsed += check.parsed
            valid += check.valid
            exact += check.parsed and check.value == json.loads(example.label)
        out[f"{name}_parse_rate"] = round(parsed / len(test), 3)
        out[f"{name}_schema_pass_rate"] = round(valid / len(test), 3)
        out[f"{name}_exact_match"] = round(exact / len(test), 3)
        out[f"{name}_examples_per_s"] = round(len(test) / (time.perf_counter() - started), 2)
    return out


def bench_batched_evaluation(examples: int = 60, shots: int = 8) -> dict:
    """The comparison's evaluation path against a one-example-at-a-time loop, same run.

    The lab scores a whole evaluation set in one call: llama.cpp keeps the few-shot
    prefix every prompt shares in its cache, transformers pads prompts into batches.
    The baseline scores each example in a call of its own (the cache starts empty each
    time; a batch of one). Goal: at least 3x on this machine.
    """
    task = load_task("review-sentiment")
    shots_used = select_examples(task.examples("train"), "balanced", shots, seed=0)
    recipe = PromptRecipe("few-shot", task.instruction, task.prompt_template,
                          tuple(shots_used), labels=task.labels)
    prompts = [build_prompt(recipe, e.input).text for e in task.examples("test")[:examples]]
    labels = [f" {lab}" for lab in task.labels]
    out: dict = {"examples": len(prompts), "shots": shots}
    for name in ("llama.cpp", "transformers"):
        engine = load_engine(ModelSpec(engine=name))
        started = time.perf_counter()
        together = engine.score_batch(prompts, labels, batch_size=16)
        lab_s = time.perf_counter() - started
        started = time.perf_counter()
        alone = [engine.score_batch([p], labels, batch_size=1)[0] for p in prompts]
        loop_s = time.perf_counter() - started
        same = all(max(a, key=lambda s: s.logprob).candidate == max(b, key=lambda s: s.logprob).candidate
                   for a, b in zip(together, alone))
        out[f"{name}_lab_examples_per_s"] = round(len(prompts) / lab_s, 2)
        out[f"{name}_one_at_a_time_examples_per_s"] = round(len(prompts) / loop_s, 2)
        out[f"{name}_ratio"] = round(loop_s / lab_s, 2)
        out[f"{name}_same_predictions"] = same
    return out
