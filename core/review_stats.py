"""What the blind review says: win rates, a ranking of the setups, and how far reviewers agree.

``summary`` is a pure function of a comparison's results and its votes (``review_store.ratings``),
so the Compare page, the report and a test draw the same figures. People's votes make the win
rates and the ranking; a judge's (reviewer "judge: ...") never do: they are only set beside the
people's, to show how far the judge can be trusted. Every interval is 95%; the bootstraps are
seeded, so the same votes always give the same figures.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any

import choix
import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from core.metrics import wilson
from core.review import VOTES, setup_names
from core.review_store import JUDGE_PREFIX, Rating

BOOTSTRAP = 200  # resamples: enough for a 95% interval's ends to two decimals, ~1 s in all
SEED = 0
ALPHA = 0.1  # Bradley-Terry regularisation: a twentieth of a vote each way between every two
# setups (the data are doubled to count ties as half), so a setup that never loses gets a large
# but finite strength instead of an infinite one, and every other strength barely moves
FEW = 20  # below this many shared pairs a kappa is a rough sign, and the words say so
BANDS = ((0.2, "slight"), (0.4, "fair"), (0.6, "moderate"),
         (0.8, "substantial"), (float("inf"), "almost perfect"))


def summary(results: dict, ratings: list[Rating]) -> dict[str, Any]:
    """Everything the review shows, as plain data (see the module docstring)."""
    people = [r for r in ratings if not r.reviewer.startswith(JUDGE_PREFIX)]
    judges = [r for r in ratings if r.reviewer.startswith(JUDGE_PREFIX)]
    setups = _setups(results, people)
    return {"votes": len(people), "pairs": len({r.pair for r in people}),
            "reviewers": dict(Counter(r.reviewer for r in people)),
            "win_rates": win_rates(people, setups), "ranking": ranking(people, setups),
            "agreement": agreement(people), "judges": judge_agreement(people, judges)}


def _setups(results: dict, ratings: list[Rating]) -> list[str]:
    """The setups in the results' order, then any others the votes name (a setup since renamed)."""
    named = setup_names(results)
    voted = {s for r in ratings for s in (r.setup_a, r.setup_b)}
    return [s for s in named if s in voted] + sorted(voted - set(named))


def _winner(r: Rating) -> str | None:
    return r.setup_a if r.vote == "A" else r.setup_b if r.vote == "B" else None


# -- win rates ---------------------------------------------------------------------------------


def win_rates(ratings: list[Rating], setups: list[str]) -> list[dict[str, Any]]:
    """One row for each two setups that people compared, from the side of the one ahead.

    rate = (wins + ties/2) / n with n = wins + losses + ties: "both bad" says nothing about which
    is better, so it is left out of the rate and counted apart. The interval is Wilson's score
    interval (core.metrics.wilson) on that rate: it stays inside 0-1 and keeps a sensible width at
    the small n a review has and at rates of 0 or 1, where a bootstrap shrinks to a point; a tie
    counted as half a win makes the true spread a little narrower, so it errs on the wide side.
    Several people rating the same pair are not independent draws of the setups' quality, so the
    interval counts pairs, not votes (the rate over all votes, on as many trials as there are
    distinct pairs): three reviewers of 6 pairs give 6 pairs' width, not 18 votes'.
    """
    rows = []
    for s, t in combinations(setups, 2):
        votes = [r for r in ratings if {r.setup_a, r.setup_b} == {s, t}]
        if votes:
            row = _rate_row(s, t, votes)
            rows.append(row if row["rate"] is None or row["rate"] >= 0.5
                        else _rate_row(t, s, votes))
    return rows


def _rate_row(setup: str, other: str, votes: list[Rating]) -> dict[str, Any]:
    wins = sum(_winner(r) == setup for r in votes)
    losses = sum(_winner(r) == other for r in votes)
    ties = sum(r.vote == "tie" for r in votes)
    n = wins + losses + ties
    rate = (wins + ties / 2) / n if n else None
    pairs = len({r.pair for r in votes if r.vote != "both_bad"})
    low, high = wilson(rate * pairs, pairs) if n else (None, None)
    return {"setup": setup, "other": other, "wins": wins, "losses": losses, "ties": ties,
            "both_bad": sum(r.vote == "both_bad" for r in votes), "n": n,
            "rate": _r(rate), "low": _r(low), "high": _r(high)}


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


