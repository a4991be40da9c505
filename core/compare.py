"""Side-by-side evaluation: the same examples through several variants, with their figures.

A ``CompareConfig`` names the task, how many test examples, the seed, the base
model, the prices, and the variants: zero-shot, few-shot (a saved set, or k
examples drawn per label from the task's train split), chain-of-thought,
structured output, RAG over a collection, and fine-tuned runs (their adapter
on the same base, prompted with the template they were trained with).
``evaluate`` runs them all and returns the results dict that ``core.report``
draws; a variant that cannot run is recorded with its error and the others go
on. Classification is scored by label log-likelihood (reproducible, no
parsing); the other kinds generate greedily and are checked.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from core.config import GenerationParams, ModelSpec, check_field_types, check_known_settings
from core.engines import score_labels
from core.errors import ConfigError, LabError
from core.fewshot import FewShotSet, list_sets, load_set, select_examples
from core.metrics import contains_answer, exact_match, rouge_l, token_f1, wilson
from core.prompting import (BuiltPrompt, Example, PromptRecipe, build_prompt,
                            check_structured, extract_answer, normalise_number, shots_for)
from core.tasks import Task, list_tasks, load_split, load_task

KINDS = ("zero-shot", "few-shot", "cot", "structured", "rag", "fine-tuned")
BOOTSTRAP = 1000
MAX_SEED = 2**32 - 1  # numpy's generators take any non-negative seed; this is plenty
MAX_NAME = 100        # a variant name is a table column and a chart label
SCORE_CHUNK = 16  # examples scored per call: progress and cancel between chunks
# the settings each kind reads; a saved config writes only these, so a zero-shot variant
# does not carry a shot count or a constrained flag it never used
APPLIES = {"zero-shot": (), "cot": (), "few-shot": ("shots", "fewshot_set"),
           "structured": ("shots", "constrained"), "rag": ("collection", "top_k"),
           "fine-tuned": ("run_id",)}


@dataclass(frozen=True)
class VariantSpec:
    """One way of answering: a technique and its settings."""

    name: str
    kind: str
    shots: int = 4                   # few-shot: examples drawn per label from train
    fewshot_set: str | None = None   # few-shot: a saved set instead (its first `shots`)
    collection: str | None = None    # rag
    top_k: int = 3                   # rag
    run_id: str | None = None        # fine-tuned: a training run of the lab
    constrained: bool = True         # structured

    def __post_init__(self) -> None:
        check_field_types(self, "Variant")
        if not self.name.strip():
            raise ConfigError("A variant has no name.", "Give every variant a short name.")
        if len(self.name) > MAX_NAME or not self.name.isprintable():
            raise ConfigError(f"Variant name {self.name[:40]!r} is longer than {MAX_NAME} "
                              "characters or holds control characters.",
                              f"Give it a short name of printable characters (up to {MAX_NAME}).")
        if self.kind not in KINDS:
            raise ConfigError(f"Variant {self.name!r} has unknown kind {self.kind!r}.",
                              f"Use one of {', '.join(KINDS)}.")
        if self.kind == "fine-tuned" and not self.run_id:
            raise ConfigError(f"Fine-tuned variant {self.name!r} names no training run.",
                              "Pick a finished run on the Runs page.")
        low = 1 if self.kind == "few-shot" else 0
        if not low <= self.shots <= 64:
            raise ConfigError(f"Variant {self.name!r}: shots must be {low} to 64, got {self.shots}.",
                              "4 to 8 worked examples are usual.")
        if not 1 <= self.top_k <= 20:  # what RAG's own settings allow
            raise ConfigError(f"Variant {self.name!r}: top_k must be 1 to 20, got {self.top_k}.",
                              "Use 2-5 passages.")

    def to_dict(self) -> dict[str, Any]:
        """Name, kind and only the settings this kind reads (unset optional ones left out)."""
        return {"name": self.name, "kind": self.kind,
                **{key: getattr(self, key) for key in APPLIES[self.kind]
                   if getattr(self, key) is not None}}


def variant_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved variant with only the settings its kind reads: older configs saved every
    setting on every variant (a zero-shot one with shots and constrained); other keys stay."""
    applies = APPLIES.get(saved.get("kind"))
    if applies is None:
        return dict(saved)
    settings = {f.name for f in fields(VariantSpec)} - {"name", "kind"}
    return {key: value for key, value in saved.items()
            if key not in settings or (key in applies and value is not None)}


