"""The advisor's plan: which points to measure for a task, in what order, and how long each takes.

An ``AdviceConfig`` names the task, the time budget and the sweep's settings. ``plan`` lists the
candidate points in priority order (cheap and informative first: zero-shot, 4-shot, LoRA on all
rows, LoRA on 50, the other shot counts, the other row counts, calibration, retrieval, hybrids,
then repeats with other seeds), drops what cannot run (shots beyond the context window, row
counts above the train split) and fits the rest into the budget with a 15% margin; the first two
points always run. Every point is evaluated as a one-setup comparison (``compare_config``).

Each point's estimate comes from speeds measured on this machine (``core.advice_eta``); the
settings and the points themselves are ``core.advice_config``'s, re-exported here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from core.advice_config import (AdviceConfig, Point, parse_budget, point_seed, steps_for,
                                train_config)
from core.advice_eta import Measure, estimate_point, measure, misfit
from core.compare import CompareConfig
from core.errors import ConfigError, LabError
from core.setups import ModelChoice, PromptChoice, RetrievalChoice, Setup
from core.tasks import Task, available_splits, load_split, load_task

# the names callers have long imported from here, wherever they now live
__all__ = ["AdviceConfig", "Measure", "Plan", "PlannedPoint", "Point", "candidate_points",
           "compare_config", "estimate_point", "measure", "parse_budget", "plan", "point_key",
           "setup_for", "steps_for", "train_config"]

MARGIN = 0.15         # of the budget kept free: estimates are estimates
ALWAYS = 2            # the first points run whatever the budget (zero-shot and one few-shot)
SHOT_ORDER = (0, 4, 1, 2, 8)        # zero-shot, the usual few-shot, then the rest of the curve
ROW_ORDER = (0, 50, 100, 25, 200)   # all rows (the best tuning does), the small end, filling in


def _duration(seconds: float) -> str:
    """'40 s', '7 min', '1.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


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
        why = misfit(config, task, Point("prompt", shots=k), cache)
        (left.append((Point("prompt", shots=k), why)) if why
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


# -- what a point evaluates ------------------------------------------------------------------------


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
    seed = point_seed(config, point) if point.kind == "prompt" else config.seed
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


def _finished(key: str) -> bool:
    """Whether the point cache (``core.advice_sweep.points_dir``) holds this point finished."""
    from core.paths import data_dir

    return (data_dir() / "advice" / "points" / f"{key}.json").is_file()


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
        key = point_key(config, task, point)
        if _finished(key):  # measured by an earlier sweep with the same settings: reused
            planned.append(PlannedPoint(point, 0.0, key))
            continue
        seconds = estimate_point(config, task, point, cache)
        if point.kind == "prompt" and not loaded:  # the base model loads once, for the first
            seconds, loaded = seconds + cache["measure"].load_s, True
        if room is not None and len(planned) >= ALWAYS and spent + seconds > room:
            left.append((point, f"over the budget: ~{_duration(seconds)}, with "
                                f"~{_duration(max(0.0, room - spent))} left"))
            continue
        planned.append(PlannedPoint(point, round(seconds, 1), key))
        spent += seconds
    return Plan(tuple(planned), tuple(left), budget)