# -- ranking -----------------------------------------------------------------------------------


def _comparisons(ratings: list[Rating], index: dict[str, int]) -> list[tuple[int, int]]:
    """The votes as (winner, loser) for choix, each counted twice so a tie can be half a win
    each way; "both bad" votes are left out."""
    data = []
    for r in ratings:
        a, b = index[r.setup_a], index[r.setup_b]
        data += {"A": [(a, b)] * 2, "B": [(b, a)] * 2, "tie": [(a, b), (b, a)]}.get(r.vote, [])
    return data


def _strengths(n_items: int, data: list[tuple[int, int]]) -> np.ndarray:
    """Bradley-Terry strengths that sum to 1: setup i is preferred to j with chance
    s_i / (s_i + s_j)."""
    try:
        theta = choix.ilsr_pairwise(n_items, data, alpha=ALPHA)
    except RuntimeError:  # ILSR did not converge: the direct optimiser is slower but sure
        theta = choix.opt_pairwise(n_items, data, alpha=ALPHA)
    s = np.exp(theta - theta.max())
    return s / s.sum()


def ranking(ratings: list[Rating], setups: list[str]) -> list[dict[str, Any]]:
    """The setups ranked by Bradley-Terry strength from people's votes, strongest first, each
    with a 95% bootstrap interval (resampling the votes) and P(best): the share of resamples in
    which it comes out strongest. Empty unless two setups or more have votes."""
    decisive = [r for r in ratings if r.vote != "both_bad"]
    voted = [s for s in setups if any(s in (r.setup_a, r.setup_b) for r in decisive)]
    if len(voted) < 2:
        return []
    index = {s: i for i, s in enumerate(voted)}
    decisive = [r for r in decisive if r.setup_a in index and r.setup_b in index]
    point = _strengths(len(voted), _comparisons(decisive, index))
    rng, draws = np.random.default_rng(SEED), []
    for _ in range(BOOTSTRAP):
        sample = [decisive[i] for i in rng.integers(0, len(decisive), len(decisive))]
        draws.append(_strengths(len(voted), _comparisons(sample, index)))
    draws = np.array(draws)
    best = np.bincount(draws.argmax(axis=1), minlength=len(voted)) / len(draws)
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    rows = [{"setup": s, "strength": _r(point[i]), "low": _r(low[i]), "high": _r(high[i]),
             "p_best": _r(best[i], 3)} for s, i in index.items()]
    return sorted(rows, key=lambda row: -row["strength"])


# -- agreement ---------------------------------------------------------------------------------


def kappa_words(kappa: float | None, n: int, unit: str = "pair") -> str:
    """A kappa in words, by Landis & Koch's bands (below 0: worse than chance), with the number
    of pairs it rests on and a caution when they are fewer than 20."""
    pairs = f"{n} {unit}{'s' * (n != 1)}"
    if kappa is None:
        return (f"agreement cannot be measured on {pairs}: every vote was the same, so there is "
                "no chance level to compare with")
    if kappa < 0:
        text = f"agreement worse than chance (kappa {kappa:.2f} on {pairs})"
    elif round(kappa, 2) == 0:  # Landis & Koch's "slight" starts at 0; 0.00 is chance itself
        text = f"agreement no better than chance (kappa {kappa:.2f} on {pairs})"
    else:
        band = next(word for top, word in BANDS if kappa <= top)
        text = f"{band} agreement (kappa {kappa:.2f} on {pairs}, Landis & Koch's bands)"
    if n < FEW:
        text += f"; fewer than {FEW} {unit}s, so read it as a rough sign only"
    return text


