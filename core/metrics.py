"""Answer metrics a person can read: exact match, token F1, ROUGE-L, chrF, containment, accuracy.

Text is normalised the SQuAD way (lowercase, no punctuation, no articles,
single spaces) before comparing, so "The Karsk 2P." and "karsk 2p" match.
chrF compares the raw text instead: its character n-grams see the house style
(punctuation, a sign-off) that the normalisation would strip.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from functools import lru_cache

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation.replace(".", "").replace(",", "") + "€$£")


def normalise(text: str) -> str:
    """Lowercase, strip punctuation (keeping decimal points), drop articles, squeeze spaces."""
    text = text.lower().translate(_PUNCT)
    text = re.sub(r"(?<!\d)[.,]|[.,](?!\d)", " ", text)  # keep 12.50 and 1,200, drop sentence dots
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalise(prediction) == normalise(reference))


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (SQuAD's F1)."""
    pred, ref = normalise(prediction).split(), normalise(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains_answer(prediction: str, reference: str) -> float:
    """1 when the normalised reference occurs in the normalised prediction."""
    ref = normalise(reference)
    return float(bool(ref) and f" {ref} " in f" {normalise(prediction)} ")


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure: the longest common subsequence of the normalised tokens."""
    pred, ref = normalise(prediction).split(), normalise(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    previous = [0] * (len(ref) + 1)
    for p in pred:
        current = [0]
        for j, r in enumerate(ref):
            current.append(previous[j] + 1 if p == r else max(previous[j + 1], current[j]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def chrf(prediction: str, reference: str) -> float:
    """sacrebleu's sentence-level chrF (character 6-grams, recall weighted twice), scaled 0-1:
    a free-text reply that says the same thing in other words still shares most of its
    character n-grams with the reference, where exact match gives 0."""
    return _chrf_scorer().sentence_score(prediction, [reference]).score / 100


@lru_cache(maxsize=1)
def _chrf_scorer():
    from sacrebleu.metrics import CHRF  # a 0.2 s import, only for free-text tasks

    return CHRF()


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of ``correct`` out of ``n`` (unlike a bootstrap, it does not
    shrink to a point at 0 or n correct, which a small validation slice often hits)."""
    if n <= 0:
        return (0.0, 1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))
