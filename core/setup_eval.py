"""One setup through a task's examples: its prompts, its model's answers, what they cost.

``run_setup`` is the evaluation of one ``core.setups.Setup`` on one engine, used by the
comparison (``core.compare.evaluate``, which keeps the config and the orchestration):

- prompts: the task's instruction and template, or a tuned run's own template (template.json);
  worked examples (drawn from the train split, or a saved set) rendered in that template before
  the query; a system prompt through the model's chat template; retrieved passages before the
  prompt (a plain zero-shot question on the base model keeps the RAG template's shape);
- classification is scored by label probability (``_scored``), optionally with contextual
  calibration (Zhao et al. 2021): the same prompt with content-free inputs gives the prompt's own
  leaning ``p_cf``; each input's label probabilities are divided by it and renormalised;
- other tasks generate greedily (``_generated``); ReAct runs its loop with its tools
  (``core.react.run_react``), tokens and time summed over its steps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.chat import PLAIN_STOP, Message, plain_chat_prompt
from core.config import GenerationParams, ModelSpec
from core.engines import score_labels
from core.errors import ConfigError, LabError
from core.fewshot import FewShotSet, list_sets, load_set, select_examples
from core.label_bias import calibrate
from core.prompting import (BuiltPrompt, Example, PromptRecipe, build_prompt, extract_answer,
                            few_shot_block, shots_for)
from core.setups import ModelChoice, PromptChoice, Setup, run_folder
from core.tasks import Task, load_split

SCORE_CHUNK = 16  # examples scored per call: progress and cancel between chunks
# content-free inputs (Zhao et al. 2021): the prompt's leaning without any review to read
CONTENT_FREE = ("N/A", "", "[MASK]")
HOLE = "\x00"     # stands for the empty input while a prompt is built (an empty query is refused)
PASSAGES = "Passages:\n{context}\n\n"


@dataclass
class Outputs:
    """What one setup produced on the examples, and what it cost."""

    predictions: list[Any] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    completion_tokens: list[int] = field(default_factory=list)
    seconds: float = 0.0
    probabilities: list[list[float]] = field(default_factory=list)  # classification: per label


@dataclass(frozen=True)
class TunedRun:
    """A training run as a comparison uses it."""

    model: ModelSpec
    template: dict            # template.json: the prompt it was trained on
    metrics: dict             # metrics.json, with train_rows (the rows it really used)
    config: dict              # its training config


# -- the parts a setup is made of ------------------------------------------------------------

def tuned_run(choice: ModelChoice) -> TunedRun:
    """The model, template, metrics and config of the choice's run (refused when unfinished or
    tuned on another base model)."""
    from core.runs import get_run

    folder = run_folder(choice)
    run = get_run(choice.run_id)
    template = json.loads((folder / "template.json").read_text())
    rows = training_rows(folder, run.config, run.metrics)
    return TunedRun(choice.model_spec(), template, {**run.metrics, "train_rows": rows}, run.config)


def tuned_prompt(template: dict, text: str) -> str:
    """``text`` in the prompt a run's model was trained on (its template.json, as a dict)."""
    variable = template.get("input_variable") or "input"
    return template["template"].format(**{variable: text, "input": text})


def run_template(template: dict) -> str:
    """A run's template with ``{input}`` for its input variable, as prompts are built."""
    variable = template.get("input_variable") or "input"
    return template["template"].replace("{" + variable + "}", "{input}")


def set_misfit(fewshot: FewShotSet, task: Task) -> str | None:
    """Why a saved few-shot set cannot serve ``task`` (its answers are not the task's labels,
    or it was made for another kind of task); None when it can."""
    answers = {e.label.strip() for e in fewshot.examples} | {label.strip() for label in fewshot.labels}
    if task.kind == "classification":
        allowed = {label.casefold() for label in task.labels}
        foreign = sorted(a for a in answers if a.casefold() not in allowed)
        if not foreign:
            return None
        return (f"Few-shot set {fewshot.name!r} answers {', '.join(foreign)}, which are not labels "
                f"of {task.title} ({', '.join(task.labels)}).")
    if fewshot.labels or (fewshot.task and fewshot.task != task.name):
        made_for = f"task {fewshot.task}" if fewshot.task else "a labelling task"
        return f"Few-shot set {fewshot.name!r} was made for {made_for}, not {task.title}."
    return None


