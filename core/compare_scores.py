"""Scores of a setup's answers: metrics with 95% intervals, each example's score, label counts.

A share of right answers gets a Wilson interval, any other metric a percentile bootstrap over
the examples; classification adds macro-F1 and the confusion matrix. ``example_scores`` gives
each example's value of the task's primary metric (``PRIMARY``), so setups evaluated on the
same examples can be compared pairwise from the results alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np

from core.metrics import contains_answer, exact_match, rouge_l, token_f1, wilson
from core.prompting import check_structured, normalise_number
from core.setup_eval import Outputs
from core.tasks import Task

BOOTSTRAP = 1000


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


PRIMARY = {"classification": "accuracy", "json": "exact_match", "numeric": "exact_match",
           "qa": "token_f1"}  # the per-example score a paired comparison of setups uses


def example_scores(task: Task, examples: list[dict], out: Outputs, right: list) -> list[float]:
    """Each example's value of the task's primary metric: 0/1 where answers are right or
    wrong, token F1 for free-text answers."""
    if task.kind == "qa":
        return [round(token_f1(str(p or ""), e["reference"]), 4)
                for p, e in zip(out.predictions, examples)]
    return [1.0 if r else 0.0 for r in right]


def label_counts(task: Task, out: Outputs) -> dict[str, int] | None:
    """How many inputs were answered with each label (classification), to see a collapse."""
    if task.kind != "classification":
        return None
    counts = {label: sum(p == label for p in out.predictions) for label in task.labels}
    other = sum(p not in task.labels for p in out.predictions)
    return {**counts, "(no label)": other} if other else counts


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