@dataclass(frozen=True)
class Prices:
    """What a query and a training hour cost; None where the user set no price."""

    input_per_million: float | None = None
    output_per_million: float | None = None
    gpu_hour: float | None = None
    cpu_hour: float | None = None

    def __post_init__(self) -> None:
        check_field_types(self, "Prices")  # NaN and Infinity too: they would flow into every cost
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and value < 0:
                raise ConfigError(f"The price {f.name} must be a number of at least 0, got {value!r}.",
                                  "Leave it empty when you do not know it.")


@dataclass(frozen=True)
class CompareConfig:
    """A whole comparison: saved with its results, so any past one can be rerun."""

    task: str
    variants: tuple[VariantSpec, ...]
    n_examples: int = 60
    seed: int = 0
    model: str = "embedded:gemma-3-270m"
    engine: str = "auto"
    prices: Prices = field(default_factory=Prices)

    def __post_init__(self) -> None:
        # n_examples first, in the words the Compare page's field uses
        if isinstance(self.n_examples, bool) or not isinstance(self.n_examples, int) \
                or not 5 <= self.n_examples <= 2000:
            raise ConfigError(f"Examples must be 5 to 2000, got {self.n_examples!r} (n_examples).",
                              "Use 50-150 for a live comparison on a CPU.")
        object.__setattr__(self, "variants", _variants(self.variants))
        if isinstance(self.prices, dict):
            check_known_settings(Prices, self.prices, "prices")
            object.__setattr__(self, "prices", Prices(**self.prices))
        check_field_types(self, "Comparison")
        if self.task not in list_tasks():  # before any path is made of it
            raise ConfigError(f"There is no sample task named {self.task[:60]!r}, nor a task "
                              "of yours.", f"Pick one of: {', '.join(list_tasks())}.")
        if not self.variants:
            raise ConfigError("No variant is selected.", "Pick at least one variant to run.")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ConfigError("Two variants have the same name.", "Give each variant its own name.")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"The seed must be 0 to {MAX_SEED}, got {self.seed}.",
                              "Use any whole number from 0, e.g. 0 or 42.")
        ModelSpec(source=self.model, engine=self.engine)

    def to_dict(self) -> dict[str, Any]:
        """The config as saved with a comparison: each variant with only its own settings."""
        data = asdict(self)
        data["variants"] = [v.to_dict() for v in self.variants]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareConfig:
        """A config from its saved JSON: an object with a task and its variants."""
        if not isinstance(data, dict):
            raise ConfigError(f"A comparison config must be a JSON object, got {type(data).__name__}.",
                              'Write {"task": ..., "variants": [...]}, as the Compare page saves it.')
        check_known_settings(cls, data, "comparison")
        missing = [key for key in ("task", "variants") if key not in data]
        if missing:
            raise ConfigError(f"The comparison config has no {' and no '.join(missing)}.",
                              'Give "task" (e.g. "review-sentiment") and a list of "variants".')
        return cls(**data)


def _variants(given: Any) -> tuple[VariantSpec, ...]:
    """The variants of a config, from specs or from their saved JSON objects, each checked."""
    if isinstance(given, (str, bytes, dict)) or not isinstance(given, (list, tuple)):
        raise ConfigError(f"variants must be a list of variants, got {type(given).__name__}.",
                          'Give variants as a list, e.g. [{"name": "zero-shot", "kind": "zero-shot"}].')
    variants = []
    for number, spec in enumerate(given, 1):
        if isinstance(spec, dict):
            check_known_settings(VariantSpec, spec, f"variant {number}")
            missing = [key for key in ("name", "kind") if key not in spec]
            if missing:
                raise ConfigError(f"variants: variant {number} has no {' and no '.join(missing)}.",
                                  'Give each variant a "name" and a "kind".')
            spec = VariantSpec(**spec)
        if not isinstance(spec, VariantSpec):
            raise ConfigError(f"variants: variant {number} must be an object with a name and a "
                              f"kind, got {type(spec).__name__}.",
                              'Write each variant as {"name": ..., "kind": ...}.')
        variants.append(spec)
    return tuple(variants)


