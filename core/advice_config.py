"""The advisor's settings: the budget, the ``AdviceConfig`` of an advice, the ``Point`` the sweep
measures, and the training run a tuned point makes (``train_config``).

These are the objects the page builds, the CLI reads from JSON and an advice folder saves; the
plan (``core.advice_plan``) and its estimates (``core.advice_eta``) build on them.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core.compare import EXAMPLE_PRICES, MAX_SEED, Prices
from core.config import DEFAULT_MODEL, ModelSpec, check_field_types, check_known_settings
from core.errors import ConfigError
from core.setups import MAX_SHOTS
from core.tasks import Task, list_tasks, load_split
from core.train_config import NAME_MAX, TrainConfig, preset

BUDGETS: dict[str, float | None] = {"quick": 600.0, "thorough": 3600.0, "none": None}
UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
EXAMPLES = {"quick": 60, "thorough": 150, "none": 500}   # test rows scored per point
REPEATS = {"quick": 1, "thorough": 3, "none": 3}
PRESET = "live-demo"
# the advisor sets these for every point; an override of them would break the sweep's pairing
FIXED_TRAIN = ("task", "data_path", "data_format", "columns", "model", "seed", "method", "name",
               "max_train_examples", "max_eval_examples", "validation_split",
               "validation_fraction")


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
    prices: Prices = EXAMPLE_PRICES  # Compare's example prices: break-even and cost need some
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



# -- what a point trains ------------------------------------------------------------------------


def steps_for(rows: int, base: TrainConfig) -> int:
    """Optimizer steps for a run on ``rows`` rows: about 3 passes over them, at least 12,
    at most the preset's steps."""
    cap = base.max_steps or 10**7
    return min(cap, max(12, math.ceil(3 * rows / (base.batch_size * base.grad_accum))))


def point_seed(config: AdviceConfig, point: Point) -> int:
    """The seed of the point's draw or run: the config's seed plus the point's offset."""
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
    return replace(base, task=task.name, model=config.model, seed=point_seed(config, point),
                   max_train_examples=point.rows, max_steps=steps_for(point.rows, base),
                   validation_split=None, validation_fraction=0.0,
                   name=name if len(name) <= NAME_MAX else name[:NAME_MAX - 3] + "...")

