"""The advisor's plan: which points to measure for a task, in what order, and how long each takes.

An ``AdviceConfig`` names the task, the time budget and the sweep's settings. ``plan`` lists the
candidate points in priority order (cheap and informative first: zero-shot, 4-shot, LoRA on all
rows, LoRA on 50, the other shot counts, the other row counts, calibration, retrieval, hybrids,
then repeats with other seeds), drops what cannot run (shots beyond the context window, row
counts above the train split) and fits the rest into the budget with a 15% margin; the first two
points always run. Every point is evaluated as a one-setup comparison (``compare_config``).

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
  tuned: about the references' length), each token through the body and the head. Loading a tuned model costs what the base took.
- retrieval passages count as ``top_k`` chunks of the default size (no search while planning).

Measured on 2 busy cores (llama.cpp, review-sentiment, 24 test rows): zero-, 4- and 8-shot
estimated 28, 33 and 38 s against 29, 30 and 32 s. Long prompts run high on llama.cpp (a
batched prefill costs less a token than the single-token label steps the speed is timed on).
On a GPU the CPU's training figure is used: an upper bound.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from core.compare import MAX_SEED, CompareConfig, Prices
from core.config import DEFAULT_MODEL, ModelSpec, check_field_types, check_known_settings
from core.errors import ConfigError, LabError
from core.setups import MAX_SHOTS, ModelChoice, PromptChoice, RetrievalChoice, Setup
from core.tasks import Task, available_splits, list_tasks, load_split, load_task
from core.train_config import NAME_MAX, TrainConfig, preset

BUDGETS: dict[str, float | None] = {"quick": 600.0, "thorough": 3600.0, "none": None}
UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
EXAMPLES = {"quick": 60, "thorough": 150, "none": 500}   # test rows scored per point
REPEATS = {"quick": 1, "thorough": 3, "none": 3}
MARGIN = 0.15         # of the budget kept free: estimates are estimates
ALWAYS = 2            # the first points run whatever the budget (zero-shot and one few-shot)
SHOT_ORDER = (0, 4, 1, 2, 8)        # zero-shot, the usual few-shot, then the rest of the curve
ROW_ORDER = (0, 50, 100, 25, 200)   # all rows (the best tuning does), the small end, filling in
SAMPLE_ROWS = 24      # test rows whose prompts are measured
PRESET = "live-demo"
# the advisor sets these for every point; an override of them would break the sweep's pairing
FIXED_TRAIN = ("task", "data_path", "data_format", "columns", "model", "seed", "method", "name",
               "max_train_examples", "max_eval_examples", "validation_split",
               "validation_fraction")


def _duration(seconds: float) -> str:
    """'40 s', '7 min', '1.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def parse_budget(text: str) -> float | None:
    """Seconds of a budget: quick, thorough, none (no limit: None) or a time such as 10m, 90s,
    1.5h (1 minute to 24 hours)."""
    fix = ("Use quick (about 10 minutes), thorough (about an hour), none (no limit), or a time "
           "such as 10m, 90s or 1.5h.")
    if not isinstance(text, str):
        raise ConfigError(f"The budget must be text, got {text!r}.", fix)
    words = text.strip().lower()
    if words in BUDGETS:
        return BUDGETS[words]
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)", words)
    if not found:
        raise ConfigError(f"Unknown budget {text[:40]!r}.", fix)
    seconds = float(found[1]) * UNITS[found[2]]
    if not 60 <= seconds <= 86400:
        raise ConfigError(f"A budget of {text.strip()} is outside 1 minute to 24 hours.",
                          "Give 60s to 24h, or none for no limit.")
    return seconds


