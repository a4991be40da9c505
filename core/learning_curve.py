"""How many labelled rows would fine-tuning need to match the best prompt?

The advisor trains the same model on the first n training rows for several n and scores every
tuned point on the same test examples as the prompted points. This module fits quality against
n and solves the fitted curve for the rows at which it reaches the best prompt's quality.

- Model: an inverse power law ``q(n) = a - b * n**-c`` (the usual shape of a learning curve:
  it rises and levels off at ``a``), fitted by least squares over the tuned points with the
  bounds ``0 <= a <= 1``, ``b >= 0``, ``0 < c <= 2``: for each ``c`` on a grid the best ``a``
  and ``b`` have a closed form (a bounded linear least squares in two unknowns), and the best
  ``c`` is kept. With fewer than 3 distinct n a power law has too few points to pin its three
  numbers, so a straight line in log n is fitted instead, and the words say so.
- Uncertainty: a bootstrap over the test examples. One draw resamples the example indices once
  and recomputes every point's score and the target's on the same draw (all are paired), then
  refits and solves; the 95% interval is the 2.5th to 97.5th percentile of those solutions.
- Honesty: an estimate past the largest measured n is flagged ``extrapolated`` and the words say
  it; past 4 times the largest measured n (or a curve that levels off below the target) there is
  no estimate: "not reached within the rows you have". Beside the fit, ``measured`` is the
  smallest n whose tuned model (its seeds averaged per example) beats the target on the paired
  test (``core.paired.compare_pair``), a fact rather than a model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import ConfigError
from core.paired import compare_pair

RESAMPLES = 300           # bootstrap draws; fits are vectorised, so this takes well under 1 s
C_GRID = np.linspace(0.02, 2.0, 100)  # exponents tried; 0 itself would make n**-c constant
EXTRAPOLATE_LIMIT = 4.0   # past this many times the largest measured n: "not reached"
FAR = 2.0                 # past this many times, the words say how far it reaches
SEED_SUFFIX = re.compile(r" \(seed \d+\)$")  # "LoRA 50 rows (seed 1)": a repeat's name
DRAWN = 40                # points of the fitted curve handed to the chart
POWER_LAW = ("inverse power law q(n) = a - b·n^-c, fitted by bounded least squares "
             "(0 ≤ a ≤ 1, b ≥ 0, c from 0.02 to 2)")
LOG_LINE = ("straight line in log n (fewer than 3 training sizes were measured, too few for "
            "a power law)")


@dataclass(frozen=True)
class CurvePoint:
    """One scored point: its name, labelled rows (tuned) or shots (the target), and its
    per-example scores on the shared test examples (0/1 or a score between 0 and 1)."""

    name: str
    rows: int
    scores: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple(float(s) for s in self.scores))
        if not self.scores:
            raise ConfigError(f"Point {self.name!r} has no per-example scores.",
                              "Score every point on the same test examples.")
        if not all(math.isfinite(s) for s in self.scores):
            raise ConfigError(f"Point {self.name!r} has a score that is not a number.",
                              "Give each example a score between 0 and 1.")
        if self.rows < 0:
            raise ConfigError(f"Point {self.name!r} has {self.rows} rows.",
                              "Give the training rows it used (0 or more).")


# --- fitting (vectorised over bootstrap draws: Y has one row per draw, one column per point) ---

def _power_fit(ns: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bounded least squares of ``a - b * n**-c`` for every row of ``Y``: (a, b, c)."""
    x = ns[None, :] ** -C_GRID[:, None]                      # (C, m)
    m = ns.size
    sx, sxx = x.sum(1), (x * x).sum(1)                       # (C,)
    sy, syy = Y.sum(1, keepdims=True), (Y * Y).sum(1, keepdims=True)   # (R, 1)
    sxy = Y @ x.T                                            # (R, C)
    centred = np.maximum(sxx - sx * sx / m, 1e-300)
    slope = (sxy - sy * sx / m) / centred
    # a bounded convex quadratic has its optimum at the free one when that is within the
    # bounds, else at the best of the optima along the edges b = 0, a = 0 and a = 1
    zeros = np.zeros_like(sxy)
    candidates = [(sy / m - slope * sx / m, -slope),            # free: y = a + slope x
                  (np.clip(sy / m, 0, 1) + zeros, zeros),       # b = 0: a flat line
                  (zeros, np.maximum(-sxy / sxx, 0)),           # a = 0
                  (zeros + 1, np.maximum((sx - sxy) / sxx, 0))]  # a = 1
    best_sse = np.full(sxy.shape, np.inf)
    best_a, best_b = zeros, zeros
    for a, b in candidates:
        sse = syy + m * a * a + b * b * sxx - 2 * a * sy + 2 * b * sxy - 2 * a * b * sx
        sse = np.where((b >= 0) & (a >= 0) & (a <= 1), sse, np.inf)
        better = sse < best_sse
        best_sse = np.where(better, sse, best_sse)
        best_a, best_b = np.where(better, a, best_a), np.where(better, b, best_b)
    k = np.argmin(best_sse, axis=1)                          # the best c of each draw
    rows = np.arange(Y.shape[0])
    return best_a[rows, k], best_b[rows, k], C_GRID[k]


