"""Side-by-side evaluation: the same examples through several setups, with their figures.

A ``CompareConfig`` names the task, how many test examples, the seed, the prices and the
setups (``core.setups.Setup``: a model, base or tuned, with any prompting technique and
optional retrieval). Configs saved before setups existed name "variants" of six kinds
(zero-shot, few-shot, chain-of-thought, structured, RAG, fine-tuned) on one top-level model:
they still load, each variant converted to the setup it stands for. ``evaluate`` runs every
setup on the same examples (``core.setup_eval`` evaluates one) and returns the results dict
that ``core.report`` draws; a setup that cannot run is recorded with its error and the others
go on. Classification is scored by label log-likelihood (reproducible, no parsing; optionally
calibrated); the other kinds generate greedily and are checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

import numpy as np

from core.compare_scores import (BOOTSTRAP, PRIMARY, bootstrap,  # noqa: F401 - as before
                                 classification_metrics, example_scores, label_counts, macro_f1,
                                 metric_notes, score_outputs, text_metrics)
from core.config import DEFAULT_MODEL, ModelSpec, check_field_types, check_known_settings
from core.errors import ConfigError, LabError
from core.setup_eval import (SCORE_CHUNK, Outputs, _generated, _scored,  # noqa: F401 - names
                             fitting_sets, run_setup, set_misfit, setup_shots,  # the comparison
                             training_rows, tuned_prompt, tuned_run)  # has always offered
from core.setups import Setup, check_setup_for_task, setup_from_variant
from core.tasks import Task, list_tasks, load_split, load_task

KINDS = ("zero-shot", "few-shot", "cot", "structured", "rag", "fine-tuned")
MAX_SEED = 2**32 - 1  # numpy's generators take any non-negative seed; this is plenty
MAX_NAME = 100        # a variant name is a table column and a chart label
MAX_DRAWS = 20
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


# What the pages start from where the user has set no prices (Compare's fields, the lesson, the
# advisor): example cloud prices, always shown beside the figures they price and editable.
EXAMPLE_PRICES = Prices(input_per_million=0.10, output_per_million=0.40, gpu_hour=1.20,
                        cpu_hour=0.05)


@dataclass(frozen=True, init=False)
class CompareConfig:
    """A whole comparison: saved with its results, so any past one can be rerun.

    ``setups``: Setups or their dicts, or old variants (VariantSpecs or their dicts; also as
    ``variants=``), which run on ``model`` and ``engine``. ``draws``: for each few-shot setup
    drawn from the train split, this many other draws of its k examples are evaluated too, and
    the spread of their scores is recorded (0: none)."""

    task: str
    setups: tuple[Setup, ...]
    n_examples: int = 60
    seed: int = 0
    model: str = DEFAULT_MODEL
    engine: str = "auto"
    prices: Prices = field(default_factory=Prices)
    draws: int = 0

    def __init__(self, task: str, setups: Any = None, n_examples: int = 60, seed: int = 0,
                 model: str = DEFAULT_MODEL, engine: str = "auto", prices: Any = None,
                 draws: int = 0, *, variants: Any = None) -> None:
        if setups is not None and variants is not None:
            # dataclasses.replace(config, variants=...), as older code narrows a config, passes
            # both: the setups must still be valid, and the variants replace them
            _setups(setups, "setups", model, engine, task)
            setups = None
        key = "variants" if setups is None and variants is not None else "setups"
        for name, value in (("task", task), ("setups", variants if key == "variants" else setups),
                            ("n_examples", n_examples), ("seed", seed), ("model", model),
                            ("engine", engine), ("prices", Prices() if prices is None else prices),
                            ("draws", draws)):
            object.__setattr__(self, name, value)
        self._check(key)

    def _check(self, key: str) -> None:
        # n_examples first, in the words the Compare page's field uses
        if isinstance(self.n_examples, bool) or not isinstance(self.n_examples, int) \
                or not 5 <= self.n_examples <= 2000:
            raise ConfigError(f"Examples must be 5 to 2000, got {self.n_examples!r} (n_examples).",
                              "Use 50-150 for a live comparison on a CPU.")
        object.__setattr__(self, "setups", _setups(self.setups, key, self.model, self.engine,
                                                   self.task))
        if isinstance(self.prices, dict):
            check_known_settings(Prices, self.prices, "prices")
            object.__setattr__(self, "prices", Prices(**self.prices))
        check_field_types(self, "Comparison")
        if self.task not in list_tasks():  # before any path is made of it
            raise ConfigError(f"There is no sample task named {self.task[:60]!r}, nor a task "
                              "of yours.", f"Pick one of: {', '.join(list_tasks())}.")
        if not self.setups:
            raise ConfigError("No variant is selected.", "Pick at least one variant (setup) to run.")
        names = [s.name for s in self.setups]
        if len(set(names)) != len(names):
            raise ConfigError("Two variants have the same name.", "Give each variant its own name.")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"The seed must be 0 to {MAX_SEED}, got {self.seed}.",
                              "Use any whole number from 0, e.g. 0 or 42.")
        if not 0 <= self.draws <= MAX_DRAWS:
            raise ConfigError(f"draws (other draws of the few-shot examples) must be 0 to "
                              f"{MAX_DRAWS}, got {self.draws}.", "Use 0 (none) or 3 to 5.")
        ModelSpec(source=self.model, engine=self.engine)

    @property
    def variants(self) -> tuple[Setup, ...]:
        """The setups, by their old name (each has ``name``, ``kind`` and ``run_id``)."""
        return self.setups

    def to_dict(self) -> dict[str, Any]:
        """The config as saved with a comparison: "setups" (the truth), and "variants", the
        old kinds' view that older readers list (a hybrid shows as its main kind)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["prices"] = asdict(self.prices)
        data["setups"] = [s.to_dict() for s in self.setups]
        data["variants"] = [legacy_variant(s) for s in self.setups]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareConfig:
        """A config from its saved JSON: an object with a task and its setups (or, as saved
        before setups, its variants); where both are given the setups are the ones run."""
        if not isinstance(data, dict):
            raise ConfigError(f"A comparison config must be a JSON object, got {type(data).__name__}.",
                              'Write {"task": ..., "setups": [...]}, as the Compare page saves it.')
        known = {f.name for f in fields(cls)} | {"variants"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Unknown comparison setting(s): {', '.join(unknown)}.",
                              f"Known settings: {', '.join(sorted(known))}.")
        missing = [key for key in ("task",) if key not in data]
        if "setups" not in data and "variants" not in data:
            missing.append("variants")
        if missing:
            raise ConfigError(f"The comparison config has no {' and no '.join(missing)}.",
                              'Give "task" (e.g. "review-sentiment") and a list of "setups" '
                              '(or "variants", as older labs saved them).')
        data = dict(data)
        if "setups" in data:
            data.pop("variants", None)
        return cls(**data)