@dataclass(frozen=True)
class AdviceConfig:
    """What an advice measures: the task, the budget, the model and the sweep's settings.

    ``n_examples``: test rows scored per point (None: 60 quick, 150 thorough, all test rows up
    to 500 without a limit). ``shots``: few-shot k values; ``rows``: training rows of the tuned
    points (0 = all). ``seeds``: repeats of tuned points and draws of shot points (None: 1
    quick, else 3). ``train``: overrides on the live-demo preset."""

    task: str
    budget: str = "quick"
    model: str = DEFAULT_MODEL
    engine: str = "auto"
    n_examples: int | None = None
    shots: tuple[int, ...] = (0, 1, 2, 4, 8)
    rows: tuple[int, ...] = (25, 50, 100, 200, 0)
    seeds: int | None = None
    hybrids: bool = True
    seed: int = 0
    prices: Prices = field(default_factory=Prices)
    train: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("shots", "rows"):
            if isinstance(getattr(self, name), list):  # JSON gives lists
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.prices, dict):
            check_known_settings(Prices, self.prices, "prices")
            object.__setattr__(self, "prices", Prices(**self.prices))
        check_field_types(self, "Advice")
        if self.task not in list_tasks():
            raise ConfigError(f"There is no task named {self.task[:60]!r} (task).",
                              f"Pick one of: {', '.join(list_tasks())}.")
        parse_budget(self.budget)
        ModelSpec(source=self.model, engine=self.engine)
        self._check_counts()
        self._check_train()

    def _check_counts(self) -> None:
        if self.n_examples is not None and not 5 <= self.n_examples <= 2000:
            raise ConfigError(f"n_examples (test rows scored per point) must be 5 to 2000, got "
                              f"{self.n_examples}.", "Use 60-150, or leave it empty.")
        if not self.shots or any(not 0 <= k <= MAX_SHOTS for k in self.shots):
            raise ConfigError(f"shots must list few-shot counts from 0 to {MAX_SHOTS}, got "
                              f"{list(self.shots)}.", "Use e.g. [0, 1, 2, 4, 8].")
        if any(n < 0 for n in self.rows):
            raise ConfigError(f"rows must be training row counts of at least 0 (0 = all), got "
                              f"{list(self.rows)}.", "Use e.g. [25, 50, 100, 200, 0].")
        for name in ("shots", "rows"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ConfigError(f"{name} lists a value twice: {list(values)}.",
                                  "List each value once.")
        object.__setattr__(self, "shots", tuple(sorted(self.shots)))
        object.__setattr__(self, "rows", tuple(sorted(self.rows, key=lambda n: (n == 0, n))))
        if self.seeds is not None and not 1 <= self.seeds <= 10:
            raise ConfigError(f"seeds (repeats of each point) must be 1 to 10, got {self.seeds}.",
                              "Use 1 for a quick look, 3 to see the spread.")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be 0 to {MAX_SEED}, got {self.seed}.", "Use e.g. 0.")

    def _check_train(self) -> None:
        check_known_settings(TrainConfig, self.train, "training (train)")
        fixed = sorted(set(self.train) & set(FIXED_TRAIN))
        if fixed:
            raise ConfigError(f"train sets {', '.join(fixed)}, which the advisor sets itself for "
                              "each point (it trains LoRA on the task's first rows).",
                              f"Leave {', '.join(fixed)} out of train.")
        try:
            preset(PRESET, **self.train)
        except ConfigError as exc:
            raise ConfigError(f"train: {exc.problem}", exc.fix) from None
        object.__setattr__(self, "train", dict(self.train))

    @property
    def budget_s(self) -> float | None:
        """The budget in seconds; None: no limit."""
        return parse_budget(self.budget)

    @property
    def tier(self) -> str:
        """quick, thorough or none: which defaults the budget takes."""
        seconds = self.budget_s
        return "none" if seconds is None else "quick" if seconds < 1800 else "thorough"

    def examples(self) -> int:
        """Test rows scored per point (n_examples, else the budget's default)."""
        if self.n_examples is not None:
            return self.n_examples
        if self.tier == "none":
            return max(5, min(EXAMPLES["none"], len(load_split(self.task, "test"))))
        return EXAMPLES[self.tier]

    def repeats(self) -> int:
        """How many seeds (tuned) or draws (shots) each point is measured with."""
        return self.seeds if self.seeds is not None else REPEATS[self.tier]

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data.update(shots=list(self.shots), rows=list(self.rows), prices=asdict(self.prices),
                    train=dict(self.train))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdviceConfig:
        """A config from its JSON; unknown keys are a ConfigError naming the known ones."""
        if not isinstance(data, dict):
            raise ConfigError(f"An advice config must be a JSON object, got "
                              f"{type(data).__name__}.", 'Write {"task": "review-sentiment"}.')
        check_known_settings(cls, data, "advice")
        if "task" not in data:
            raise ConfigError("The advice config names no task.", 'Give "task".')
        return cls(**data)


POINT_KINDS = ("prompt", "tuned", "hybrid")


@dataclass(frozen=True)
class Point:
    """One measurement of the sweep: a prompt on the base model, a tuned model, or both.

    ``seed``: a prompt point's draw of its k examples (0 = the first draw), a tuned or hybrid
    point's training seed; both are offsets on the config's seed."""

    kind: str
    shots: int = 0
    rows: int = 0
    seed: int = 0
    calibrate: bool = False
    retrieval: bool = False

    def __post_init__(self) -> None:
        check_field_types(self, "Advice point")
        if self.kind not in POINT_KINDS:
            raise ConfigError(f"Unknown point kind {self.kind!r}.",
                              f"Use one of {', '.join(POINT_KINDS)}.")
        if not 0 <= self.shots <= MAX_SHOTS or not 0 <= self.seed <= MAX_SEED or self.rows < 0:
            raise ConfigError(f"Point {self.kind}: shots must be 0 to {MAX_SHOTS}, seed and rows "
                              f"at least 0; got {self.shots}, {self.seed}, {self.rows}.")
        if (self.kind == "prompt") != (self.rows == 0):
            raise ConfigError("A prompt point trains on no rows; a tuned or hybrid point on at "
                              f"least one; got a {self.kind} point with rows={self.rows}.")
        if self.kind == "tuned" and (self.shots or self.retrieval):
            raise ConfigError("A tuned point has no shots or retrieval: that is a hybrid.")
        if self.kind == "hybrid" and not (self.shots or self.retrieval):
            raise ConfigError("A hybrid point adds shots or retrieval to a tuned model.")
        if self.calibrate and (self.kind != "prompt" or self.retrieval):
            raise ConfigError("Only a prompt point without retrieval is calibrated.")
        if self.kind == "prompt" and self.seed and not self.shots:
            raise ConfigError("A point without shots has no draws: its seed must be 0.")

    @property
    def name(self) -> str:
        """'zero-shot', '4-shot (draw 2)', 'LoRA 50 rows (seed 1)', 'LoRA 300 rows + 4-shot'."""
        if self.kind == "prompt":
            words = f"{self.shots}-shot" if self.shots else "zero-shot"
            if self.retrieval:
                words = f"retrieval + {words}" if self.shots else "retrieval"
            words = f"calibrated {words}" if self.calibrate else words
            return words + (f" (draw {self.seed + 1})" if self.seed else "")
        words = f"LoRA {self.rows} rows"
        words += f" + {self.shots}-shot" if self.shots else ""
        words += " + retrieval" if self.retrieval else ""
        return words + (f" (seed {self.seed})" if self.seed else "")

    @property
    def labelled(self) -> int:
        """Labelled examples the point uses: its shots and its training rows."""
        return self.shots + self.rows

    @property
    def family(self) -> str:
        if self.kind == "prompt":
            return "retrieval" if self.retrieval else "prompted"
        return self.kind

    @property
    def tuned_point(self) -> Point | None:
        """The tuned point whose run a tuned or hybrid point evaluates."""
        return None if self.kind == "prompt" else Point("tuned", rows=self.rows, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Point:
        if not isinstance(data, dict):
            raise ConfigError(f"A point must be a JSON object, got {type(data).__name__}.")
        check_known_settings(cls, data, "advice point")
        return cls(**data)


# -- the candidates -------------------------------------------------------------------------------


def _check_splits(task: Task) -> None:
    """A task the advisor can sweep: a train split (shots and tuning) and a test split."""
    splits = available_splits(task.name)
    for split, use in (("train", "draws its few-shot examples and trains on"),
                       ("test", "scores every point on")):
        if split not in splits:
            raise ConfigError(f"Task {task.name} has no {split} split, which the advisor {use}.",
                              f"Add a {split} split to the task (Tasks page), or compare setups "
                              "by hand on the Compare page.")


def _ranked(values: tuple[int, ...], order: tuple[int, ...]) -> list[int]:
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), v))