def bootstrap(values: list[float], statistic: Callable[[np.ndarray], float] = np.mean,
              seed: int = 0) -> dict[str, float]:
    """The statistic with a 95% interval over the examples: a Wilson interval for a share of
    right answers (each value 0 or 1; a bootstrap of 36 right out of 36 would say [1.00, 1.00],
    as if 36 examples left no doubt), a percentile bootstrap for anything else."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return {"value": float("nan"), "low": float("nan"), "high": float("nan")}
    if statistic is np.mean and np.isin(data, (0.0, 1.0)).all():
        low, high = wilson(int(data.sum()), int(data.size))
        return {"value": round(float(data.mean()), 4), "low": round(low, 4), "high": round(high, 4)}
    rng = np.random.default_rng(seed)
    draws = [statistic(data[rng.integers(0, data.size, data.size)]) for _ in range(BOOTSTRAP)]
    return {"value": round(float(statistic(data)), 4),
            "low": round(float(np.percentile(draws, 2.5)), 4),
            "high": round(float(np.percentile(draws, 97.5)), 4)}


def macro_f1(pairs: np.ndarray, n_labels: int) -> float:
    """Macro-averaged F1 of (reference index, predicted index) rows."""
    scores = []
    for label in range(n_labels):
        tp = np.sum((pairs[:, 0] == label) & (pairs[:, 1] == label))
        fp = np.sum((pairs[:, 0] != label) & (pairs[:, 1] == label))
        fn = np.sum((pairs[:, 0] == label) & (pairs[:, 1] != label))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def classification_metrics(references: list[str], predictions: list[str | None],
                           labels: tuple[str, ...], seed: int) -> tuple[dict, dict]:
    """Accuracy and macro-F1 with intervals, and the confusion matrix."""
    index = {label: i for i, label in enumerate(labels)}
    unknown = len(labels)  # an answer that names no label counts as wrong for every label
    pairs = np.array([(index[r], index.get(p, unknown)) for r, p in zip(references, predictions)])
    correct = (pairs[:, 0] == pairs[:, 1]).astype(float)
    pair_rows = list(range(len(pairs)))
    metrics = {"accuracy": bootstrap(list(correct), seed=seed),
               "macro_f1": bootstrap(pair_rows, lambda rows: macro_f1(pairs[rows.astype(int)],
                                                                       len(labels)), seed=seed)}
    matrix = [[int(np.sum((pairs[:, 0] == i) & (pairs[:, 1] == j))) for j in range(len(labels))]
              for i in range(len(labels))]
    return metrics, {"labels": list(labels), "matrix": matrix}


def text_metrics(references: list[str], predictions: list[str], seed: int) -> dict:
    """Exact match, token F1, ROUGE-L and containment of the reference, with intervals."""
    return {name: bootstrap([fn(p, r) for p, r in zip(predictions, references)], seed=seed)
            for name, fn in (("exact_match", exact_match), ("token_f1", token_f1),
                             ("rouge_l", rouge_l), ("contains", contains_answer))}


@dataclass
class Outputs:
    """What one variant produced on the examples, and what it cost."""

    predictions: list[Any] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    completion_tokens: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _examples(task: Task, n: int) -> list[dict]:
    rows = load_split(task.name, "test")[:n]
    return [{"id": r.get("id", str(i)), "input": r[task.input_field], "reference": task.answer_text(r)}
            for i, r in enumerate(rows)]


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


def _shots(task: Task, spec: VariantSpec, seed: int) -> tuple[Example, ...]:
    """The worked examples of a variant: a saved set's first ``shots`` (refused when its
    answers are not the task's), else a balanced draw from the task's train split, never
    from the test split the queries come from."""
    if spec.fewshot_set:
        fewshot = load_set(spec.fewshot_set)
        problem = set_misfit(fewshot, task)
        if problem:
            raise ConfigError(problem, "Pick a set saved for this task in the Few-shot builder, "
                                       "or one whose answers are the task's labels.")
        return fewshot.examples[:spec.shots]
    return tuple(select_examples(task.examples("train"), "balanced", spec.shots, seed))


def _scored(engine, prompts: list[str], labels: tuple[str, ...], prefix: str = " ",
            should_stop: Callable[[], bool] = lambda: False,
            on_example: Callable[[int, int], None] | None = None) -> Outputs:
    out = Outputs()
    rows = []
    # in chunks, so that a long variant shows its progress and a cancel lands between chunks
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


def _fine_tuned(spec: VariantSpec, config: CompareConfig) -> tuple[ModelSpec, dict, dict, dict]:
    """(the model to load, template.json, the run's metrics, the run's config) of a run;
    the metrics carry ``train_rows``, the labelled rows it really trained on."""
    from core.runs import get_run

    run = get_run(spec.run_id)
    if not run.has_outputs:
        raise ConfigError(f"Run {spec.run_id} has status {run.status} and no saved model; only "
                          "finished runs (or runs cancelled after a step) compare.",
                          "Pick a run that succeeded, or resume this one.")
    base = run.config.get("model")
    if base and base != config.model:
        raise ConfigError(f"Run {spec.run_id} tuned {base}, but this comparison uses {config.model}.",
                          f"Set the comparison's model to {base}, or pick a run of {config.model}.")
    folder = Path(run.run_dir)
    template = json.loads((folder / "template.json").read_text())
    if (folder / "adapter").is_dir():
        model = ModelSpec(source=config.model, engine=config.engine, adapter=str(folder / "adapter"))
    else:
        model = ModelSpec(source=str(folder / "model"), engine="transformers")
    rows = training_rows(folder, run.config, run.metrics)
    return model, template, {**run.metrics, "train_rows": rows}, run.config


def check_variants(config: CompareConfig) -> None:
    """Refuse, before anything runs or is saved, a variant whose saved few-shot set or
    training run cannot serve this comparison (missing, labelled for another task,
    unfinished, another base model)."""
    task = load_task(config.task)
    for spec in config.variants:
        if spec.fewshot_set:
            _shots(task, spec, config.seed)
        if spec.kind == "fine-tuned":
            _fine_tuned(spec, config)


def tuned_prompt(template: dict, text: str) -> str:
    """``text`` in the prompt a run's model was trained on (its template.json, as a dict)."""
    variable = template.get("input_variable") or "input"
    return template["template"].format(**{variable: text, "input": text})


