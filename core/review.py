"""Blind review: pairs of two setups' answers to the same input, shown without the setups' names.

A person judges answers better when they cannot see which setup wrote them (the name of the
fine-tuned one invites a kinder look). So a pair's id is a hash that never reveals the names, and
which answer is shown as "A" is decided by that hash: the same pair always shows the same way (a
reviewer who comes back sees what they rated), while across pairs each setup is "A" about half the
time, so a reviewer's habit of picking the left answer does not favour one setup.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from core.errors import ConfigError

VOTES = ("A", "B", "tie", "both_bad")
VOTE_WORDS = {"A": "A is better", "B": "B is better", "tie": "Tie", "both_bad": "Both bad"}
PACK_FORMAT = "prompttune-lab-review"
PACK_VERSION = 1


@dataclass(frozen=True)
class Pair:
    """Two setups' answers to one example, in the order they are shown (A left, B right)."""

    id: str
    example_id: str
    input: str
    reference: str
    setup_a: str
    setup_b: str
    answer_a: str
    answer_b: str


def pair_id(comparison: str, example_id: str, setup_1: str, setup_2: str) -> str:
    """The pair's id: 12 hex digits of a hash of the comparison, the example and the two setups
    (in sorted order, so either order names the same pair); it cannot be read back to names."""
    s1, s2 = sorted((setup_1, setup_2))
    text = f"{comparison}\0{example_id}\0{s1}\0{s2}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def answer_text(output: dict[str, Any] | None) -> str:
    """What a setup answered for an example, as text (a structured answer as JSON)."""
    if not output:
        return ""
    value = output.get("prediction")
    if value is None:
        value = output.get("raw", "")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def setup_names(results: dict) -> list[str]:
    """The comparison's setups, in the order its results list them."""
    return [row["name"] for row in results.get("variants", []) if row.get("name")]


def _checked_setups(results: dict, setups: list[str] | None) -> list[str]:
    """The setups to pair (all by default), each known to the comparison, at least two."""
    known = setup_names(results)
    chosen = known if setups is None else list(dict.fromkeys(setups))
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise ConfigError(
            f"Setup(s) {', '.join(repr(s) for s in unknown)} are not in comparison "
            f"{results.get('id', '?')}.", f"Pick from its setups: {', '.join(known) or 'none'}.")
    if len(chosen) < 2:
        raise ConfigError(
            f"A blind review compares two setups' answers, but {len(chosen)} setup is chosen"
            f"{' (the comparison has only ' + str(len(known)) + ')' if len(known) < 2 else ''}.",
            "Pick two or more setups; a comparison of one setup cannot be reviewed side by side: "
            "run a comparison with two setups or more.")
    return chosen


def _make_pair(comparison: str, example: dict, s1: str, s2: str) -> Pair:
    """The pair for two setups on one example, shown in the order its id decides."""
    s1, s2 = sorted((s1, s2))
    pid = pair_id(comparison, str(example["id"]), s1, s2)
    if int(pid, 16) % 2:
        s1, s2 = s2, s1
    outputs = example.get("outputs", {})
    return Pair(id=pid, example_id=str(example["id"]), input=str(example.get("input", "")),
                reference=answer_text({"prediction": example.get("reference", "")}),
                setup_a=s1, setup_b=s2, answer_a=answer_text(outputs.get(s1)),
                answer_b=answer_text(outputs.get(s2)))


def _every_pair(results: dict, setups: list[str]) -> list[Pair]:
    """Every pair of the setups over the examples that have both setups' answers."""
    comparison, found = str(results.get("id", "")), []
    for example in results.get("examples", []):
        outputs = example.get("outputs", {})
        for s1, s2 in combinations(setups, 2):
            if s1 in outputs and s2 in outputs:
                found.append(_make_pair(comparison, example, s1, s2))
    return found


def _pairs(results: dict, setups: list[str]) -> tuple[list[Pair], int]:
    """The pairs worth reviewing, and how many were left out because the two answers are the
    same text (nothing to choose between)."""
    every = _every_pair(results, setups)
    found = [p for p in every if p.answer_a.strip() != p.answer_b.strip()]
    return found, len(every) - len(found)


def identical_pairs(results: dict, setups: list[str] | None = None) -> int:
    """How many pairs ``build_pairs`` leaves out because both setups answered the same text."""
    return _pairs(results, _checked_setups(results, setups))[1]


def build_pairs(results: dict, setups: list[str] | None = None, n: int | None = 20,
                seed: int = 0) -> list[Pair]:
    """Up to ``n`` pairs to review (all with ``n=None``), drawn at random (``seed``) from every
    combination of the setups over the comparison's examples; pairs whose answers are identical
    are left out (``identical_pairs`` counts them). ConfigError for an unknown setup, fewer than
    two, or ``n`` below 1."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"The number of pairs to review must be 1 or more, got {n!r}.",
                          "Ask for 20 pairs (about ten minutes of reading), or more.")
    found, _ = _pairs(results, _checked_setups(results, setups))
    random.Random(seed).shuffle(found)
    return found if n is None else found[:n]


def all_pairs(results: dict) -> dict[str, Pair]:
    """Every pair the comparison can show (all setups, identical answers included), by id: what
    a vote in a ratings file is checked against."""
    return {p.id: p for p in _every_pair(results, setup_names(results))}


def pack_id(pair_ids: list[str]) -> str:
    """12 hex digits naming a set of pairs (sorted, so the same pairs give the same pack)."""
    return hashlib.sha256("\n".join(sorted(pair_ids)).encode()).hexdigest()[:12]


def pack(results: dict, pairs: list[Pair]) -> dict:
    """What an offline review page carries: the pairs' texts in their shown order and NO setup
    names, so the file a stakeholder opens cannot tell them which setup wrote what."""
    task = results.get("task") or {}
    return {"format": PACK_FORMAT, "version": PACK_VERSION, "comparison": results.get("id", ""),
            "task": task.get("title") or task.get("name", ""),
            "pack": pack_id([p.id for p in pairs]),
            "pairs": [{"pair": p.id, "input": p.input, "reference": p.reference,
                       "a": p.answer_a, "b": p.answer_b} for p in pairs]}