def fitting_sets(task: Task) -> list[str]:
    """The saved few-shot sets whose examples fit ``task`` (the ones the Compare page offers)."""
    fitting = []
    for name in list_sets():
        try:
            if set_misfit(load_set(name), task) is None:
                fitting.append(name)
        except (LabError, ValueError, TypeError, KeyError):  # an unreadable set serves no task
            continue
    return fitting


def setup_shots(task: Task, prompt: Any, seed: int) -> tuple[Example, ...]:
    """The worked examples of a prompt (a PromptChoice, or an old VariantSpec): a saved set's
    first ``shots`` (all when 0; refused when its answers are not the task's), else a balanced
    draw of ``shots`` from the task's train split, never from the test split."""
    prompt = getattr(prompt, "prompt", prompt)  # a Setup gives its prompt
    if prompt.fewshot_set:
        fewshot = load_set(prompt.fewshot_set)
        problem = set_misfit(fewshot, task)
        if problem:
            raise ConfigError(problem, "Pick a set saved for this task in the Few-shot builder, "
                                       "or one whose answers are the task's labels.")
        return fewshot.examples[:prompt.shots or None]
    if not prompt.shots:
        return ()
    return tuple(select_examples(task.examples("train"), "balanced", prompt.shots, seed))


def shots_used(task: Task, setup: Setup, seed: int) -> int | None:
    """Worked examples a setup puts in its prompts: a saved set's real count (it may hold
    fewer than asked), else the shots drawn; 0 for plain zero-shot and chain-of-thought; None
    where examples are not what it rests on (a tuned run, retrieval, structured, ReAct)."""
    if setup.prompt.technique == "few-shot":
        return len(setup_shots(task, setup.prompt, seed))
    return 0 if setup.kind in ("zero-shot", "cot") else None


# -- prompts -----------------------------------------------------------------------------------

def _recipe(task: Task, prompt: PromptChoice, shots: tuple[Example, ...],
            template: dict | None) -> PromptRecipe:
    technique = {"cot": "chain-of-thought"}.get(prompt.technique, prompt.technique)
    if technique == "few-shot" and not shots:
        technique = "zero-shot"
    return PromptRecipe(technique, "" if template else task.instruction,
                        run_template(template) if template else task.prompt_template, shots,
                        labels=task.labels,
                        json_schema=task.schema if technique == "structured" else None,
                        constrained=prompt.constrained)


def _with_system(recipe: PromptRecipe, text: str, system: str, chat_prompt) -> BuiltPrompt:
    """The prompt with a system turn: zero- and few-shot as the system technique (shots in the
    user turn, the template's cue opening the answer); other techniques' text as the user turn."""
    if chat_prompt is None:
        raise ConfigError("A system prompt needs a loaded model (for its chat template).",
                          "Pick a model in the sidebar.")
    if recipe.technique in ("zero-shot", "few-shot"):
        block = few_shot_block(recipe.template, recipe.examples) if recipe.examples else ""
        instruction = "\n\n".join(p for p in (recipe.instruction.strip(), block) if p)
        return build_prompt(replace(recipe, technique="system", system=system,
                                    instruction=instruction, examples=()), text, chat_prompt)
    built = build_prompt(recipe, text)
    messages = [Message("system", system), Message("user", built.text)]
    wrapped = chat_prompt(messages)
    plain = wrapped == plain_chat_prompt(messages)
    return replace(built, text=wrapped, stops=((PLAIN_STOP,) if plain else ()) + built.stops)


