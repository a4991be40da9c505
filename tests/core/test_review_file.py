"""Ratings files (core.review_file): a review done in the offline page comes back into the lab,
once, and only into the comparison it was made for; a bad file changes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import review_store
from core.compare_runs import load_results
from core.errors import ConfigError
from core.review import build_pairs, pack
from core.review_file import export_ratings, import_ratings, ratings_file_name
from core.review_stats import summary

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lab_2026_12_01" / "comparisons"
CMP = "20261201-050937-4da750"  # a finished comparison of 4 setups on 6 examples


@pytest.fixture
def comparison(lab_home) -> dict:
    """A finished comparison in the test's lab (a copy of the old lab's, read by today's code)."""
    shutil.copytree(FIXTURE / CMP, lab_home / "comparisons" / CMP)
    return load_results(CMP)


def saved_by_page(packed: dict, reviewer: str, votes: list[str]) -> dict:
    """What the offline page's "Save ratings file" writes for these votes on the pack's pairs."""
    return {"format": "prompttune-lab-ratings", "version": 1, "comparison": packed["comparison"],
            "pack": packed["pack"], "reviewer": reviewer,
            "ratings": [{"pair": p["pair"], "vote": v, "at": "2026-12-01T12:00:00Z"}
                        for p, v in zip(packed["pairs"], votes)]}


def _bytes(body: dict) -> bytes:
    return json.dumps(body).encode()


def test_a_review_done_in_the_page_is_imported_with_each_pair_mapped_to_its_setups(comparison):
    pairs = build_pairs(comparison, n=None)
    packed = pack(comparison, pairs)
    votes = ["A", "B", "tie", "both_bad", "A"]
    result = import_ratings(CMP, _bytes(saved_by_page(packed, " Sam ", votes)), "sam.json")
    assert (result.votes, result.reviewer, result.already_imported) == (5, "Sam", False)
    assert result.message == "Imported 5 votes by Sam from sam.json."
    got = {r.pair: r for r in review_store.ratings(CMP)}
    for pair, vote in zip(pairs, votes):
        assert (got[pair.id].setup_a, got[pair.id].setup_b) == (pair.setup_a, pair.setup_b)
        assert got[pair.id].vote == vote and got[pair.id].source == "file"
    assert got[pairs[0].id].created_at == "2026-12-01T12:00:00+00:00"
    assert summary(comparison, review_store.ratings(CMP))["votes"] == 5


def test_the_same_file_imported_twice_is_counted_once(comparison):
    packed = pack(comparison, build_pairs(comparison, n=4))
    data = _bytes(saved_by_page(packed, "Sam", ["A", "A", "B", "tie"]))
    import_ratings(CMP, data, "sam.json")
    again = import_ratings(CMP, data, "sam (1).json")
    assert again.already_imported and again.votes == 4
    assert "sam (1).json was already imported on 20" in again.message
    assert "its 4 votes are counted once" in again.message
    assert review_store.reviewers(CMP) == {"Sam": 4}


def test_a_later_file_of_the_same_reviewer_replaces_their_votes_not_adds(comparison):
    packed = pack(comparison, build_pairs(comparison, n=4))
    import_ratings(CMP, _bytes(saved_by_page(packed, "Sam", ["A", "A"])), "first.json")
    import_ratings(CMP, _bytes(saved_by_page(packed, "Sam", ["B", "A", "tie"])), "second.json")
    assert sorted(r.vote for r in review_store.ratings(CMP)) == ["A", "B", "tie"]


def _refused(comparison_id: str, data: bytes, name: str = "ratings.json") -> ConfigError:
    with pytest.raises(ConfigError) as err:
        import_ratings(comparison_id, data, name)
    return err.value


@pytest.fixture
def dana(comparison) -> list:
    """Dana's three votes in the lab, which no bad file may touch."""
    for pair in build_pairs(comparison, n=3):
        review_store.add_vote(CMP, pair, "Dana", "A")
    return review_store.ratings(CMP)