def legacy_variant(setup: Setup) -> dict[str, Any]:
    """A setup as an old variant dict: its name, its kind and the old settings that apply."""
    prompt, retrieval = setup.prompt, setup.retrieval
    values = {"shots": prompt.shots, "fewshot_set": prompt.fewshot_set,
              "constrained": prompt.constrained, "collection": retrieval.collection,
              "top_k": retrieval.top_k, "run_id": setup.model.run_id}
    return {"name": setup.name, "kind": setup.kind,
            **{key: values[key] for key in APPLIES.get(setup.kind, ())
               if values[key] is not None and (key != "shots" or values[key])}}


def _setups(given: Any, key: str, model: Any, engine: Any, task: Any) -> tuple[Setup, ...]:
    """The setups of a config, from Setups, their dicts, or old variants (specs or dicts)."""
    if isinstance(given, (str, bytes, dict)) or not isinstance(given, (list, tuple)):
        raise ConfigError(f"{key} must be a list of {key}, got {type(given).__name__}.",
                          f'Give {key} as a list, e.g. [{{"name": "zero-shot", "kind": '
                          '"zero-shot"}] (an old variant) or [{"name": "zero-shot", "prompt": '
                          '{"technique": "zero-shot"}}] (a setup).')
    setups = []
    for number, item in enumerate(given, 1):
        if isinstance(item, dict) and ("kind" in item or key == "variants"):
            item = _variant(item, number)
        elif isinstance(item, dict):
            item = Setup.from_dict(item)
        if isinstance(item, VariantSpec):
            item = setup_from_variant(item, model, engine, _collection(task))
        if not isinstance(item, Setup):
            raise ConfigError(f"{key}: item {number} must be an object with a name, got "
                              f"{type(item).__name__}.",
                              'Write each as {"name": ..., "prompt": {...}} or, as older '
                              'labs did, {"name": ..., "kind": ...}.')
        setups.append(item)
    return tuple(setups)


def _variant(saved: dict[str, Any], number: int) -> VariantSpec:
    check_known_settings(VariantSpec, saved, f"variant {number}")
    missing = [key for key in ("name", "kind") if key not in saved]
    if missing:
        raise ConfigError(f"variants: variant {number} has no {' and no '.join(missing)}.",
                          'Give each variant a "name" and a "kind".')
    return VariantSpec(**saved)