def _candidates(config: AdviceConfig, task: Task,
                cache: dict) -> tuple[list[Point], list[tuple[Point, str]]]:
    """(points in priority order, points left out with the reason)."""
    _check_splits(task)
    left: list[tuple[Point, str]] = []
    prompts = []
    for k in _ranked(config.shots, SHOT_ORDER):
        misfit = _misfit(config, task, Point("prompt", shots=k), cache)
        (left.append((Point("prompt", shots=k), misfit)) if misfit
         else prompts.append(Point("prompt", shots=k)))
    tuned, train_rows = [], len(load_split(task.name, "train"))
    for n in _ranked(config.rows, ROW_ORDER):
        point = Point("tuned", rows=n or train_rows)
        if point.rows > train_rows:
            left.append((point, f"the task has only {train_rows} training rows"))
        elif point not in tuned:
            tuned.append(point)
    points = prompts[:2] + tuned[:2] + prompts[2:] + tuned[2:]
    if task.kind == "classification" and Point("prompt") in prompts:
        points.append(Point("prompt", calibrate=True))
    if task.collection:
        points.append(Point("prompt", retrieval=True))
    shots = [p.shots for p in prompts if p.shots]
    if config.hybrids and tuned:
        if shots:
            points.append(Point("hybrid", shots=shots[0], rows=tuned[0].rows))
        if task.collection:
            points.append(Point("hybrid", rows=tuned[0].rows, retrieval=True))
    return points + _repeats(config, prompts + tuned), left


