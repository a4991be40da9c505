"""How long an advisor point takes here: ``measure`` times the evaluation engine once a plan,
``estimate_point`` scales that to each point's prompts and training run.

Estimates come from throughput measured on this machine, never a fixed guess:

- training: ``core.train_model.estimate`` of the point's train config (the data read and
  tokenized, the model's size, this processor's measured training speed, its ~12 s start-up),
  called once a plan for the run on all rows; a run on fewer rows costs the start-up plus its
  own steps at the same seconds a step (its rows are a random draw of the same data, so of the
  same lengths on average);
- evaluation: ``measure`` loads the base model on the engine the sweep uses (the sweep's own
  engines dict, so it loads once) and times zero-shot on a few test rows; that gives the speed
  in token x parameter products a second. Each point's work is counted on its real prompts (its
  shots, its template) for the first test rows with the model's tokenizer: on llama.cpp the
  prompt's shared prefix once a scoring call, then one position per label-form token; on
  transformers a padded sequence per label form (one forward when every form is one token);
  generation adds answers as long as the base model's in the timed sample (with shots or
  tuned: about the references' length), each token through the body and the head. Loading a
  tuned model costs what the base took.
- retrieval passages count as ``top_k`` chunks of the default size (no search while planning).

Measured on 2 busy cores (llama.cpp, review-sentiment, 24 test rows): zero-, 4- and 8-shot
estimated 28, 33 and 38 s against 29, 30 and 32 s. Long prompts run high on llama.cpp (a
batched prefill costs less a token than the single-token label steps the speed is timed on).
On a GPU the CPU's training figure is used: an upper bound.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from core.advice_config import (PRESET, AdviceConfig, Point, point_seed, steps_for,
                                train_config)
from core.setups import ModelChoice, PromptChoice, Setup
from core.tasks import Task, load_split
from core.train_config import TrainConfig, preset

SAMPLE_ROWS = 24                  # test rows whose prompts are measured
SAMPLE_TIMED = 4                  # test rows timed (after one to warm up)
RETRIEVAL_TOKENS = 3 * 700 // 4   # top_k passages of the default chunk size, 4 characters a token
SCORE_CHUNK = 16                  # prompts a scoring call takes (llama.cpp recomputes the prefix)


@dataclass
class Measure:
    """What a plan measures once with the evaluation engine: its context window, its token
    counter, its speed (token x parameter products a second on this task's zero-shot prompts,
    timed) and the seconds a model took to load."""

    engine: str                       # "llama.cpp" or "transformers"
    window: int | None
    count: Callable[[str], int]       # tokens of a text, BOS included
    rate: float
    body: int                         # non-embedding parameters
    head: int                         # embedding (LM head) parameters
    load_s: float
    new_mean: float = 0.0             # tokens the base model generated a row in the timed sample


def _model_params(location: str) -> tuple[int, int]:
    """(non-embedding, embedding) parameters from the safetensors headers, no loading (the
    count the training estimate reads)."""
    from core.train_model import _param_counts

    total, embed = _param_counts(location)
    return total - embed, embed


def measure(config: AdviceConfig, task: Task, engines: dict | None = None,
            threads: int | None = None) -> Measure:
    """Load the base model as the sweep evaluates it (or take it from ``engines``, the sweep's
    dict by model spec) and time zero-shot on a few test rows: the speed estimates scale."""
    from core.engines import load_engine
    from core.train_model import STARTUP_SECONDS, model_location

    spec = ModelChoice(source=config.model, engine=config.engine).model_spec()
    engines = {} if engines is None else engines
    load_s, started = STARTUP_SECONDS, time.perf_counter()  # already loaded: the lab's figure
    if spec not in engines:
        engines[spec] = load_engine(spec, threads, "prefill" if _scored(task) else "generate")
        load_s = time.perf_counter() - started
    engine = engines[spec]
    body, head = _model_params(model_location(TrainConfig(model=config.model)))
    found = Measure(engine.name, engine.info.context_window, engine.count_tokens, 0.0, body,
                    head, round(load_s, 1))
    built = _built(config, task, Point("prompt"), 1 + SAMPLE_TIMED)
    _answer(engine, task, built[:1])  # warm up: allocations, kernel choice
    started = time.perf_counter()
    new = _answer(engine, task, built[1:])
    seconds = time.perf_counter() - started
    texts = [b.text for b in built[1:]]
    work = _work(found, task, [found.count(t) for t in texts], _prefix(found, texts), new)
    found.rate = work / max(seconds, 1e-3)
    found.new_mean = sum(new) / len(new)
    return found


def _answer(engine, task: Task, built: list) -> list[int]:
    """Answer built prompts as Compare does (labels scored, else generated); new tokens each."""
    from core.engines import score_labels
    from core.setup_eval import answer_params

    if _scored(task):
        score_labels(engine, [b.text for b in built], task.labels, " ")
        return [0] * len(built)
    setup = Setup("zero-shot")
    return [engine.generate(b.text, answer_params(task, setup, b)[0]).completion_tokens
            for b in built]


def _scored(task: Task) -> bool:
    """Whether Compare scores the task's labels (every advisor point on classification)."""
    return task.kind == "classification"


