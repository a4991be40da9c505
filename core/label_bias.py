"""Label bias: spot a setup that answers one label for almost everything, and correct it.

Measured on a public three-label sentiment set the lab never saw: few-shot prompting of the
embedded base model scored below zero-shot (8 shots 0.38 against 0.51) because with examples
in its prompt it answered the same label for all 150 inputs of a balanced set. Two tools:

- ``calibrate``: contextual calibration (Zhao et al. 2021, "Calibrate Before Use"): ask the
  same prompt with a content-free input (such as "N/A"), take the label probabilities it
  gives, and divide every input's label probabilities by them, then renormalise. A label the
  prompt favours for no reason loses that favour.
- ``collapse``: a plain sentence when one label takes at least ``COLLAPSE_SHARE`` of the
  answers while the references give that label at most ``REFERENCE_SHARE_MAX`` of the inputs,
  over at least ``MIN_ANSWERS`` answers (fewer say too little to call it a collapse).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import ConfigError

Results = dict[str, Any]

COLLAPSE_SHARE = 0.85       # one label answered for at least this share of the inputs ...
REFERENCE_SHARE_MAX = 0.60  # ... while at most this share of the references carry it ...
MIN_ANSWERS = 10            # ... over at least this many answers


def calibrate(probabilities: Sequence[Sequence[float]] | np.ndarray,
              content_free: Sequence[float] | np.ndarray) -> np.ndarray:
    """Contextually calibrated label probabilities: each row divided by the probabilities the
    same prompt gives a content-free input, then renormalised to sum to 1.

    ``probabilities`` is one row per input (or a single row), one column per label, in the
    order of ``content_free``. Returns an array of the same shape.
    """
    rows = np.asarray(probabilities, dtype=float)
    free = np.asarray(content_free, dtype=float)
    if free.ndim != 1 or rows.shape[-1:] != free.shape or rows.ndim not in (1, 2):
        raise ConfigError(f"Calibration needs one probability per label: the rows have shape "
                          f"{rows.shape}, the content-free probabilities {free.shape}.",
                          "Score the content-free input on the same labels, in the same order.")
    if not (np.isfinite(free).all() and (free > 0).all()) or not np.isfinite(rows).all() \
            or (rows < 0).any():
        raise ConfigError("Calibration needs finite, non-negative probabilities, and content-free "
                          f"ones above 0 (got {free.round(4).tolist()}).",
                          "Pass probabilities (softmax of the label scores), not log-scores.")
    adjusted = rows / (free / free.sum())
    totals = adjusted.sum(axis=-1, keepdims=True)
    # a row of zeros stays uniform rather than dividing by 0
    uniform = np.full_like(adjusted, 1.0 / free.size)
    return np.where(totals > 0, adjusted / np.where(totals > 0, totals, 1.0), uniform)


def probabilities(log_scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Label probabilities from label log-likelihoods (a softmax over the last axis)."""
    scores = np.asarray(log_scores, dtype=float)
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _how_many(count: int, total: int) -> str:
    return f"all {total}" if count == total else f"{count} of {total}"


def collapse_from_counts(answered: dict[str, int], reference_counts: dict[str, int]
                         ) -> str | None:
    """``collapse`` from counts: how many inputs were answered with each label, and how many
    references carry each label (over the same inputs)."""
    total = sum(answered.values())
    if total < MIN_ANSWERS or not answered:
        return None
    label, count = max(answered.items(), key=lambda item: item[1])
    truly = reference_counts.get(label, 0)
    refs = sum(reference_counts.values()) or total
    if count / total < COLLAPSE_SHARE or truly / refs > REFERENCE_SHARE_MAX:
        return None
    though = f"only {truly}" if truly else "none"
    return (f"answered '{label}' for {_how_many(count, total)} inputs, though {though} of "
            f"them {'is' if truly == 1 else 'are'} {label}")


def collapse(predictions: Sequence[str | None], references: Sequence[str],
             labels: Sequence[str] | None = None) -> str | None:
    """A plain sentence such as "answered 'positive' for 146 of 150 inputs, though only 50 of
    them are positive" when the answers collapsed onto one label; None otherwise.

    ``labels`` (optional) limits the count to answers that name a label: an unparsed answer
    is not a vote for any label.
    """
    if len(predictions) != len(references):
        raise ConfigError(f"{len(predictions)} predictions for {len(references)} references.",
                          "Pass one prediction per reference, in the same order.")
    known = set(labels) if labels else None
    answered = Counter(p for p in predictions
                       if p is not None and (known is None or p in known))
    return collapse_from_counts(dict(answered), dict(Counter(references)))


def _answer_counts(results: Results, variant: dict[str, Any]) -> dict[str, int] | None:
    counts = variant.get("label_counts")
    if isinstance(counts, dict) and counts:
        labels = set(results.get("task", {}).get("labels") or [])
        # "(no label)" and other unparsed answers are no vote for any label
        return {str(k): int(v) for k, v in counts.items()
                if isinstance(v, (int, float)) and math.isfinite(v)
                and (not labels or k in labels)}
    outputs = [(e.get("outputs") or {}).get(variant["name"]) for e in results.get("examples", [])]
    if not outputs or any(o is None for o in outputs):
        return None
    labels = set(results.get("task", {}).get("labels") or [])
    return dict(Counter(o.get("prediction") for o in outputs
                        if o.get("prediction") is not None
                        and (not labels or o.get("prediction") in labels)))


def collapsed_setups(results: Results) -> dict[str, str]:
    """For each working setup of a classification comparison whose answers collapsed onto one
    label: its name -> the plain sentence (from its ``label_counts``, else from the answers
    kept per example, so older comparisons are read too)."""
    if results.get("task", {}).get("kind", "classification") != "classification":
        return {}
    references = dict(Counter(e.get("reference") for e in results.get("examples", [])))
    found = {}
    for variant in results.get("variants", []):
        if variant.get("error"):
            continue
        counts = _answer_counts(results, variant)
        said = collapse_from_counts(counts, references) if counts else None
        if said:
            found[variant["name"]] = said
    return found


def collapse_sentences(results: Results) -> list[str]:
    """One sentence per collapsed setup, naming it and what to do about it."""
    calibrated = {v["name"] for v in results.get("variants", []) if v.get("calibrated")}
    return [f"{name} {said}: it gave one label to almost every input (label bias from its "
            "prompt), so its score reflects that label's share of the test set more than how "
            "well it reads the inputs. "
            + ("Calibrated label scoring did not undo it here." if name in calibrated else
               "Calibrated label scoring (contextual calibration) is the usual remedy.")
            for name, said in collapsed_setups(results).items()]