def _collection(task: Any) -> str | None:
    """The task's own document collection (an old RAG variant without one searched it)."""
    if not isinstance(task, str) or task not in list_tasks():
        return None
    return load_task(task).collection


def _examples(task: Task, n: int) -> list[dict]:
    rows = load_split(task.name, "test")[:n]
    return [{"id": r.get("id", str(i)), "input": r[task.input_field], "reference": task.answer_text(r)}
            for i, r in enumerate(rows)]


def _as_setup(spec: Any, config: CompareConfig) -> Setup:
    """A Setup, or an old VariantSpec as the setup it stands for on the config's model."""
    return spec if isinstance(spec, Setup) else \
        setup_from_variant(spec, config.model, config.engine, _collection(config.task))


def _shots(task: Task, spec: Any, seed: int):
    """The worked examples of a setup or an old variant (see ``setup_shots``)."""
    return setup_shots(task, spec, seed)


def shots_used(task: Task, spec: Any, seed: int) -> int | None:
    """Worked examples a setup (or an old variant) puts in its prompts."""
    from core import setup_eval

    setup = spec if isinstance(spec, Setup) else setup_from_variant(
        spec, task_collection=task.collection or "none")
    return setup_eval.shots_used(task, setup, seed)


def _fine_tuned(spec: Any, config: CompareConfig) -> tuple[ModelSpec, dict, dict, dict]:
    """(the model to load, template.json, the run's metrics, the run's config) of a tuned
    setup or variant; the metrics carry ``train_rows``, the labelled rows it really used."""
    run = tuned_run(_as_setup(spec, config).model)
    return run.model, run.template, run.metrics, run.config


def check_variants(config: CompareConfig) -> None:
    """Refuse, before anything runs or is saved, a setup that cannot serve this comparison:
    one that does not fit the task (ReAct on labels, calibration without labels), a saved
    few-shot set that is missing or labelled for another task, a training run that is
    unfinished or tuned another base model."""
    task = load_task(config.task)
    for setup in config.setups:
        check_setup_for_task(setup, task.kind, bool(task.schema))
        if setup.prompt.fewshot_set:
            setup_shots(task, setup.prompt, config.seed)
        if setup.model.run_id:
            tuned_run(setup.model)


def _costs(variant: dict, prices: Prices) -> None:
    if prices.input_per_million is not None and prices.output_per_million is not None:
        variant["cost_per_1000"] = round(1000 * (variant["prompt_tokens_mean"] * prices.input_per_million
                                                 + variant["completion_tokens_mean"]
                                                 * prices.output_per_million) / 1e6, 6)
    hour = prices.gpu_hour if variant.get("train_device") == "cuda" else prices.cpu_hour
    if variant.get("train_seconds") is not None and hour is not None:
        variant["training_cost"] = round(variant["train_seconds"] / 3600 * hour, 6)


def _row(setup: Setup) -> dict[str, Any]:
    return {"name": setup.name, "kind": setup.kind, "model": setup.model.source,
            "adapter": None, "n_shots": None, "n_train_examples": None, "train_steps": None,
            "train_seconds": None, "train_device": None, "error": None, "confusion": None,
            "cost_per_1000": None, "training_cost": None, "setup": setup.to_dict(),
            "parts": setup.parts, "description": setup.describe(),
            "calibrated": setup.prompt.calibrate, "draw_spread": None, "label_counts": None}


def _failed(row: dict, exc: LabError) -> None:
    row.update(engine=None, metrics={}, prompt_tokens_mean=None, completion_tokens_mean=None,
               latency_mean_s=None, tokens_per_s=None,
               error=f"{exc.problem} {exc.fix or ''}".strip())


def _engine(setup: Setup, row: dict, engines: dict, threads: int | None, work: str):
    """The setup's engine (loaded once per model in a comparison) and its run's template."""
    from core.engines import load_engine

    template = None
    if setup.model.run_id:
        run = tuned_run(setup.model)
        spec, template = run.model, run.template
        row.update(adapter=spec.adapter, train_seconds=run.metrics.get("train_seconds"),
                   train_device=run.config.get("device", "cpu").replace("auto", "cpu"),
                   n_train_examples=run.metrics["train_rows"], train_steps=run.metrics.get("steps"))
    else:
        spec = setup.model.model_spec()
    if spec not in engines:
        engines[spec] = load_engine(spec, threads, work)
    return engines[spec], template


