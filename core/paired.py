"""Paired statistics: is one setup really better than another on the same examples?

Every setup of a comparison answers the same test examples, so two setups are compared
example by example (paired), not by whether their two marginal 95% intervals overlap:
overlapping intervals often hide a real, consistent lead. Two tests:

- ``paired_bootstrap``: the difference of means with a 95% percentile interval, resampling
  the examples jointly (one draw picks the same examples for both setups);
- ``mcnemar_exact``: for right/wrong scores, McNemar's exact test on the examples where the
  two setups disagree (a two-sided binomial test of the discordant counts at one half).

A lead counts as real when the bootstrap interval excludes 0 and, for 0/1 scores, McNemar's
p is below 0.05 as well (both must agree: a borderline case is said to be within noise).

Per-example scores come from ``results["examples"][i]["outputs"][name]["score"]`` (the task's
primary metric per example) or, in comparisons saved before scores were kept, from
``"correct"`` (0/1). Metrics such as macro-F1 are not per-example, so each paired figure
names the metric it is on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import ConfigError

Results = dict[str, Any]

RESAMPLES = 2000
CHUNK_CELLS = 1_000_000  # resampled example indices held at once
LEVEL = 0.05          # two-sided: a 95% interval, p below 0.05
ALL_PAIRS_UP_TO = 4   # this many working setups or fewer: every pair; more: each against the best
TIE = 0.005           # a difference that rounds to 0.00 is a tie
# the metric a per-example "score" is on, by task kind (core.compare writes the primary one)
SCORE_METRIC = {"classification": "accuracy", "numeric": "exact_match", "json": "exact_match",
                "qa": "token_f1", "text": "chrf"}
# the metric a per-example "correct" (0/1) is the mean of, by task kind
CORRECT_METRIC = {"classification": "accuracy", "numeric": "exact_match", "json": "exact_match",
                  "qa": "contains", "text": "contains"}


def _paired_arrays(a_scores: Sequence[float], b_scores: Sequence[float]) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    a, b = np.asarray(a_scores, dtype=float), np.asarray(b_scores, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ConfigError(f"Paired scores must be two lists of the same length, got {a.size} "
                          f"and {b.size}.", "Pass one score per example for each setup, "
                          "in the same example order.")
    if a.size == 0:
        raise ConfigError("No examples to compare.", "Run the comparison on some examples.")
    return a, b


def paired_bootstrap(a_scores: Sequence[float], b_scores: Sequence[float], seed: int = 0,
                     n: int = RESAMPLES) -> dict[str, float]:
    """Mean of ``a - b`` over the examples with a 95% bootstrap interval (examples drawn
    jointly for both): ``{"difference", "low", "high"}``."""
    a, b = _paired_arrays(a_scores, b_scores)
    if n < 1:
        raise ConfigError(f"Bootstrap resamples must be at least 1, got {n}.", "Use 1000 or more.")
    gaps = a - b
    rng = np.random.default_rng(seed)
    # resamples in chunks: a 10,000-example comparison would need 160 MB of indices at once
    chunk = max(1, CHUNK_CELLS // gaps.size)
    means = np.concatenate([gaps[rng.integers(0, gaps.size, (min(chunk, n - done), gaps.size))]
                            .mean(axis=1) for done in range(0, n, chunk)])
    return {"difference": float(gaps.mean()),
            "low": float(np.percentile(means, 100 * LEVEL / 2)),
            "high": float(np.percentile(means, 100 * (1 - LEVEL / 2)))}


def _binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p of seeing k or fewer (or as many more) of n at one half."""
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


def mcnemar_exact(a_right: Sequence[Any], b_right: Sequence[Any]) -> tuple[int, int, float]:
    """McNemar's exact test: (b01, b10, p) where b01 counts examples A got wrong and B right,
    b10 those A got right and B wrong; p is the two-sided binomial p of the split."""
    a, b = _paired_arrays([bool(x) for x in a_right], [bool(x) for x in b_right])
    b01 = int(np.sum((a == 0) & (b == 1)))
    b10 = int(np.sum((a == 1) & (b == 0)))
    return b01, b10, _binomial_two_sided(min(b01, b10), b01 + b10)


def _is_binary(values: np.ndarray) -> bool:
    return bool(np.isin(values, (0.0, 1.0)).all())