def _passages(setup: Setup, query: str) -> str:
    from core.knowledge import format_hits, search

    hits = search(setup.retrieval.collection, query.replace(HOLE, "").strip() or "N/A",
                  setup.retrieval.top_k)
    return PASSAGES.format(context=format_hits(hits))


def plain_rag(setup: Setup) -> bool:
    """Whether the setup is the old RAG variant: a plain question with passages, on the base
    model, in the retrieval template (other setups put the passages before their own prompt)."""
    return bool(setup.retrieval.collection) and not setup.model.run_id \
        and setup.prompt.technique == "zero-shot" and not setup.prompt.system.strip()


def build_prompts(task: Task, setup: Setup, inputs: list[str], seed: int, chat_prompt=None,
                  template: dict | None = None) -> list[BuiltPrompt]:
    """The prompt of ``setup`` for each input (not ReAct: a loop, not one prompt); a query is
    never among its own shots."""
    from core.rag import RagConfig, build_rag_prompt

    prompt = setup.prompt
    shots = setup_shots(task, prompt, seed)
    built = []
    for text in inputs:
        if plain_rag(setup):
            rag = build_rag_prompt(RagConfig(setup.retrieval.collection, setup.retrieval.top_k,
                                             setup.retrieval.template), text)
            built.append(BuiltPrompt(rag.text, rag.stops, "rag", task.labels))
            continue
        recipe = _recipe(task, prompt, shots_for(shots, text)[0], template)
        if setup.retrieval.collection:
            recipe = replace(recipe, instruction=_passages(setup, text) + recipe.instruction)
        built.append(_with_system(recipe, text, prompt.system, chat_prompt)
                     if prompt.system.strip() else build_prompt(recipe, text))
    return built


def content_free_prompts(task: Task, setup: Setup, seed: int, chat_prompt=None,
                         template: dict | None = None) -> list[str]:
    """The setup's prompt around each content-free input (the empty one too)."""
    inputs = [text or HOLE for text in CONTENT_FREE]
    return [b.text.replace(HOLE, "") for b in build_prompts(task, setup, inputs, seed,
                                                              chat_prompt, template)]


# -- answering -------------------------------------------------------------------------------

def _scored(engine, prompts: list[str], labels: tuple[str, ...], prefix: str | None = " ",
            should_stop: Callable[[], bool] = lambda: False,
            on_example: Callable[[int, int], None] | None = None) -> Outputs:
    out = Outputs()
    rows = []
    # in chunks, so that a long setup shows its progress and a cancel lands between chunks
    for start in range(0, len(prompts), SCORE_CHUNK):
        if should_stop():
            raise LabError("The comparison was cancelled.")
        started = time.perf_counter()
        # each label in every form the model may write it (" MIXED", " Mixed", " mixed"),
        # summed: the reading the Playground shows as "what Compare counts"
        rows += score_labels(engine, prompts[start:start + SCORE_CHUNK], labels, prefix)
        out.seconds += time.perf_counter() - started
        if on_example:
            on_example(len(rows), len(prompts))
    for prompt, row in zip(prompts, rows):
        best = max(row, key=lambda s: s.probability)
        out.predictions.append(best.label)
        out.raw.append(best.likeliest_form.strip())
        out.prompt_tokens.append(engine.count_tokens(prompt))
        out.completion_tokens.append(best.forms[0].n_tokens)
        out.probabilities.append([s.probability for s in row])
    return out


def content_free_mean(content_free: list[list[float]]) -> np.ndarray:
    """The prompt's own leaning: the mean of the content-free inputs' label probabilities,
    each row normalised over the labels first."""
    free = np.asarray(content_free, dtype=float)
    mean = (free / np.clip(free.sum(axis=1, keepdims=True), 1e-30, None)).mean(axis=0)
    return np.clip(mean, 1e-12, None)  # a label no content-free input gives is still divisible


