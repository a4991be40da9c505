"""What the blind review says (core.review_stats): win rates, a Bradley-Terry ranking, kappa."""

from __future__ import annotations

import json

import numpy as np
from sklearn.metrics import cohen_kappa_score

from core.metrics import wilson
from core.review import build_pairs
from core.review_stats import (bootstrap_kappa, kappa_words, summary, summary_tables, _codes)
from core.review_store import Rating
from tests.core.test_review import make_results

RESULTS = make_results(n=40)
PAIRS = build_pairs(RESULTS, n=None)


def _between(s: str, t: str) -> list:
    return [p for p in PAIRS if {p.setup_a, p.setup_b} == {s, t}]


def vote_for(pair, winner: str | None, who: str, vote: str | None = None) -> Rating:
    """``who``'s vote on ``pair``: for the setup ``winner`` (whichever side it is shown on)."""
    if vote is None:
        vote = "A" if pair.setup_a == winner else "B"
    return Rating(pair.id, who, pair.setup_a, pair.setup_b, vote, "lab", "2026-12-01T10:00:00")


def test_a_win_rate_counts_ties_as_half_and_both_bad_apart():
    pairs = _between("zero-shot", "tuned")
    plan = ["tuned"] * 6 + ["zero-shot"] * 2 + ["tie"] * 2 + ["both_bad"] * 3
    votes = [vote_for(p, w, "Dana") if w not in ("tie", "both_bad") else vote_for(p, None, "Dana", w)
             for p, w in zip(pairs, plan)]
    row, = summary(RESULTS, votes)["win_rates"]
    assert (row["setup"], row["other"]) == ("tuned", "zero-shot")  # told from the side ahead
    assert (row["wins"], row["losses"], row["ties"], row["both_bad"], row["n"]) == (6, 2, 2, 3, 10)
    assert row["rate"] == 0.7
    assert (row["low"], row["high"]) == tuple(round(x, 4) for x in wilson(7, 10))
    assert row["low"] < 0.5 < row["high"]  # ten votes cannot settle it


def test_judges_never_count_in_win_rates_or_the_ranking():
    pairs = _between("zero-shot", "tuned")[:10]
    people = [vote_for(p, "tuned", "Dana") for p in pairs]
    judge = [vote_for(p, "zero-shot", "judge: gemma") for p in pairs]
    got = summary(RESULTS, people + judge)
    assert got["votes"] == 10 and got["reviewers"] == {"Dana": 10}
    assert got["win_rates"][0]["setup"] == "tuned" and got["win_rates"][0]["rate"] == 1.0
    assert got["ranking"][0]["setup"] == "tuned"
    judged, = got["judges"]
    assert judged["judge"] == "judge: gemma" and judged["n"] == 10
    assert judged["agree_vs_people"] == 0.0
    assert "gave the people's vote on 0 of 10 votes" in judged["words"]


def test_the_ranking_puts_the_setup_people_prefer_first_with_a_finite_strength():
    votes = [vote_for(p, "tuned", "Dana") for p in _between("zero-shot", "tuned")[:15]]
    votes += [vote_for(p, "tuned", "Dana") for p in _between("few-shot 2", "tuned")[:15]]
    votes += [vote_for(p, "few-shot 2", "Dana") for p in _between("few-shot 2", "zero-shot")[:10]]
    votes += [vote_for(p, "zero-shot", "Dana") for p in _between("few-shot 2", "zero-shot")[10:14]]
    ranking = summary(RESULTS, votes)["ranking"]
    assert [r["setup"] for r in ranking] == ["tuned", "few-shot 2", "zero-shot"]
    assert abs(sum(r["strength"] for r in ranking) - 1) < 1e-3
    top = ranking[0]
    assert np.isfinite(top["strength"]) and top["strength"] < 1  # never lost, still finite
    assert top["low"] <= top["strength"] <= top["high"] and top["p_best"] > 0.9
    assert summary(RESULTS, votes) == summary(RESULTS, votes)  # seeded: the same figures
    assert json.loads(json.dumps(summary(RESULTS, votes))) == summary(RESULTS, votes)  # for --json


def test_all_ties_give_equal_strengths_and_one_setup_gives_no_ranking():
    ties = [vote_for(p, None, "Dana", "tie") for p in _between("zero-shot", "tuned")[:12]]
    first, second = summary(RESULTS, ties)["ranking"]
    assert first["strength"] == second["strength"] == 0.5
    bad = [vote_for(p, None, "Dana", "both_bad") for p in _between("zero-shot", "tuned")[:5]]
    got = summary(RESULTS, bad)
    assert got["ranking"] == [] and got["win_rates"][0]["rate"] is None
    assert got["win_rates"][0]["both_bad"] == 5
    assert summary(RESULTS, [])["ranking"] == [] and summary(RESULTS, [])["win_rates"] == []