def variant_prompts(task: Task, spec: VariantSpec, inputs: list[str],
                    seed: int) -> list[BuiltPrompt]:
    """The prompt of a prompted variant (not RAG or fine-tuned) for each input: the task's
    instruction and template, with its shots minus any that is the input itself."""
    technique = {"zero-shot": "zero-shot", "few-shot": "few-shot", "cot": "chain-of-thought",
                 "structured": "structured"}[spec.kind]
    shots = _shots(task, spec, seed) if spec.kind == "few-shot" or \
        (spec.kind == "structured" and spec.shots and task.kind == "json") else ()
    recipe = PromptRecipe(technique, task.instruction, task.prompt_template, shots,
                          labels=task.labels,
                          json_schema=task.schema if spec.kind == "structured" else None,
                          constrained=spec.constrained)
    built = []
    for text in inputs:
        own = shots_for(shots, text)[0]  # a saved set may hold test rows: never the query
        alone = technique == "few-shot" and not own  # its only shot was the query
        built.append(build_prompt(replace(recipe, examples=own,
                                          technique="zero-shot" if alone else technique), text))
    return built


def shots_used(task: Task, spec: VariantSpec, seed: int) -> int | None:
    """Worked examples a variant puts in its prompts: a saved set's real count (it may hold
    fewer than asked), else the shots drawn; 0 for zero-shot and chain-of-thought."""
    if spec.kind == "few-shot":
        return len(_shots(task, spec, seed))
    return 0 if spec.kind in ("zero-shot", "cot") else None