def _draw_spread(engine, task: Task, setup: Setup, examples: list[dict], config: CompareConfig,
                 first: float, should_stop: Callable[[], bool], template: dict | None) -> dict:
    """The primary metric over ``config.draws`` other draws (and orders) of the setup's k
    examples from the train split, the first value being the setup's own draw."""
    metric, values = PRIMARY[task.kind], [first]
    for draw in range(1, config.draws + 1):
        out = run_setup(engine, task, setup, examples, (config.seed + draw) % (MAX_SEED + 1),
                        should_stop, template)
        values.append(score_outputs(task, examples, out, config.seed)[0][metric]["value"])
    return {"metric": metric, "draws": len(values), "values": values,
            "min": min(values), "max": max(values), "sd": round(float(np.std(values, ddof=1)), 4),
            "what": "other draws and orders of the same k examples"}


def _evaluate_setup(setup: Setup, task: Task, examples: list[dict], config: CompareConfig,
                    engines: dict, threads: int | None, should_stop: Callable[[], bool],
                    tick) -> tuple[dict, list | None]:
    """One setup's result row and its per-example outputs (None when it could not run)."""
    row = _row(setup)
    try:
        check_setup_for_task(setup, task.kind, bool(task.schema))
        work = "prefill" if task.kind == "classification" else "generate"  # scoring or answers
        engine, template = _engine(setup, row, engines, threads, work)
        row["n_shots"] = shots_used(task, setup, config.seed)
        out = run_setup(engine, task, setup, examples, config.seed, should_stop, template, tick)
        metrics, confusion, right = score_outputs(task, examples, out, config.seed)
        tokens = sum(out.completion_tokens)
        row.update(engine=engine.name, metrics=metrics, confusion=confusion,
                   prompt_tokens_mean=round(float(np.mean(out.prompt_tokens)), 1),
                   completion_tokens_mean=round(float(np.mean(out.completion_tokens)), 2),
                   latency_mean_s=round(out.seconds / len(examples), 4),
                   tokens_per_s=round(tokens / out.seconds, 2) if out.seconds else None,
                   label_counts=label_counts(task, out))
        _costs(row, config.prices)
        if config.draws and setup.prompt.technique == "few-shot" and not setup.prompt.fewshot_set:
            row["draw_spread"] = _draw_spread(engine, task, setup, examples, config,
                                              metrics[PRIMARY[task.kind]]["value"], should_stop,
                                              template)
    except LabError as exc:
        if should_stop():
            raise
        _failed(row, exc)
        return row, None
    scores = example_scores(task, examples, out, right)
    return row, [{"prediction": p if isinstance(p, str) or p is None else str(p),
                  "correct": bool(c), "raw": r[:500], "score": s}
                 for p, c, r, s in zip(out.predictions, right, out.raw, scores)]


def evaluate(config: CompareConfig, progress: Callable[..., None] | None = None,
             should_stop: Callable[[], bool] = lambda: False, threads: int | None = None,
             engines: dict | None = None) -> dict:
    """Run every setup on the same examples; the results dict ``core.report`` draws.

    ``progress(setup_index, setups, name)`` before each setup, and with two more
    arguments, ``(..., examples_done, examples)``, as a setup's examples go through.
    ``engines``: a dict of loaded engines by model spec to use and fill (a caller that
    evaluates one setup at a time, as the advisor does, loads each model once); by default
    each call loads its own.
    """
    from core.task_versions import check_warnings, comparison_checks, task_record

    started = time.perf_counter()
    task = load_task(config.task)
    examples = _examples(task, config.n_examples)
    checks = comparison_checks(config)  # the task's version against each tuned run's
    engines = {} if engines is None else engines  # one per model spec, shared by the setups
    rows, per_example, count = [], {}, len(config.setups)
    for number, setup in enumerate(config.setups):
        if progress:
            progress(number, count, setup.name)
        tick = (lambda done, n, at=number, name=setup.name:  # noqa: E731
                progress(at, count, name, done, n)) if progress else None
        row, outputs = _evaluate_setup(setup, task, examples, config, engines, threads,
                                       should_stop, tick)
        rows.append(row)
        if outputs is not None:
            per_example[setup.name] = outputs
    if progress:
        progress(count, count, "done")
    return {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - started, 1), "config": config.to_dict(),
            "task": {"name": task.name, "title": task.title, "kind": task.kind,
                     "labels": list(task.labels), **task_record(task, len(examples))},
            "warnings": check_warnings(checks) + metric_notes(task.kind), "tuned_runs": checks,
            "prices": asdict(config.prices), "variants": rows,
            "examples": [{**e, "outputs": {name: rows[i] for name, rows in per_example.items()}}
                         for i, e in enumerate(examples)]}