def _codes(votes: list[str]) -> np.ndarray:
    return np.array([VOTES.index(v) for v in votes])


def _kappa(a: list[str], b: list[str]) -> float | None:
    """Cohen's kappa of two lists of votes over the four votes; None where it is undefined
    (both gave one and the same vote throughout)."""
    value = cohen_kappa_score(a, b, labels=list(VOTES), replace_undefined_by=np.nan)
    return None if np.isnan(value) else float(value)


def bootstrap_kappa(a: np.ndarray, b: np.ndarray, draws: int = BOOTSTRAP,
                    seed: int = SEED) -> tuple[float | None, float | None]:
    """95% bootstrap interval of Cohen's kappa (resampling the pairs), computed for all
    resamples at once (sklearn's one at a time would take seconds); resamples where kappa is
    undefined are skipped."""
    if len(a) < 2:
        return None, None
    idx = np.random.default_rng(seed).integers(0, len(a), (draws, len(a)))
    x, y = a[idx], b[idx]
    observed = (x == y).mean(axis=1)
    chance = sum((x == k).mean(axis=1) * (y == k).mean(axis=1) for k in range(len(VOTES)))
    ok = chance < 1
    if not ok.any():
        return None, None
    kappas = (observed[ok] - chance[ok]) / (1 - chance[ok])
    low, high = np.percentile(kappas, [2.5, 97.5])
    return float(low), float(high)


def _by_reviewer(ratings: list[Rating]) -> dict[str, dict[str, str]]:
    """Each reviewer's votes, by pair id."""
    found: dict[str, dict[str, str]] = {}
    for r in ratings:
        found.setdefault(r.reviewer, {})[r.pair] = r.vote
    return found


def _pair_agreement(name_a: str, a: dict[str, str], name_b: str, b: dict[str, str]) -> dict:
    shared = sorted(set(a) & set(b))
    x, y = [a[p] for p in shared], [b[p] for p in shared]
    kappa = _kappa(x, y) if len(shared) >= 2 else None
    low, high = bootstrap_kappa(_codes(x), _codes(y)) if kappa is not None else (None, None)
    agree = sum(u == v for u, v in zip(x, y)) / len(shared)
    return {"a": name_a, "b": name_b, "n": len(shared), "kappa": _r(kappa), "low": _r(low),
            "high": _r(high), "agree": _r(agree)}


def _fleiss(votes: dict[str, dict[str, str]]) -> dict[str, Any] | None:
    """Fleiss' kappa over the pairs every one of three or more reviewers rated (it needs the
    same raters on every item); None with fewer reviewers or fewer than two such pairs."""
    if len(votes) < 3:
        return None
    shared = sorted(set.intersection(*(set(v) for v in votes.values())))
    if len(shared) < 2:
        return None
    table, _ = aggregate_raters(np.array([[VOTES.index(v[p]) for v in votes.values()]
                                          for p in shared]), n_cat=len(VOTES))
    kappa = float(fleiss_kappa(table))
    return {"n": len(shared), "kappa": None if np.isnan(kappa) else _r(kappa),
            "reviewers": len(votes)}


def agreement(people: list[Rating]) -> dict[str, Any]:
    """How far people agree: Cohen's kappa for each two reviewers on the pairs both rated,
    Fleiss' kappa across three or more, and a sentence that says it plainly."""
    votes = _by_reviewer(people)
    rows = [_pair_agreement(a, votes[a], b, votes[b]) for a, b in combinations(sorted(votes), 2)
            if set(votes[a]) & set(votes[b])]
    fleiss = _fleiss(votes)
    return {"pairs": rows, "fleiss": fleiss, "words": _agreement_words(rows, fleiss, len(votes))}