def _calibrated(engine, out: Outputs, labels: tuple[str, ...], free_prompts: list[str],
                prefix: str | None) -> Outputs:
    """``out`` with predictions read from calibrated label probabilities."""
    started = time.perf_counter()
    free = [[s.probability for s in row] for row in score_labels(engine, free_prompts, labels,
                                                                  prefix)]
    out.seconds += time.perf_counter() - started  # a fixed cost of the prompt, paid once
    out.probabilities = calibrate(out.probabilities, content_free_mean(free)).tolist()
    out.predictions = [labels[int(np.argmax(row))] for row in out.probabilities]
    out.raw = list(out.predictions)
    return out


def _generated(engine, prompts: list[str], params: GenerationParams,
               read: Callable[[str], Any], should_stop: Callable[[], bool],
               on_example: Callable[[int, int], None] | None = None) -> Outputs:
    out = Outputs()
    for number, prompt in enumerate(prompts, 1):
        if should_stop():
            raise LabError("The comparison was cancelled.")
        completion = engine.generate(prompt, params)
        out.seconds += completion.latency_s
        out.raw.append(completion.text)
        out.predictions.append(read(completion.text))
        out.prompt_tokens.append(completion.prompt_tokens)
        out.completion_tokens.append(completion.completion_tokens)
        if on_example:
            on_example(number, len(prompts))
    return out


def react_setup(task: Task, setup: Setup) -> tuple[Any, Callable[[str], str] | None]:
    """A ReAct setup's loop settings (``core.react.ReActConfig``) and its search tool (None
    without a collection or the search tool)."""
    from core.knowledge import format_hits, search
    from core.react import ReActConfig

    collection = setup.retrieval.collection or task.collection
    finder = None
    if collection and "search" in setup.prompt.tools:
        _ready(collection)
        finder = (lambda q: format_hits(search(collection, q, setup.retrieval.top_k)))  # noqa: E731
    tokens = setup.generation.max_new_tokens if setup.generation else 80
    return ReActConfig(setup.prompt.max_steps, max(16, min(512, tokens)), collection), finder


def react_prediction(task: Task, answer: str | None) -> Any:
    """What Compare reads from a ReAct answer (the number, for a numeric task)."""
    if answer is not None and task.kind == "numeric":
        answer = extract_answer(answer, numeric=True)
    return answer.strip() if isinstance(answer, str) else answer


def _react(engine, task: Task, setup: Setup, inputs: list[str],
           should_stop: Callable[[], bool], on_example) -> Outputs:
    """Each question through the ReAct loop; tokens and time summed over its steps."""
    from core.react import run_react

    config, finder = react_setup(task, setup)
    out = Outputs()
    for number, question in enumerate(inputs, 1):
        if should_stop():
            raise LabError("The comparison was cancelled.")
        result = run_react(engine.generate, question, config, finder)
        out.predictions.append(react_prediction(task, result.answer))
        out.raw.append(result.transcript.split(f"Question: {question.strip()}", 1)[-1][-500:])
        out.prompt_tokens.append(result.prompt_tokens)
        out.completion_tokens.append(result.completion_tokens)
        out.seconds += result.latency_s
        if on_example:
            on_example(number, len(inputs))
    return out


def _ready(collection: str) -> None:
    """Build the shipped sample collection the first time a setup searches it."""
    from core.knowledge import SAMPLE_COLLECTION, ensure_sample_collection

    if collection == SAMPLE_COLLECTION:
        ensure_sample_collection()


TEXT_REPLY_TOKENS = 128  # new tokens for a free-text (kind "text") answer, base or tuned