def test_two_reviewers_who_always_agree_have_kappa_1_with_a_caution_under_20_pairs():
    pairs = _between("zero-shot", "tuned")[:12]
    votes = [vote_for(p, "tuned" if i % 3 else "zero-shot", who)
             for who in ("Dana", "Lee") for i, p in enumerate(pairs)]
    agreement = summary(RESULTS, votes)["agreement"]
    row, = agreement["pairs"]
    assert (row["a"], row["b"], row["n"], row["kappa"], row["agree"]) == ("Dana", "Lee", 12, 1.0, 1.0)
    assert agreement["fleiss"] is None  # two reviewers: Cohen's kappa says it
    assert "Dana and Lee gave the same vote on 12 of 12 pairs" in agreement["words"]
    assert "almost perfect agreement" in agreement["words"]
    assert "fewer than 20 pairs" in agreement["words"]


def test_reviewers_who_always_disagree_agree_worse_than_chance():
    pairs = _between("zero-shot", "tuned")[:24]
    votes = [vote_for(p, "tuned" if i % 2 else "zero-shot", "Dana") for i, p in enumerate(pairs)]
    votes += [vote_for(p, "zero-shot" if i % 2 else "tuned", "Lee") for i, p in enumerate(pairs)]
    agreement = summary(RESULTS, votes)["agreement"]
    assert agreement["pairs"][0]["kappa"] < 0
    assert "worse than chance" in agreement["words"] and "fewer than" not in agreement["words"]


def test_fleiss_kappa_across_three_reviewers_on_the_pairs_all_rated():
    pairs = _between("few-shot 2", "tuned")[:20]
    votes = []
    for who, flips in (("Dana", ()), ("Lee", (3,)), ("Kim", (3, 7))):
        votes += [vote_for(p, "tuned" if (i % 2) != (i in flips) else "few-shot 2", who)
                  for i, p in enumerate(pairs)]
    got = summary(RESULTS, votes)["agreement"]
    assert len(got["pairs"]) == 3
    assert got["fleiss"]["n"] == 20 and got["fleiss"]["reviewers"] == 3
    assert 0.6 < got["fleiss"]["kappa"] < 1
    assert "Across all 3 reviewers (Fleiss' kappa)" in got["words"]


def test_no_agreement_is_claimed_without_two_reviewers_on_the_same_pairs():
    pairs = _between("zero-shot", "tuned")
    votes = [vote_for(p, "tuned", "Dana") for p in pairs[:5]]
    assert "only one has rated" in summary(RESULTS, votes)["agreement"]["words"]
    votes += [vote_for(p, "tuned", "Lee") for p in pairs[5:10]]
    got = summary(RESULTS, votes)["agreement"]
    assert got["pairs"] == [] and "no two have rated the same pair" in got["words"]


def test_kappa_words_follow_landis_and_koch():
    assert kappa_words(0.1, 30) == "slight agreement (kappa 0.10 on 30 pairs, Landis & Koch's bands)"
    assert kappa_words(0.3, 30).startswith("fair")
    assert kappa_words(0.5, 30).startswith("moderate")
    assert kappa_words(0.7, 30).startswith("substantial")
    assert kappa_words(0.9, 30).startswith("almost perfect")
    assert kappa_words(-0.2, 30).startswith("agreement worse than chance")
    assert "rough sign" in kappa_words(0.9, 19) and "rough sign" not in kappa_words(0.9, 20)
    assert "cannot be measured" in kappa_words(None, 5)


def test_the_bootstrap_interval_brackets_sklearns_kappa():
    rng = np.random.default_rng(1)
    a = list(rng.choice(["A", "B", "tie", "both_bad"], 40))
    b = [v if rng.random() < 0.7 else "tie" for v in a]
    kappa = cohen_kappa_score(a, b, labels=["A", "B", "tie", "both_bad"])
    low, high = bootstrap_kappa(_codes(a), _codes(b))
    assert low < kappa < high and high - low < 0.6


def test_the_tables_carry_the_figures_with_readable_headers():
    pairs = _between("zero-shot", "tuned")[:6]
    votes = [vote_for(p, "tuned", who) for who in ("Dana", "Lee") for p in pairs]
    tables = summary_tables(summary(RESULTS, votes))
    assert set(tables) == {"Win rates", "Ranking", "Agreement"}
    assert tables["Win rates"].iloc[0]["Setup"] == "tuned" and tables["Win rates"].iloc[0]["Wins"] == 12
    assert list(tables["Ranking"]["Setup"]) == ["tuned", "zero-shot"]
    assert tables["Agreement"].iloc[0]["Between"] == "Dana and Lee"
    empty = summary_tables(summary(RESULTS, []))
    assert "Win rate" in empty["Win rates"].columns and empty["Ranking"].empty