def _agreement_words(rows: list[dict], fleiss: dict | None, reviewers: int) -> str:
    if not rows:
        return ("Agreement between reviewers needs two people who rated the same pairs; "
                + ("so far only one has rated." if reviewers == 1 else
                   "none have yet." if not reviewers else "no two have rated the same pair yet."))
    most = max(rows, key=lambda row: row["n"])
    text = (f"{most['a']} and {most['b']} gave the same vote on {round(most['agree'] * most['n'])}"
            f" of {most['n']} pairs: {kappa_words(most['kappa'], most['n'])}.")
    if fleiss and fleiss["kappa"] is not None:
        text += (f" Across all {fleiss['reviewers']} reviewers (Fleiss' kappa): "
                 f"{kappa_words(fleiss['kappa'], fleiss['n'])}.")
    return text[0].upper() + text[1:]


def judge_agreement(people: list[Rating], judges: list[Rating]) -> list[dict[str, Any]]:
    """For each judge: its vote set beside every person's vote on the same pair, with Cohen's
    kappa and the share of the same vote, so a user sees how far to trust it."""
    mine = _by_reviewer(people)
    rows = []
    for judge, verdicts in _by_reviewer(judges).items():
        pairs = [(verdicts[p], v[p]) for v in mine.values() for p in v if p in verdicts]
        n = len(pairs)
        kappa = _kappa(*map(list, zip(*pairs))) if n >= 2 else None
        agree = sum(j == p for j, p in pairs) / n if n else None
        words = (f"{judge} gave the people's vote on {sum(j == p for j, p in pairs)} of {n} votes:"
                 f" {kappa_words(kappa, n, 'vote')}" if n else
                 f"{judge} has rated no pair a person rated, so its agreement is unknown")
        rows.append({"judge": judge, "n": n, "kappa_vs_people": _r(kappa),
                     "agree_vs_people": _r(agree), "words": words + "." + _small_warning(judge)})
    return rows


def _small_warning(judge: str) -> str:
    """The judge module's plain warning for the embedded 270M/135M models, wherever a judge's
    agreement is told (the Compare page, the report, the CLI)."""
    from core.judge import SMALL_EMBEDDED  # the judge imports the store: not at module level

    if not any(name in judge.lower() for name in SMALL_EMBEDDED):
        return ""
    size = "270M" if "270m" in judge.lower() else "135M"
    return (f" It is a very small model ({size} parameters): expect poor agreement with "
            "people, and do not trust its verdicts without people's ratings.")


# -- tables --------------------------------------------------------------------------------------


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"{low:.2f} to {high:.2f}"


WINS = ["Setup", "Against", "Wins", "Losses", "Ties", "Both bad", "Win rate", "95% interval"]
RANK = ["Rank", "Setup", "Strength", "95% interval", "P(best)"]
AGREE = ["Between", "Pairs", "Same vote", "Kappa", "95% interval"]


def summary_tables(summary: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The summary as three tables for the page and the report: "Win rates", "Ranking",
    "Agreement" (people with each other, then each judge with people)."""
    wins = pd.DataFrame(columns=WINS, data=[{"Setup": w["setup"], "Against": w["other"], "Wins": w["wins"],
                          "Losses": w["losses"], "Ties": w["ties"], "Both bad": w["both_bad"],
                          "Win rate": w["rate"], "95% interval": _interval(w["low"], w["high"])}
                         for w in summary["win_rates"]])
    rank = pd.DataFrame(columns=RANK, data=[{"Rank": i, "Setup": r["setup"], "Strength": r["strength"],
                          "95% interval": _interval(r["low"], r["high"]), "P(best)": r["p_best"]}
                         for i, r in enumerate(summary["ranking"], 1)])
    agree = [{"Between": f"{a['a']} and {a['b']}", "Pairs": a["n"], "Same vote": a["agree"],
              "Kappa": a["kappa"], "95% interval": _interval(a["low"], a["high"])}
             for a in summary["agreement"]["pairs"]]
    agree += [{"Between": f"{j['judge']} and people", "Pairs": j["n"],
               "Same vote": j["agree_vs_people"], "Kappa": j["kappa_vs_people"],
               "95% interval": ""} for j in summary["judges"]]
    return {"Win rates": wins, "Ranking": rank, "Agreement": pd.DataFrame(agree, columns=AGREE)}