def run_variant(engine, task: Task, spec: VariantSpec, examples: list[dict], config: CompareConfig,
                should_stop: Callable[[], bool], template: dict | None = None,
                on_example: Callable[[int, int], None] | None = None) -> Outputs:
    """Every example through one variant on ``engine``; ``on_example(done, n)`` as it goes."""
    inputs = [e["input"] for e in examples]
    if spec.kind == "fine-tuned":
        prompts = [tuned_prompt(template, text) for text in inputs]
        if task.kind == "classification":
            return _scored(engine, prompts, task.labels, template.get("completion_prefix", " "),
                           should_stop, on_example)
        return _generated(engine, prompts, GenerationParams(max_new_tokens=96, stop=("\n\n",)),
                          lambda t: t.strip(), should_stop, on_example)
    if spec.kind == "rag":
        from core.rag import RagConfig, build_rag_prompt

        if not (spec.collection or task.collection):
            raise ConfigError(f"RAG needs a document collection, and task {task.name!r} has none.",
                              "Pick a collection for the variant, or use a question-answering "
                              "task such as handbook-qa.")
        rag = RagConfig(spec.collection or task.collection, spec.top_k)
        prompts = [build_rag_prompt(rag, text).text for text in inputs]
        return _generated(engine, prompts, GenerationParams(max_new_tokens=32, stop=("\n\n", "\nQuestion:")),
                          lambda t: t.strip(), should_stop, on_example)
    built = variant_prompts(task, spec, inputs, config.seed)
    if task.kind == "classification" and spec.kind != "cot":
        return _scored(engine, [b.text for b in built], task.labels, " ", should_stop, on_example)
    if spec.kind == "cot":
        read = (lambda t: extract_answer(t, task.labels, numeric=task.kind == "numeric"))
        params = GenerationParams(max_new_tokens=96, stop=built[0].stops)
    elif spec.kind == "structured" or task.kind == "json":
        params = GenerationParams(max_new_tokens=128, stop=built[0].stops,
                                  json_schema=built[0].json_schema)
        read = (lambda t: t)
    else:
        params = GenerationParams(max_new_tokens=32, stop=built[0].stops)
        read = (lambda t: extract_answer(t, numeric=True) if task.kind == "numeric" else t.strip())
    return _generated(engine, [b.text for b in built], params, read, should_stop, on_example)


def score_outputs(task: Task, examples: list[dict], out: Outputs, seed: int) -> tuple[dict, dict | None, list]:
    """(metrics with intervals, confusion matrix or None, per-example correctness)."""
    refs = [e["reference"] for e in examples]
    if task.kind == "classification":
        metrics, confusion = classification_metrics(refs, out.predictions, task.labels, seed)
        return metrics, confusion, [p == r for p, r in zip(out.predictions, refs)]
    if task.kind == "json":
        checks = [check_structured(raw, task.schema) for raw in out.raw]
        exact = [c.parsed and c.value == json.loads(r) for c, r in zip(checks, refs)]
        metrics = {"parse_rate": bootstrap([c.parsed for c in checks], seed=seed),
                   "schema_pass_rate": bootstrap([c.valid for c in checks], seed=seed),
                   "exact_match": bootstrap(exact, seed=seed)}
        return metrics, None, exact
    if task.kind == "numeric":
        preds = [p if p is None else str(p) for p in out.predictions]
        right = [p is not None and _same_number(p, r) for p, r in zip(preds, refs)]
        return {"exact_match": bootstrap(right, seed=seed)}, None, right
    metrics = text_metrics(refs, [str(p or "") for p in out.predictions], seed)
    return metrics, None, [contains_answer(str(p or ""), r) == 1.0 for p, r in zip(out.predictions, refs)]


def _same_number(prediction: str, reference: str) -> bool:
    try:
        return abs(float(normalise_number(re.sub(r"[^\d.,-]", "", prediction) or "x"))
                   - float(reference)) < 1e-6
    except ValueError:
        return False


