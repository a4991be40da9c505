"""Blind review: pairs hide the setups' names, and votes are kept in lab.db (core.review,
core.review_store)."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from contextlib import closing

import pytest

from core import db, review_store
from core.errors import ConfigError, StorageError
from core.review import VOTES, all_pairs, build_pairs, identical_pairs, pack, pair_id


def make_results(setups=("zero-shot", "few-shot 2", "tuned"), n=12, same=(),
                 comparison="20261201-120000-abc123") -> dict:
    """A comparison's results as load_results gives them: every setup answers every example;
    the examples in ``same`` get the same answer from every setup."""
    examples = []
    for i in range(n):
        outputs = {s: {"prediction": "Same reply." if i in same else f"Reply {i} by {s}.",
                       "correct": False} for s in setups}
        examples.append({"id": f"ex-{i:03d}", "input": f"Message {i}", "reference": f"Ref {i}",
                         "outputs": outputs})
    return {"id": comparison, "task": {"name": "support-reply", "title": "Support reply",
                                       "kind": "text"},
            "variants": [{"name": s, "kind": "zero-shot"} for s in setups], "examples": examples}


# -- pairs ---------------------------------------------------------------------------------------


def test_two_setups_give_one_pair_per_example_with_their_answers():
    results = make_results(("zero-shot", "tuned"), n=5)
    pairs = build_pairs(results, n=None)
    assert sorted(p.example_id for p in pairs) == [f"ex-{i:03d}" for i in range(5)]
    for p in pairs:
        assert {p.setup_a, p.setup_b} == {"zero-shot", "tuned"}
        assert p.answer_a.endswith(f"by {p.setup_a}.") and p.answer_b.endswith(f"by {p.setup_b}.")
        assert p.input.startswith("Message") and p.reference.startswith("Ref")


def test_three_setups_give_every_combination_and_n_limits_them():
    results = make_results(n=10)
    assert len(build_pairs(results, n=None)) == 30
    assert len(build_pairs(results)) == 20
    assert len(build_pairs(results, ["zero-shot", "tuned"], n=None)) == 10


def test_the_id_never_reveals_the_names_and_either_setup_is_shown_first():
    results = make_results(n=40)
    pairs = build_pairs(results, n=None)
    for p in pairs[:5]:
        assert len(p.id) == 12 and int(p.id, 16) >= 0
        assert p.id == pair_id(results["id"], p.example_id, p.setup_b, p.setup_a)
        assert "tuned" not in p.id and "zero" not in p.id
    first = [p.setup_a for p in pairs if {p.setup_a, p.setup_b} == {"zero-shot", "tuned"}]
    assert 10 <= first.count("tuned") <= 30  # about half: no setup always sits on the left


def test_the_same_seed_gives_the_same_pairs_and_another_seed_another_order():
    results = make_results()
    assert build_pairs(results, seed=3) == build_pairs(results, seed=3)
    assert [p.id for p in build_pairs(results, seed=3)] != [p.id for p in build_pairs(results, seed=4)]
    assert build_pairs(results, seed=3)[0] == all_pairs(results)[build_pairs(results, seed=3)[0].id]


def test_identical_answers_are_left_out_and_counted():
    results = make_results(("zero-shot", "tuned"), n=6, same=(1, 4))
    pairs = build_pairs(results, n=None)
    assert len(pairs) == 4 and identical_pairs(results) == 2
    assert {"ex-001", "ex-004"}.isdisjoint(p.example_id for p in pairs)
    assert len(all_pairs(results)) == 6  # a hand-made file may still vote on them


def test_unknown_or_too_few_setups_say_what_to_pick():
    results = make_results()
    with pytest.raises(ConfigError, match="'gpt' are not in comparison") as err:
        build_pairs(results, ["zero-shot", "gpt"])
    assert "zero-shot, few-shot 2, tuned" in err.value.fix
    with pytest.raises(ConfigError, match="1 setup is chosen"):
        build_pairs(results, ["tuned"])
    with pytest.raises(ConfigError, match="only 1"):
        build_pairs(make_results(("tuned",)))
    with pytest.raises(ConfigError, match="1 or more"):
        build_pairs(results, n=0)


def test_a_pack_carries_the_texts_and_never_the_setup_names():
    results = make_results()
    pairs = build_pairs(results, n=5)
    packed = pack(results, pairs)
    assert packed["format"] == "prompttune-lab-review" and packed["version"] == 1
    assert packed["comparison"] == results["id"] and packed["task"] == "Support reply"
    assert [p["pair"] for p in packed["pairs"]] == [p.id for p in pairs]
    assert packed["pairs"][0]["a"] == pairs[0].answer_a
    text = json.dumps({k: v for k, v in packed.items() if k != "pairs"})
    text += json.dumps([{k: v for k, v in p.items() if k not in ("a", "b")} for p in packed["pairs"]])
    assert not any(name in text for name in ("zero-shot", "few-shot 2", "tuned"))
    assert len(packed["pack"]) == 12 and pack(results, pairs[::-1])["pack"] == packed["pack"]


# -- votes in lab.db ------------------------------------------------------------------------------


CMP = "20261201-120000-abc123"


def test_a_vote_is_kept_replaced_by_a_new_one_and_undone():
    first, second = build_pairs(make_results(), n=2)
    review_store.add_vote(CMP, first, "Dana", "A")
    review_store.add_vote(CMP, second, "Dana", "tie")
    review_store.add_vote(CMP, first, "  Dana ", "B")  # changed her mind: replaces
    review_store.add_vote(CMP, first, "Lee", "both_bad")
    got = {(r.pair, r.reviewer): r for r in review_store.ratings(CMP)}
    assert len(got) == 3 and got[(first.id, "Dana")].vote == "B"
    assert got[(first.id, "Dana")].setup_a == first.setup_a and got[(first.id, "Lee")].source == "lab"
    assert review_store.reviewers(CMP) == {"Dana": 2, "Lee": 1}
    assert review_store.rated_pairs(CMP, "Dana") == {first.id, second.id}
    assert review_store.remove_vote(CMP, second.id, "Dana") is True
    assert review_store.remove_vote(CMP, second.id, "Dana") is False
    assert review_store.rated_pairs(CMP, "Dana") == {first.id}
    assert review_store.ratings("another") == []


def test_bad_votes_and_names_are_refused_with_the_fix():
    pair = build_pairs(make_results(), n=1)[0]
    with pytest.raises(ConfigError, match="'C' is not a vote") as err:
        review_store.add_vote(CMP, pair, "Dana", "C")
    assert all(v in err.value.fix for v in VOTES) and "Both bad" in err.value.fix
    for name in ("", "   ", "x" * 61, "Da\nna"):
        with pytest.raises(ConfigError, match="name"):
            review_store.add_vote(CMP, pair, name, "A")
    with pytest.raises(ConfigError, match="judge"):
        review_store.add_vote(CMP, pair, "judge: me", "A")
    with pytest.raises(ConfigError, match="judge"):
        review_store.add_vote(CMP, pair, "gemma", "A", source="judge")
    review_store.add_vote(CMP, pair, "judge: gemma-3-270m", "A", source="judge")
    assert review_store.ratings(CMP)[0].is_judge


def test_a_vote_that_cannot_be_saved_is_an_error_the_user_sees(lab_home):
    pair = build_pairs(make_results(), n=1)[0]
    lab_home.mkdir(parents=True, exist_ok=True)
    (lab_home / "lab.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="Could not save the vote") as err:
        review_store.add_vote(CMP, pair, "Dana", "A")
    assert "writable" in err.value.fix


def _import_in_process(args) -> bool:
    comparison, pair_ids = args
    votes = [review_store.Rating(p, "Kim", "x", "y", "A", "file", "2026-12-01T00:00:00+00:00")
             for p in pair_ids]
    return review_store.import_votes(comparison, "sha-of-the-file", votes, "Kim")[1]


def test_two_processes_importing_the_same_file_at_once_count_it_once():
    with closing(db.connect()):
        pass  # migrate first: each process then only writes
    ids = [p.id for p in build_pairs(make_results(), n=20)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        new = pool.map(_import_in_process, [(CMP, ids)] * 4)
    assert sorted(new) == [False, False, False, True]
    assert len(review_store.ratings(CMP)) == 20
    with closing(db.connect()) as conn:
        assert conn.execute("SELECT COUNT(*) FROM rating_imports").fetchone()[0] == 1


def test_migration_2_adds_the_review_tables_to_a_database_of_version_1(lab_home):
    lab_home.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(lab_home / "lab.db")) as conn:
        db.MIGRATIONS[0](conn)
        conn.execute("INSERT INTO runs VALUES ('r1', 'c', 'lora', 'm', 'd', 'queued', '/x', NULL)")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    pair = build_pairs(make_results(), n=1)[0]
    review_store.add_vote(CMP, pair, "Dana", "A")
    with closing(db.connect()) as conn:
        assert db.schema_version(conn) == 2
        assert conn.execute("SELECT id FROM runs").fetchall() == [("r1",)]
    assert [r.vote for r in review_store.ratings(CMP)] == ["A"]


def test_an_older_labs_database_in_a_read_only_folder_reads_as_no_votes(lab_home, monkeypatch):
    lab_home.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(lab_home / "lab.db")) as conn:
        db.MIGRATIONS[0](conn)  # version 1: made before reviews, and never migrated here
        conn.execute("PRAGMA user_version = 1")

    def unwritable(path=None):
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(db, "connect", unwritable)  # what a read-only folder does to it
    assert review_store.ratings(CMP) == [] and review_store.reviewers(CMP) == {}
    with pytest.raises(StorageError, match="Could not save the vote"):
        review_store.add_vote(CMP, build_pairs(make_results(), n=1)[0], "Dana", "A")