def _power_crossing(a: np.ndarray, b: np.ndarray, c: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rows n where ``a - b n^-c`` reaches ``target``: inf where it levels off below."""
    with np.errstate(divide="ignore", invalid="ignore"):
        n = (b / (a - target)) ** (1 / c)
    n = np.where(a > target, np.where(b > 0, n, 1.0), np.inf)
    return np.maximum(n, 1.0)


def _log_fit(ns: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of ``intercept + slope * ln n`` for every row of ``Y``."""
    x = np.log(ns)
    xc = x - x.mean()
    slope = (Y @ xc) / (xc @ xc)
    return Y.mean(1) - slope * x.mean(), slope


def _log_crossing(intercept: np.ndarray, slope: np.ndarray, target: np.ndarray,
                  smallest: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        n = np.exp((target - intercept) / slope)
    above = intercept + slope * math.log(smallest) >= target  # a flat line already there
    return np.maximum(np.where(slope > 0, n, np.where(above, smallest, np.inf)), 1.0)


def _fit(ns: np.ndarray, Y: np.ndarray, target: np.ndarray, log_line: bool
         ) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Crossings and fitted parameters of every row of ``Y``."""
    if log_line:
        intercept, slope = _log_fit(ns, Y)
        return (_log_crossing(intercept, slope, target, float(ns.min())),
                [{"intercept": float(i), "slope": float(s)} for i, s in zip(intercept, slope)])
    a, b, c = _power_fit(ns, Y)
    return _power_crossing(a, b, c, target), [{"a": float(x), "b": float(y), "c": float(z)}
                                              for x, y, z in zip(a, b, c)]


def curve_value(params: dict[str, float], n: float) -> float:
    """The fitted quality at n training rows."""
    if "slope" in params:
        return params["intercept"] + params["slope"] * math.log(n)
    return params["a"] - params["b"] * n ** -params["c"]


# --- the rows-needed estimate -------------------------------------------------------------

def _draws(count: int, resamples: int, seed: int) -> np.ndarray:
    """Resampled example indices, one row per draw; row 0 is the examples as they are."""
    rng = np.random.default_rng(seed)
    return np.vstack([np.arange(count), rng.integers(0, count, (resamples, count))])


def _check_same_examples(points: Sequence[CurvePoint], target: CurvePoint | None) -> int:
    sizes = {len(p.scores) for p in [*points, *([target] if target else [])]}
    if len(sizes) > 1:
        raise ConfigError(f"The points were scored on different numbers of test examples "
                          f"({', '.join(str(s) for s in sorted(sizes))}).",
                          "Score every point on the same test examples (the advisor does).")
    return sizes.pop()


def _pooled(points: Sequence[CurvePoint]) -> list[CurvePoint]:
    """One point per training size: its seeds' scores averaged per example."""
    sizes = sorted({p.rows for p in points})
    pooled = []
    for n in sizes:
        same = [p for p in points if p.rows == n]
        scores = np.mean([p.scores for p in same], axis=0)
        name = same[0].name if len(same) == 1 else \
            f"{SEED_SUFFIX.sub('', same[0].name)} ({len(same)} seeds averaged)"
        pooled.append(CurvePoint(name, n, tuple(scores)))
    return pooled


def measured_crossing(points: Sequence[CurvePoint], target: CurvePoint, metric: str,
                      seed: int = 0) -> dict[str, Any] | None:
    """The paired difference of the smallest training size whose tuned model beats the target
    for real (seeds averaged per example); None when no size does."""
    for point in _pooled(points):
        pair = compare_pair(point.name, point.scores, target.name, target.scores, metric, seed)
        if pair["real"] and pair["leader"] == point.name:
            return {**pair, "rows": point.rows}
    return None


def _interval(values: np.ndarray) -> tuple[float, float]:
    finite = np.where(np.isfinite(values), values, 1e18)  # no crossing: past any limit
    return float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))