def _costs(variant: dict, prices: Prices) -> None:
    if prices.input_per_million is not None and prices.output_per_million is not None:
        variant["cost_per_1000"] = round(1000 * (variant["prompt_tokens_mean"] * prices.input_per_million
                                                 + variant["completion_tokens_mean"]
                                                 * prices.output_per_million) / 1e6, 6)
    hour = prices.gpu_hour if variant.get("train_device") == "cuda" else prices.cpu_hour
    if variant.get("train_seconds") is not None and hour is not None:
        variant["training_cost"] = round(variant["train_seconds"] / 3600 * hour, 6)


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


def evaluate(config: CompareConfig, progress: Callable[..., None] | None = None,
             should_stop: Callable[[], bool] = lambda: False, threads: int | None = None) -> dict:
    """Run every variant on the same examples; the results dict ``core.report`` draws.

    ``progress(variant_index, variants, name)`` before each variant, and with two more
    arguments, ``(..., examples_done, examples)``, as a variant's examples go through.
    """
    from core.engines import load_engine
    from core.task_versions import check_warnings, comparison_checks, task_record

    started = time.perf_counter()
    task = load_task(config.task)
    examples = _examples(task, config.n_examples)
    checks = comparison_checks(config)  # the task's version against each tuned run's
    work = "prefill" if task.kind == "classification" else "generate"  # scoring or answers
    base = None
    variants, per_example = [], {}
    for number, spec in enumerate(config.variants):
        if progress:
            progress(number, len(config.variants), spec.name)
        variant: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "model": config.model,
                                   "adapter": None, "n_shots": None, "n_train_examples": None,
                                   "train_steps": None,
                                   "train_seconds": None, "train_device": None, "error": None,
                                   "confusion": None, "cost_per_1000": None, "training_cost": None}
        try:
            template = None
            if spec.kind == "fine-tuned":
                model, template, metrics, run_config = _fine_tuned(spec, config)
                engine = load_engine(model, threads, work)
                variant.update(adapter=model.adapter, train_seconds=metrics.get("train_seconds"),
                               train_device=run_config.get("device", "cpu").replace("auto", "cpu"),
                               n_train_examples=metrics["train_rows"],
                               train_steps=metrics.get("steps"))
            else:
                base = base or load_engine(ModelSpec(source=config.model, engine=config.engine),
                                           threads, work)
                engine = base
            variant["n_shots"] = shots_used(task, spec, config.seed)
            tick = (lambda done, n, at=number, name=spec.name:  # noqa: E731
                    progress(at, len(config.variants), name, done, n)) if progress else None
            out = run_variant(engine, task, spec, examples, config, should_stop, template, tick)
            metrics, confusion, right = score_outputs(task, examples, out, config.seed)
            tokens = sum(out.completion_tokens)
            variant.update(engine=engine.name, metrics=metrics, confusion=confusion,
                           prompt_tokens_mean=round(float(np.mean(out.prompt_tokens)), 1),
                           completion_tokens_mean=round(float(np.mean(out.completion_tokens)), 2),
                           latency_mean_s=round(out.seconds / len(examples), 4),
                           tokens_per_s=round(tokens / out.seconds, 2) if out.seconds else None)
            _costs(variant, config.prices)
            per_example[spec.name] = [{"prediction": p if isinstance(p, str) or p is None else str(p),
                                       "correct": bool(c), "raw": r[:500]}
                                      for p, c, r in zip(out.predictions, right, out.raw)]
        except LabError as exc:
            if should_stop():
                raise
            variant.update(engine=None, metrics={}, prompt_tokens_mean=None,
                           completion_tokens_mean=None, latency_mean_s=None, tokens_per_s=None,
                           error=f"{exc.problem} {exc.fix or ''}".strip())
        variants.append(variant)
    if progress:
        progress(len(config.variants), len(config.variants), "done")
    return {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - started, 1), "config": config.to_dict(),
            "task": {"name": task.name, "title": task.title, "kind": task.kind,
                     "labels": list(task.labels), **task_record(task, len(examples))},
            "warnings": check_warnings(checks), "tuned_runs": checks,
            "prices": asdict(config.prices), "variants": variants,
            "examples": [{**e, "outputs": {name: rows[i] for name, rows in per_example.items()}}
                         for i, e in enumerate(examples)]}