def _prefix(m: Measure, texts: list[str]) -> int:
    """Tokens every prompt shares at its start (instruction and shots)."""
    import os

    return max(0, m.count(os.path.commonprefix(texts)) - 1) if len(texts) > 1 else 0


def _forms(m: Measure, task: Task) -> list[int]:
    """Tokens of each way of writing a label that scoring reads (``label_forms``)."""
    from core.engines import label_forms

    forms = dict.fromkeys(f for label in task.labels for f in label_forms(label, " "))
    bos = m.count("")
    return [max(1, m.count(f) - bos) for f in forms]


def _work(m: Measure, task: Task, tokens: list[int], prefix: int, new: list[float]) -> float:
    """Token x parameter products to answer prompts of ``tokens`` tokens (``prefix`` shared):
    llama.cpp computes the shared prefix once a call and one position per candidate token;
    transformers pads a batch and scores a sequence per label form (one forward when every
    form is one token). Generation adds ``new`` tokens, each through the body and the head."""
    n = len(tokens)
    if m.engine == "llama.cpp":
        fresh = sum(tokens) - n * prefix + prefix * math.ceil(n / SCORE_CHUNK)
    else:
        fresh = n * min(max(tokens), 1.25 * sum(tokens) / n) if _scored(task) else sum(tokens)
    if not _scored(task):
        return fresh * m.body + sum(new) * (m.body + m.head)
    forms = _forms(m, task)
    if m.engine == "llama.cpp":
        return (fresh + n * sum(forms)) * m.body + n * sum(forms) * m.head
    if max(forms) == 1:
        return fresh * m.body + n * m.head
    return len(forms) * ((fresh + n * max(forms)) * m.body + n * (max(forms) + 1) * m.head)


# -- estimates ------------------------------------------------------------------------------------


def _measure(config: AdviceConfig, task: Task, cache: dict) -> Measure:
    if "measure" not in cache:
        cache["measure"] = measure(config, task, cache.get("engines"), cache.get("threads"))
    return cache["measure"]


def _template(config: AdviceConfig, task: Task) -> dict:
    """The template.json a tuned run of the advisor writes: the prompt it is trained on."""
    template = preset(PRESET, **config.train).template or task.prompt_template
    variable = "input" if "{input}" in template else task.input_field
    return {"template": template, "input_variable": variable}


def _built(config: AdviceConfig, task: Task, point: Point, rows: int = SAMPLE_ROWS) -> list:
    """The point's real prompts for the first test rows (retrieval's passages left out)."""
    from core.setup_eval import build_prompts

    inputs = [str(r[task.input_field]) for r in load_split(task.name, "test")[:rows]]
    prompt = PromptChoice("few-shot", shots=point.shots) if point.shots else PromptChoice()
    tuned = point.kind != "prompt"
    setup = Setup("planned", ModelChoice(source=config.model, engine=config.engine,
                                         run_id="planned" if tuned else None), prompt)
    seed = point_seed(config, point) if not tuned else config.seed
    return build_prompts(task, setup, inputs, seed, template=_template(config, task)
                         if tuned else None)