def _sampled(params: dict[str, float], start: float, stop: float) -> list[list[float]]:
    if stop <= start:
        return []
    return [[round(float(n), 2), round(curve_value(params, float(n)), 4)]
            for n in np.geomspace(start, stop, DRAWN)]


def _rows_text(n: float) -> str:
    """Rows as people say an estimate: 7, 68, 140, 1,200 (two significant figures)."""
    if n < 10:
        return str(math.ceil(n))
    digits = 1 - int(math.floor(math.log10(n)))
    return f"{round(n, digits):,.0f}"


def _measured_words(pair: dict[str, Any] | None) -> str:
    if pair is None:
        return "measured: no tuned size beats it on the paired test yet"
    return (f"measured: {pair['leader']} already beats it (+{pair['difference']:.2f} "
            f"[{pair['low']:.2f}, {pair['high']:.2f}], paired)")


def _found_words(fit: dict[str, Any], target: str, pair: dict[str, Any] | None) -> str:
    """The sentence for an estimate within 4 times the largest measured size."""
    est, low, high, top, limit = (fit[k] for k in ("estimate", "low", "high", "top", "limit"))
    lower, upper = (f"more than {_rows_text(limit)}" if x is None or x > limit else _rows_text(x)
                    for x in (low, high))
    said = (f"About {_rows_text(est)} labelled rows (95% interval {lower} to {upper}) "
            f"should match {target}")
    if est < fit["smallest"]:
        said += f", fewer than the smallest size measured ({fit['smallest']})"
    if est > top:
        said += f", extrapolated past the {top} rows measured"
        said += f" to {est / top:.1f} times as many, a rough guess" if est > FAR * top else ""
    if fit["log_line"]:
        said += " (a line in log n: fewer than 3 sizes measured)"
    return f"{said}; {_measured_words(pair)}."


def _missed_words(fit: dict[str, Any], target: str, value: float,
                  pair: dict[str, Any] | None) -> str:
    """The sentence when the fitted curve does not reach the target within 4x."""
    params, top, limit = fit["params"], fit["top"], fit["limit"]
    if "a" in params and params["a"] <= value:
        why = f"levels off at {params['a']:.2f}, below {target}"
    elif "slope" in params and params["slope"] <= 0:
        why = "does not rise with more rows"
    else:
        why = (f"reaches {target} only past {_rows_text(limit)} rows "
               f"({EXTRAPOLATE_LIMIT:g} times the {top} measured)")
    if pair is not None:  # a measurement beats the fit: say both, trust the measurement
        return (f"The fitted curve {why}, yet {_measured_words(pair)}: trust the "
                "measurement.")
    return f"Not reached within the rows you have: the fitted curve {why}; " \
           f"{_measured_words(pair)}."


def _no_estimate(model: str, words: str, target: CurvePoint | None, value: float | None,
                 pair: dict[str, Any] | None) -> dict[str, Any]:
    return {"model": model, "params": None, "fitted": [], "extension": [],
            "target": None if target is None else {"name": target.name, "value": value},
            "n_needed": {"estimate": None, "low": None, "high": None,
                         "measured": None if pair is None else pair["rows"],
                         "measured_pair": pair, "reached": pair is not None,
                         "extrapolated": False, "words": words}}