def example_scores(results: Results, name: str) -> tuple[list[float] | None, str | None]:
    """One setup's per-example scores and the key they came from ("score" or "correct");
    (None, None) when some example has neither (an older or partial result)."""
    scores, source = [], None
    for example in results.get("examples", []):
        output = (example.get("outputs") or {}).get(name) or {}
        key = "score" if _number(output.get("score")) else \
            "correct" if isinstance(output.get("correct"), bool) else None
        if key is None or source not in (None, key):
            return None, None
        source = key
        scores.append(float(output[key]))
    return (scores, source) if scores else (None, None)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def paired_metric(results: Results, source: str) -> str:
    """The metric a paired figure is on: what the per-example scores are the mean of."""
    kind = results.get("task", {}).get("kind", "classification")
    if source == "score":
        return results.get("score_metric") or SCORE_METRIC.get(kind, "score")
    return CORRECT_METRIC.get(kind, "correct")


def compare_pair(a_name: str, a_scores: Sequence[float], b_name: str,
                 b_scores: Sequence[float], metric: str, seed: int = 0) -> dict[str, Any]:
    """One paired difference, oriented so that the first setup leads (difference >= 0):
    ``{"leader", "other", "metric", "n", "difference", "low", "high", "b01", "b10", "p",
    "tie", "real"}``; ``p``, ``b01`` and ``b10`` are None unless both scores are 0/1."""
    if np.mean(b_scores) > np.mean(a_scores):
        a_name, a_scores, b_name, b_scores = b_name, b_scores, a_name, a_scores
    boot = paired_bootstrap(a_scores, b_scores, seed=seed)
    row: dict[str, Any] = {"leader": a_name, "other": b_name, "metric": metric,
                           "n": len(a_scores), **boot, "b01": None, "b10": None, "p": None}
    if _is_binary(np.asarray(a_scores, float)) and _is_binary(np.asarray(b_scores, float)):
        row["b01"], row["b10"], row["p"] = mcnemar_exact(a_scores, b_scores)
    row["tie"] = abs(boot["difference"]) < TIE
    row["real"] = (not row["tie"] and (boot["low"] > 0 or boot["high"] < 0)
                   and (row["p"] is None or row["p"] < LEVEL))
    return row


def _scored_setups(results: Results) -> tuple[list[tuple[str, list[float]]], str | None]:
    """Working setups with per-example scores of one kind, best first (by mean score)."""
    found, sources = [], set()
    for variant in results.get("variants", []):
        if variant.get("error"):
            continue
        scores, source = example_scores(results, variant["name"])
        if scores is not None:
            found.append((variant["name"], scores, source))
            sources.add(source)
    if len(sources) > 1:  # a mix cannot be compared: keep the newer per-example scores
        found = [f for f in found if f[2] == "score"]
    ranked = sorted(found, key=lambda f: -float(np.mean(f[1])))  # stable: ties keep order
    return [(name, scores) for name, scores, _ in ranked], \
        (found[0][2] if found else None)


def paired_differences(results: Results, best: str | None = None) -> list[dict[str, Any]]:
    """The paired difference of every pair of working setups (up to ``ALL_PAIRS_UP_TO``
    setups) or of each setup against ``best`` (default: the highest mean score), each as
    ``compare_pair`` returns it. Empty when fewer than two setups have per-example scores."""
    setups, source = _scored_setups(results)
    if len(setups) < 2:
        return []
    metric = paired_metric(results, source)
    seed = int((results.get("config") or {}).get("seed") or 0)
    names = [name for name, _ in setups]
    top = best if best in names else names[0]
    if len(setups) <= ALL_PAIRS_UP_TO:
        pairs = [(i, j) for i in range(len(setups)) for j in range(i + 1, len(setups))]
    else:
        k = names.index(top)
        pairs = [(k, j) for j in range(len(setups)) if j != k]
    return [compare_pair(*setups[i], *setups[j], metric=metric, seed=seed) for i, j in pairs]


def pair_between(results: Results, a: str, b: str) -> dict[str, Any] | None:
    """The paired difference between two named setups (either order); None without scores."""
    setups, source = _scored_setups(results)
    scored = dict(setups)
    if a not in scored or b not in scored or a == b:
        return None
    metric = paired_metric(results, source)
    seed = int((results.get("config") or {}).get("seed") or 0)
    return compare_pair(a, scored[a], b, scored[b], metric=metric, seed=seed)