def _prompts(config: AdviceConfig, task: Task, point: Point,
             cache: dict) -> tuple[list, list[int]]:
    """(the built prompts of the point's sample rows, the tokens of each)."""
    key = ("prompts", point.kind != "prompt", point.shots, point.seed)
    if key not in cache:
        m = _measure(config, task, cache)
        built = _built(config, task, point)
        cache[key] = built, [m.count(b.text) for b in built]
    built, tokens = cache[key]
    extra = RETRIEVAL_TOKENS if point.retrieval else 0
    return built, [t + extra for t in tokens]


def _answer_tokens(m: Measure, task: Task, point: Point, built) -> int:
    """Tokens an answer may take: the longest label form, or the generation limit."""
    from core.setup_eval import answer_params

    if _scored(task):
        return max(_forms(m, task))
    setup = Setup("planned", ModelChoice(run_id="planned" if point.kind != "prompt" else None))
    return answer_params(task, setup, built)[0].max_new_tokens


def _expected_new(m: Measure, task: Task, point: Point, built) -> float:
    """Generated tokens an answer should take, within the generation limit: a tuned model
    learnt to stop after an answer as long as the references; worked examples show the base
    model that format (twice the references' length, for margin); zero-shot runs as long as it
    did in the timed sample (measured: 19 tokens a row zero-shot on shop-math, 5 with 4 shots)."""
    answers = [task.answer_text(r) for r in load_split(task.name, "train")[:SAMPLE_ROWS]]
    bos = m.count("")
    mean = sum(m.count(a) - bos for a in answers) / max(1, len(answers))
    expected = mean + 2 if point.kind != "prompt" else 2 * mean + 2 if point.shots \
        else max(m.new_mean, 2 * mean + 2)
    return min(_answer_tokens(m, task, point, built), expected)


def _score_seconds(config: AdviceConfig, task: Task, point: Point, cache: dict) -> float:
    """Seconds to answer the point's test rows, from its prompts' tokens and the measured speed."""
    m = _measure(config, task, cache)
    built, tokens = _prompts(config, task, point, cache)
    prefix = 0 if point.retrieval else _prefix(m, [b.text for b in built])
    new = [0.0 if _scored(task) else _expected_new(m, task, point, built[0])] * len(tokens)
    n = min(config.examples(), len(load_split(task.name, "test")))
    work = _work(m, task, tokens, prefix, new) * n / len(tokens)
    if point.calibrate:  # the content-free inputs, scored once
        work += _work(m, task, [prefix + 2] * 3, prefix, [0.0] * 3)
    return work / m.rate


def _train_seconds(config: AdviceConfig, task: Task, point: Point, cache: dict) -> float:
    """``core.train_model.estimate`` of the run on all rows (once a plan), scaled to the
    point's steps: the start-up plus its steps at the same seconds a step."""
    from core.train_model import STARTUP_SECONDS, estimate

    run = train_config(config, task, point)
    rows = len(load_split(task.name, "train"))
    full = replace(run, max_train_examples=rows, max_steps=steps_for(rows, preset(
        PRESET, **config.train)), seed=config.seed, device="cpu")  # a GPU: the CPU's figure
    key = ("train", json.dumps({k: v for k, v in full.to_dict().items() if k != "name"},
                               sort_keys=True))
    if key not in cache:
        cache[key] = estimate(full)[0], full.max_steps
    seconds, steps = cache[key]
    return STARTUP_SECONDS + run.max_steps * max(0.0, seconds - STARTUP_SECONDS) / steps


def estimate_point(config: AdviceConfig, task: Task, point: Point,
                   cache: dict | None = None) -> float:
    """Seconds the point should take here: training (tuned points), loading its model (tuned
    points: a new adapter) and scoring the test rows (see the module's docstring)."""
    cache = {} if cache is None else cache
    seconds = _score_seconds(config, task, point, cache)
    if point.kind == "tuned":
        seconds += _train_seconds(config, task, point, cache) + _measure(config, task,
                                                                          cache).load_s
    return round(seconds, 1)


def misfit(config: AdviceConfig, task: Task, point: Point, cache: dict) -> str | None:
    """Why the point's prompts overflow the context window; None when they fit."""
    if not point.shots:
        return None
    window = _measure(config, task, cache).window
    built, tokens = _prompts(config, task, point, cache)
    if window and max(tokens) + _answer_tokens(cache["measure"], task, point, built[0]) > window:
        return f"{point.shots} shots do not fit the {window:,}-token context"
    return None