def _fit_all(points: Sequence[CurvePoint], target: CurvePoint | None, sizes: list[int],
             seed: int, resamples: int) -> dict[str, Any]:
    """The fit on the examples as they are and on every bootstrap draw."""
    draws = _draws(len(points[0].scores), resamples, seed)
    ns = np.array([p.rows for p in points], dtype=float)
    Y = np.array([p.scores for p in points])[:, draws].mean(axis=2).T   # (draws, points)
    goal = np.array(target.scores)[draws].mean(axis=1) if target else np.full(len(draws), np.inf)
    log_line = len(sizes) < 3
    crossings, params = _fit(ns, Y, goal, log_line)
    top = sizes[-1]
    fit = {"params": params[0], "log_line": log_line, "top": top, "smallest": sizes[0],
           "limit": EXTRAPOLATE_LIMIT * top, "estimate": float(crossings[0])}
    fit["low"], fit["high"] = _interval(crossings[1:])
    if fit["high"] > fit["limit"]:
        fit["high"] = None
    return fit


def learning_curve(points: Sequence[CurvePoint], target: CurvePoint | None, metric: str,
                   seed: int = 0, resamples: int = RESAMPLES) -> dict[str, Any]:
    """The advice's "curve": the model, its parameters, the curve sampled for drawing
    (``fitted`` within the measured sizes, ``extension`` past them, to be drawn dashed), the
    target and ``n_needed`` (estimate, 95% interval, measured, reached, extrapolated, words).

    ``points``: the tuned points (any number of seeds per size); ``target``: the best
    prompted point, or None. Every point must be scored on the same examples."""
    if resamples < 1:
        raise ConfigError(f"Bootstrap resamples must be at least 1, got {resamples}.",
                          "Use 200 to 500.")
    value = float(np.mean(target.scores)) if target else None
    if not points:
        words = "No tuned point ran, so the rows needed to match the best prompt are not estimated."
        return _no_estimate("no curve: no tuned point ran", words, target, value, None)
    _check_same_examples(points, target)
    if min(p.rows for p in points) < 1:
        raise ConfigError("A tuned point has 0 training rows.", "Give each its rows (1 or more).")
    pair = measured_crossing(points, target, metric, seed) if target else None
    sizes = sorted({p.rows for p in points})
    if len(sizes) < 2:
        words = (f"Only one training size was measured ({sizes[0]} rows), too few for a curve"
                 + (f"; {_measured_words(pair)}." if target else "."))
        return _no_estimate("no curve: one training size only", words, target, value, pair)
    fit = _fit_all(points, target, sizes, seed, resamples)
    return _curve(fit, target, value, pair, resamples)


def _curve(fit: dict[str, Any], target: CurvePoint | None, value: float | None,
           pair: dict[str, Any] | None, resamples: int) -> dict[str, Any]:
    """The curve dict from a fit: the estimate kept only within the limit, and its words."""
    est, top, limit = fit["estimate"], fit["top"], fit["limit"]
    found = target is not None and est <= limit
    named = f"{target.name} ({value:.2f})" if target else ""
    if target is None:
        words = "No prompted point ran, so there is no prompt quality to match."
    else:
        words = _found_words(fit, named, pair) if found else _missed_words(fit, named, value, pair)
    reach = max(FAR * top, est * 1.1) if found else FAR * top
    return {"model": LOG_LINE if fit["log_line"] else POWER_LAW,
            "params": {k: round(v, 6) for k, v in fit["params"].items()},
            "fitted": _sampled(fit["params"], fit["smallest"], top),
            "extension": _sampled(fit["params"], top, min(limit, reach)),
            "target": None if target is None else {"name": target.name, "value": value},
            "resamples": resamples,
            "n_needed": {"estimate": round(est, 1) if found else None,
                         "low": round(fit["low"], 1) if found else None,
                         "high": round(fit["high"], 1) if found and fit["high"] is not None
                         else None,
                         "measured": None if pair is None else pair["rows"],
                         "measured_pair": pair, "reached": found or pair is not None,
                         "extrapolated": bool(found and est > top), "words": words}}
