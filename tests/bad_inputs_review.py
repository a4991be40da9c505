"""Bad-input catalogue cases (issue 19): ratings files brought back from the offline review page.

Registered into tests/test_bad_inputs.py's CASES with its @case decorator. The catalogue's seeded
lab holds no finished comparison, and importing a good file once must write votes, so each case
works in a second lab folder of its own (PROMPTTUNE_HOME points there for the case): a finished
comparison (the old lab fixture's) and Dana's three votes on it. Each case asserts there what the
catalogue's test asserts of its lab: the file is refused (or counted once) with a message that
says what and how to fix it, and the votes the lab had are all still there, unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.test_bad_inputs import FIX, case, data_hash  # noqa: F401

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "lab_2026_12_01" / "comparisons"
CMP = "20261201-050937-4da750"
OTHER = "20261130-090000-aaaaaa"


@contextmanager
def _review_lab(lab) -> Iterator[dict]:
    """A lab with a finished comparison and Dana's votes on it; yields the pack a stakeholder
    reviewed (from the offline page) and the lab's votes before the import."""
    from core import review_store
    from core.compare_runs import load_results
    from core.review import build_pairs, pack

    home, before_env = lab.tmp / "review-lab", os.environ["PROMPTTUNE_HOME"]
    shutil.copytree(FIXTURE / CMP, home / "comparisons" / CMP)
    os.environ["PROMPTTUNE_HOME"] = str(home)
    try:
        results = load_results(CMP)
        pairs = build_pairs(results, n=None)
        for pair in pairs[:3]:
            review_store.add_vote(CMP, pair, "Dana", "A")
        yield {"pack": pack(results, pairs[:6]), "votes": review_store.ratings(CMP)}
    finally:
        os.environ["PROMPTTUNE_HOME"] = before_env


def _saved(packed: dict, votes: list[str], reviewer: str = "Sam") -> dict:
    """The ratings file the offline page's "Save ratings file" writes."""
    return {"format": "prompttune-lab-ratings", "version": 1, "comparison": packed["comparison"],
            "pack": packed["pack"], "reviewer": reviewer,
            "ratings": [{"pair": p["pair"], "vote": v, "at": "2026-12-01T12:00:00Z"}
                        for p, v in zip(packed["pairs"], votes)]}


def _import(lab, make_file, times: int = 1, added: int = 0) -> str:
    """Import the file ``make_file(pack)`` gives, ``times`` times, as the Compare page does; what
    the user is told. The lab's earlier votes must be there, unchanged, afterwards, with exactly
    ``added`` new ones."""
    from core import review_store
    from core.errors import LabError
    from core.review_file import import_ratings

    with _review_lab(lab) as seeded:
        data = make_file(seeded["pack"])
        data = data if isinstance(data, bytes) else json.dumps(data).encode()
        said = []
        for _ in range(times):
            try:
                said.append(import_ratings(CMP, data, "ratings-review.json").message)
            except LabError as exc:
                said.append(str(exc))
        after = {(r.pair, r.reviewer): r for r in review_store.ratings(CMP)}
        assert all(after.get((r.pair, r.reviewer)) == r for r in seeded["votes"]), \
            "a ratings file changed the votes the lab had"
        assert len(after) == len(seeded["votes"]) + added, "votes were added or counted twice"
    return "\n".join(said)


@case("review-ratings-file-not-json")
def _(lab):
    return _import(lab, lambda packed: b'{"format": "prompttune-lab-ratings", "ratings": [{"pa'), \
        ["ratings-review.json is not a ratings file: it is not valid JSON (line 1)",
         "Fix: Import the file the review page's \"Save ratings file\" button downloaded"]


@case("review-ratings-file-not-a-ratings-file")
def _(lab):  # the review page itself (its pack), uploaded instead of the ratings saved from it
    return _import(lab, lambda packed: packed), \
        ["it is the review page itself (a pack of pairs), not the ratings saved from it", *FIX]


@case("review-ratings-file-wrong-version")
def _(lab):
    return _import(lab, lambda packed: {**_saved(packed, ["A"]), "version": 7}), \
        ["a ratings file of version 7; this lab reads version 1", "Fix: Save the ratings again"]


@case("review-ratings-file-unknown-vote")
def _(lab):
    return _import(lab, lambda packed: _saved(packed, ["A", "B", "A+", "tie"])), \
        ["holds 1 vote(s) that are not one of the four ('A', 'B', 'tie', 'both_bad')",
         "the first is 'A+' at ratings[2].vote", "Fix: The file was edited by hand"]


@case("review-ratings-file-for-another-comparison")
def _(lab):
    return _import(lab, lambda packed: {**_saved(packed, ["A", "B"]), "comparison": OTHER}), \
        [f"ratings-review.json is for comparison {OTHER}, not {CMP}: open comparison {OTHER}'s "
         "Results and import it there", f"Fix: Pick comparison {OTHER}"]


@case("review-ratings-file-imported-twice")
def _(lab):
    said = _import(lab, lambda packed: _saved(packed, ["A", "B", "tie", "both_bad"]), times=2, added=4)
    return said, ["Imported 4 votes by Sam", "ratings-review.json was already imported on 20",
                  "its 4 votes are counted once"]


@case("review-ratings-file-votes-for-pairs-that-do-not-exist")
def _(lab):
    def edited(packed: dict) -> dict:
        body = _saved(packed, ["A", "B"])
        body["ratings"] += [{"pair": "00000000beef", "vote": "A"}, {"pair": "00000000cafe", "vote": "B"}]
        return body

    return _import(lab, edited), \
        ["holds votes for 2 pair(s) comparison", "(first: 00000000beef, 00000000cafe)",
         "edited by hand or made for another comparison", "Nothing was imported",
         "Fix: Import the ratings file as the review page saved it"]


@case("review-ratings-file-empty-reviewer")
def _(lab):
    return _import(lab, lambda packed: _saved(packed, ["A"], reviewer="  ")), \
        ["The reviewer's name is empty", "Nothing was imported", "Fix: Type the reviewer's name"]