def _repeats(config: AdviceConfig, base: list[Point]) -> list[Point]:
    """Other seeds of the tuned points and other draws of the shot points: the tuned point on
    all rows and the first few-shot point first, then the rest in priority order."""
    tuned = [p for p in base if p.kind == "tuned"]
    shots = [p for p in base if p.kind == "prompt" and p.shots]
    first = tuned[:1] + shots[:1]
    order = first + [p for p in tuned[1:2] + shots[1:] + tuned[2:] if p not in first]
    return [replace(p, seed=seed) for seed in range(1, config.repeats()) for p in order]


def candidate_points(config: AdviceConfig, task: Task) -> list[Point]:
    """Every point the sweep could measure, in priority order (cheap and informative first);
    shots that do not fit the context and rows above the train split are not among them."""
    return _candidates(config, task, {})[0]


def _misfit(config: AdviceConfig, task: Task, point: Point, cache: dict) -> str | None:
    """Why the point's prompts overflow the context window; None when they fit."""
    if not point.shots:
        return None
    window = _measure(config, task, cache).window
    built, tokens = _prompts(config, task, point, cache)
    if window and max(tokens) + _answer_tokens(cache["measure"], task, point, built[0]) > window:
        return f"{point.shots} shots do not fit the {window:,}-token context"
    return None


# -- what a point trains and evaluates ----------------------------------------------------------


def steps_for(rows: int, base: TrainConfig) -> int:
    """Optimizer steps for a run on ``rows`` rows: about 3 passes over them, at least 12,
    at most the preset's steps."""
    cap = base.max_steps or 10**7
    return min(cap, max(12, math.ceil(3 * rows / (base.batch_size * base.grad_accum))))


def _seed(config: AdviceConfig, point: Point) -> int:
    return (config.seed + point.seed) % (MAX_SEED + 1)


def train_config(config: AdviceConfig, task: Task, point: Point) -> TrainConfig:
    """The run a tuned or hybrid point trains (a hybrid: its tuned point's run): the live-demo
    preset with the config's overrides, on ``point.rows`` rows drawn by the seed, no
    validation inside the run (the sweep scores the test rows itself)."""
    if point.kind == "prompt":
        raise ConfigError(f"The prompt point {point.name} trains nothing.")
    base = preset(PRESET, **config.train)
    tuned = point.tuned_point
    name = f"advisor {task.name}: {tuned.name}"
    return replace(base, task=task.name, model=config.model, seed=_seed(config, point),
                   max_train_examples=point.rows, max_steps=steps_for(point.rows, base),
                   validation_split=None, validation_fraction=0.0,
                   name=name if len(name) <= NAME_MAX else name[:NAME_MAX - 3] + "...")


def setup_for(config: AdviceConfig, task: Task, point: Point, run_id: str | None = None) -> Setup:
    """The point's setup, named after it: the base model (a prompt point) or the tuned run
    ``run_id`` (tuned and hybrid points), zero- or few-shot, calibrated, with retrieval."""
    if point.kind != "prompt" and not run_id:
        raise ConfigError(f"{point.name} is evaluated on its training run, and none is given.",
                          "Train the point first (train_config), then pass its run id.")
    if point.calibrate and task.kind != "classification":
        raise ConfigError(f"{point.name}: calibration needs labels; {task.name} has none.")
    if point.retrieval and not task.collection:
        raise ConfigError(f"{point.name}: {task.name} has no document collection.")
    model = ModelChoice(source=config.model, engine=config.engine,
                        run_id=run_id if point.kind != "prompt" else None)
    prompt = PromptChoice("few-shot", shots=point.shots, calibrate=point.calibrate) \
        if point.shots else PromptChoice(calibrate=point.calibrate)
    retrieval = RetrievalChoice(task.collection) if point.retrieval else RetrievalChoice()
    return Setup(point.name, model, prompt, retrieval)


def compare_config(config: AdviceConfig, task: Task, point: Point,
                   run_id: str | None = None) -> CompareConfig:
    """The one-setup comparison that evaluates the point: the same first test rows for every
    point; a prompt point's draw is the comparison's seed (the config's plus the point's)."""
    seed = _seed(config, point) if point.kind == "prompt" else config.seed
    return CompareConfig(task.name, [setup_for(config, task, point, run_id)],
                         n_examples=config.examples(), seed=seed, model=config.model,
                         engine=config.engine, prices=config.prices)