def answer_params(task: Task, setup: Setup,
                  built: BuiltPrompt) -> tuple[GenerationParams, Callable]:
    """Generation settings (the lab's defaults by technique, or the setup's own) and how the
    answer is read."""
    technique = setup.prompt.technique
    if technique == "cot":
        default = GenerationParams(max_new_tokens=96, stop=built.stops)
        read = (lambda t: extract_answer(t, task.labels, numeric=task.kind == "numeric"))
    elif technique == "structured" or task.kind == "json":
        default = GenerationParams(max_new_tokens=128, stop=built.stops,
                                   json_schema=built.json_schema)
        read = (lambda t: t)
    else:
        # a free-text reply runs to 1-3 sentences (40-80 tokens): 32 would cut it mid-sentence,
        # and both base and tuned get the same room so neither is cut where the other is not
        tokens = TEXT_REPLY_TOKENS if task.kind == "text" else 96 if setup.model.run_id else 32
        default = GenerationParams(max_new_tokens=tokens, stop=built.stops)
        read = (lambda t: extract_answer(t, numeric=True) if task.kind == "numeric" else t.strip())
    own = setup.generation
    if own is None:
        return default, read
    return replace(own, stop=own.stop or default.stop,
                   json_schema=own.json_schema or default.json_schema), read


def scored_by_label(task: Task, setup: Setup) -> bool:
    """Whether Compare reads the setup's answers as the likeliest label (not generated text)."""
    return task.kind == "classification" and setup.prompt.technique in ("zero-shot", "few-shot")


def label_prefix(setup: Setup, template: dict | None) -> str | None:
    """What stands between a prompt and its label when labels are scored."""
    if setup.prompt.system.strip():
        return None
    return template.get("completion_prefix", " ") if template else " "


def run_setup(engine, task: Task, setup: Setup, examples: list[dict], seed: int,
              should_stop: Callable[[], bool] = lambda: False, template: dict | None = None,
              on_example: Callable[[int, int], None] | None = None) -> Outputs:
    """Every example through one setup on ``engine``; ``on_example(done, n)`` as it goes.
    ``template``: the tuned run's template.json when the setup's model is a run."""
    inputs = [e["input"] for e in examples]
    if setup.retrieval.collection:
        _ready(setup.retrieval.collection)
    if setup.prompt.technique == "react":
        return _react(engine, task, setup, inputs, should_stop, on_example)
    chat = engine.chat_prompt if setup.prompt.system.strip() else None
    built = build_prompts(task, setup, inputs, seed, chat, template)
    if scored_by_label(task, setup):
        prefix = label_prefix(setup, template)
        out = _scored(engine, [b.text for b in built], task.labels, prefix, should_stop,
                      on_example)
        if setup.prompt.calibrate:
            free = content_free_prompts(task, setup, seed, chat, template)
            out = _calibrated(engine, out, task.labels, free, prefix)
        return out
    params, read = answer_params(task, setup, built[0])
    return _generated(engine, [b.text for b in built], params, read, should_stop, on_example)


# -- what a tuned run really used --------------------------------------------------------------

def _split_rows(run_config: dict) -> int | None:
    """An old run's training rows, from its config (task split, then its cap)."""
    task = run_config.get("task")
    if run_config.get("data_path") or not task:
        return None
    try:
        rows = len(load_split(task, "train"))
    except LabError:
        return None
    cap = run_config.get("max_train_examples")
    return min(rows, cap) if cap else rows


def training_rows(run_dir: Path, run_config: dict, metrics: dict) -> int | None:
    """The labelled rows a run really trained on: the rows it read (its last start event),
    capped by what its steps could reach (steps x batch size x accumulation), so a 2-step run
    of batch 8 counts 16 rows, not its data set's 300."""
    from core.runs import read_events

    events, _ = read_events(run_dir)
    starts = [e for e in events if e.get("type") == "start" and e.get("examples") is not None]
    available = starts[-1]["examples"] if starts else _split_rows(run_config)
    steps = metrics.get("steps")
    if available is None or not isinstance(steps, int):
        return available
    per_step = int(run_config.get("batch_size") or 8) * int(run_config.get("grad_accum") or 1)
    return min(available, steps * per_step)