@pytest.mark.parametrize("data, said", [
    (b"\x89PNG\r\n", "is not a ratings file: it is not UTF-8 text"),
    (b'{"format": "prompttune-lab-ratings", "version": 1,', "it is not valid JSON (line 1)"),
    (b"[1, 2]", 'it is JSON without "format": "prompttune-lab-ratings"'),
    (b'{"format": "prompttune-lab-review", "pairs": []}', "it is the review page itself"),
    (b'{"format": "prompttune-lab-ratings", "version": 2}', "of version 2; this lab reads version 1"),
    (b'{"format": "prompttune-lab-ratings", "version": 1, "comparison": "' + CMP.encode()
     + b'", "reviewer": "Sam"}', "not a valid ratings file at the top level: 'ratings' is a required"),
])
def test_a_file_that_is_not_a_ratings_file_is_refused_and_nothing_changes(dana, data, said):
    error = _refused(CMP, data)
    assert said in error.problem and error.fix.startswith(("Import the file the review page's "
                                                           '"Save ratings file"', "Save the ratings again"))
    assert review_store.ratings(CMP) == dana


def test_a_vote_not_one_of_the_four_is_named(comparison, dana):
    body = saved_by_page(pack(comparison, build_pairs(comparison, n=4)), "Sam", ["A", "C", "B", "good"])
    error = _refused(CMP, _bytes(body))
    assert "holds 2 vote(s) that are not one of the four ('A', 'B', 'tie', 'both_bad')" in error.problem
    assert "the first is 'C' at ratings[1].vote" in error.problem and "edited by hand" in error.fix
    assert review_store.ratings(CMP) == dana


def test_a_file_for_another_comparison_says_where_to_import_it(comparison, dana):
    body = saved_by_page(pack(comparison, build_pairs(comparison, n=2)), "Sam", ["A", "B"])
    body["comparison"] = "20261130-090000-aaaaaa"
    error = _refused(CMP, _bytes(body))
    assert error.problem.startswith(f"ratings.json is for comparison 20261130-090000-aaaaaa, not {CMP}:"
                                    " open comparison 20261130-090000-aaaaaa's Results and import it there")
    assert review_store.ratings(CMP) == dana


def test_votes_for_pairs_the_comparison_does_not_have_are_refused_whole(comparison, dana):
    body = saved_by_page(pack(comparison, build_pairs(comparison, n=3)), "Sam", ["A", "B", "tie"])
    body["ratings"] += [{"pair": "0123456789ab", "vote": "A"}, {"pair": "made-up", "vote": "B"}]
    error = _refused(CMP, _bytes(body))
    assert "holds votes for 2 pair(s) comparison" in error.problem
    assert "(first: 0123456789ab, made-up)" in error.problem
    assert "edited by hand or made for another comparison" in error.problem
    assert review_store.ratings(CMP) == dana  # not even the three good votes


@pytest.mark.parametrize("name", ["", "   ", "x" * 61])
def test_a_file_without_a_usable_reviewer_name_is_refused(comparison, dana, name):
    body = saved_by_page(pack(comparison, build_pairs(comparison, n=2)), name, ["A", "B"])
    error = _refused(CMP, _bytes(body))
    assert "reviewer's name" in error.problem and "name field" in error.fix
    assert review_store.ratings(CMP) == dana


def test_a_file_with_no_votes_is_refused(comparison):
    body = saved_by_page(pack(comparison, []), "Sam", [])
    assert "holds no votes" in _refused(CMP, _bytes(body)).problem


def test_exported_votes_import_into_another_lab(comparison, lab_home, tmp_path, monkeypatch):
    pairs = build_pairs(comparison, n=3)
    for pair, vote in zip(pairs, ["A", "tie", "both_bad"]):
        review_store.add_vote(CMP, pair, "Dana", vote)
    data = export_ratings(CMP, "Dana")
    assert ratings_file_name(CMP, "Dana K.") == f"ratings-{CMP}-Dana-K.json"
    other = tmp_path / "other-lab"
    shutil.copytree(FIXTURE / CMP, other / "comparisons" / CMP)
    monkeypatch.setenv("PROMPTTUNE_HOME", str(other))
    assert import_ratings(CMP, data, "dana.json").votes == 3
    assert sorted(r.vote for r in review_store.ratings(CMP)) == ["A", "both_bad", "tie"]
    with pytest.raises(ConfigError, match="Lee has no votes"):
        export_ratings(CMP, "Lee")