def point_key(config: AdviceConfig, task: Task, point: Point) -> str:
    """A sha256 of everything that decides the point's result: same settings, same key."""
    data = {"task": task.name, "fingerprint": task.fingerprint, "model": config.model,
            "engine": config.engine, "n_examples": config.examples(), "seed": config.seed,
            "point": point.to_dict()}
    if point.kind != "prompt":
        data["train"] = {k: v for k, v in train_config(config, task, point).to_dict().items()
                         if k != "name"}
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- measuring: the evaluation engine's window, its tokens and its speed here -------------------

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
    """(non-embedding, embedding) parameters from the safetensors headers, no loading."""
    from safetensors import safe_open

    total = embed = 0
    for file in Path(location).glob("*.safetensors"):
        with safe_open(str(file), framework="np") as fh:
            for key in fh.keys():
                numel = math.prod(fh.get_slice(key).get_shape())
                total += numel
                embed += numel if "embed_tokens" in key or "wte" in key else 0
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
    seed = _seed(config, point) if not tuned else config.seed
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


# -- the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedPoint:
    """A point the sweep will measure, its estimated seconds and its cache key."""

    point: Point
    estimate_s: float
    key: str

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point.to_dict(), "name": self.point.name,
                "family": self.point.family, "labelled": self.point.labelled,
                "estimate_s": self.estimate_s, "key": self.key}


@dataclass(frozen=True)
class Plan:
    """What runs, in order, with its estimates; what was left out, and why."""

    points: tuple[PlannedPoint, ...]
    left_out: tuple[tuple[Point, str], ...]
    budget_s: float | None

    @property
    def eta_s(self) -> float:
        """Seconds the planned points should take in all."""
        return round(sum(p.estimate_s for p in self.points), 1)

    def to_dict(self) -> dict[str, Any]:
        return {"points": [p.to_dict() for p in self.points],
                "left_out": [{"point": p.to_dict(), "name": p.name, "reason": why}
                             for p, why in self.left_out],
                "budget_s": self.budget_s, "eta_s": self.eta_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """A plan from its JSON (plan.json); a damaged one is a LabError."""
        try:
            points = tuple(PlannedPoint(Point.from_dict(p["point"]), float(p["estimate_s"]),
                                        str(p["key"])) for p in data["points"])
            left = tuple((Point.from_dict(p["point"]), str(p["reason"]))
                         for p in data["left_out"])
            budget = data["budget_s"]
            return cls(points, left, None if budget is None else float(budget))
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise LabError(f"The advice plan is damaged ({type(exc).__name__}: {exc}).",
                           "Plan the advice again: start it anew.") from None

    def lines(self) -> list[str]:
        """'1. zero-shot (~40 s)', ..., then 'left out: LoRA 200 rows (why)'."""
        lines = [f"{number}. {p.point.name} (~{_duration(p.estimate_s)})"
                 for number, p in enumerate(self.points, 1)]
        return lines + [f"left out: {point.name} ({why})" for point, why in self.left_out]


def plan(config: AdviceConfig, engines: dict | None = None,
         threads: int | None = None) -> Plan:
    """The points that fit the budget (less a 15% margin) in priority order, each with its
    estimate from speeds measured here; the first two always run. ``engines``: the sweep's
    dict of loaded engines (the base model is loaded to measure; the sweep reuses it)."""
    task = load_task(config.task)
    _check_splits(task)
    cache: dict = {"engines": engines, "threads": threads}
    points, left = _candidates(config, task, cache)
    budget = config.budget_s
    room = None if budget is None else budget * (1 - MARGIN)
    planned: list[PlannedPoint] = []
    spent, loaded = 0.0, False
    for point in points:
        tuned = point.tuned_point
        if point.kind == "hybrid" and tuned not in [p.point for p in planned]:
            left.append((point, f"its tuned point {tuned.name} is left out"))
            continue
        seconds = estimate_point(config, task, point, cache)
        if point.kind == "prompt" and not loaded:  # the base model loads once, for the first
            seconds, loaded = seconds + cache["measure"].load_s, True
        if room is not None and len(planned) >= ALWAYS and spent + seconds > room:
            left.append((point, f"over the budget: ~{_duration(seconds)}, with "
                                f"~{_duration(max(0.0, room - spent))} left"))
            continue
        planned.append(PlannedPoint(point, round(seconds, 1), point_key(config, task, point)))
        spent += seconds
    return Plan(tuple(planned), tuple(left), budget)
