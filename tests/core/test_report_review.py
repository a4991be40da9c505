"""The offline report's review parts: the blind review a stakeholder does inside the file, and
the "Reviews by people" section. What the page does in a browser is tested in
tests/e2e/test_offline_review.py; here, what the HTML carries and hides."""

from __future__ import annotations

import html
import json
import re

import pytest

from core import report, review
from core.errors import ConfigError
from core.report_review import RESULTS_FOLD, pack_json, review_html

SETUPS = ("house-style-tuned", "plain-zero-shot")  # names a reviewer must never see
ATTACK = "</script><script>alert('pwned')</script><!-- <b>bold</b>"


def text_results() -> dict:
    """A free-text comparison of two setups on four customer messages; one answer is markup."""
    rows = [("m1", "My order #12 never arrived.", "Hello, sorry your order is late.",
             ("Dear customer, we are sorry. Ref #12.", "idk")),
            ("m2", "Can I change my <b>address</b>?", "Hello, yes you can.",
             ("Dear customer, yes you can.", ATTACK)),
            ("m3", "Refund please", "Hello, refunds take 5 days.",
             ("Dear customer, 5 days.", "Dear customer, 5 days.")),
            ("m4", "App crashes on start", "Hello, please update the app.",
             ("Dear customer, please update the app.", "Try turning it off & on"))]

    def variant(name: str, chrf: float) -> dict:
        return {"name": name, "kind": "zero-shot", "engine": "transformers",
                "model": "embedded:gemma-3-270m", "adapter": None, "n_shots": 0,
                "prompt_tokens_mean": 40.0, "completion_tokens_mean": 20.0,
                "latency_mean_s": 0.5, "tokens_per_s": 40.0, "cost_per_1000": None,
                "metrics": {"chrf": {"value": chrf, "low": chrf - 0.1, "high": chrf + 0.1}},
                "training_cost": None, "error": None}

    examples = [{"id": i, "input": text, "reference": ref,
                 "outputs": {n: {"prediction": p, "correct": None, "raw": p}
                             for n, p in zip(SETUPS, answers)}}
                for i, text, ref, answers in rows]
    config = {"task": "support-reply", "n_examples": 4, "seed": 0,
              "variants": [{"name": n, "kind": "zero-shot", "engine": "transformers"}
                           for n in SETUPS]}
    return {"id": "20261201-120000-support", "created_at": "2026-12-01T12:00:00+00:00",
            "duration_s": 12.0, "config": config, "prices": {},
            "task": {"name": "support-reply", "title": "Support replies", "kind": "text",
                     "labels": None},
            "variants": [variant(SETUPS[0], 0.6), variant(SETUPS[1], 0.3)],
            "examples": examples}


def review_pack(results: dict) -> dict:
    """The pack the lab puts in a report: every pair whose answers differ."""
    return review.pack(results, review.build_pairs(results, n=None))


@pytest.fixture
def results() -> dict:
    return text_results()


@pytest.fixture(scope="module")
def page() -> str:
    """Made once: a report inlines plotly.js, seconds per rendering."""
    results = text_results()
    return report.html_report(results, {"pack": review_pack(results), "summary": None})


def _review_part(page: str) -> str:
    """Everything a reviewer sees before opening the folded results."""
    return page.split('<details class="pt-results"', 1)[0]


def test_the_review_comes_first_and_names_no_setup(page):
    review = _review_part(page)
    assert "Blind review" in review and "Pair 1 of 3" in review  # m3's answers are identical
    for name in SETUPS:
        assert name not in review, f"the review part names {name}"
    assert review.index("Blind review") < page.index(RESULTS_FOLD)


def test_every_section_naming_the_setups_is_folded_behind_the_results_details(page):
    folded = page.split(f"<summary>{RESULTS_FOLD}</summary>", 1)[1]
    for section in ("Verdict", "Metrics", "Charts", "Configuration"):
        assert f"<h2>{section}</h2>" in folded
    assert all(name in folded for name in SETUPS)


def test_the_page_has_the_four_votes_back_progress_and_save(page):
    for label in ("A is better (A)", "B is better (B)", "Tie (T)", "Both bad (X)", "Back",
                  "Save ratings file", "Your name", "Show the reference answer",
                  "Answer A", "Answer B"):
        assert label in page
    assert "<progress" in page and "localStorage" in page and "download" in page


def test_an_answer_with_markup_cannot_close_the_script_or_inject_any(results, page):
    pack = review_pack(results)
    carried = re.search(r'<script type="application/json" id="pt-review-pack">(.*?)</script>',
                        page, re.S).group(1)
    assert "<" not in carried  # so neither "</script>" nor "<!--" can end the data early
    assert json.loads(carried) == pack  # and the page reads back exactly the answers
    assert "<script>alert" not in page  # nowhere: the disagreement table escapes it too
    assert any(ATTACK in p["a"] + p["b"] for p in json.loads(carried)["pairs"])


def test_the_review_asks_nothing_of_the_network(page):
    review = _review_part(page)
    assert not re.search(r"https?://", review)
    assert "fetch(" not in review and "XMLHttpRequest" not in review
    assert " src=" not in review  # no script or image loaded from elsewhere


def _same_charts(page: str) -> str:
    """The page with each chart's random element id made one, to compare two renderings."""
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", page)


def test_without_a_review_the_report_is_unchanged(results):
    plain = report.html_report(results)
    with_none = report.html_report(results, {"pack": None, "summary": None})
    assert _same_charts(with_none) == _same_charts(plain)
    assert "pt-review" not in plain and "Reviews by people" not in plain
    assert RESULTS_FOLD not in plain


def test_a_pack_that_is_not_one_or_has_no_pairs_is_refused_with_a_fix(results):
    with pytest.raises(ConfigError, match="not a review pack"):
        review_html({"pairs": []})
    empty = review_pack(results)
    empty["pairs"] = []
    with pytest.raises(ConfigError, match="no pairs") as caught:
        report.html_report(results, {"pack": empty, "summary": None})
    assert caught.value.fix


# --- "Reviews by people" ----------------------------------------------------------------------

def _votes(results: dict) -> list:
    """Dana and Lee rate every pair (the tuned setup wins each for Dana, Lee ties one), and a
    judge always says A."""
    from core.review_store import Rating

    ratings = []
    for i, pair in enumerate(review.build_pairs(results, n=None)):
        tuned = "A" if pair.setup_a == SETUPS[0] else "B"
        for who, vote in (("Dana", tuned), ("Lee", "tie" if i == 0 else tuned),
                          ("judge: gemma-3-270m", "A")):
            ratings.append(Rating(pair.id, who, pair.setup_a, pair.setup_b, vote,
                                  "judge" if who.startswith("judge") else "lab",
                                  "2026-12-01T12:00:00+00:00"))
    return ratings


@pytest.fixture(scope="module")
def people_page() -> tuple[dict, str]:
    from core.review_stats import summary

    results = text_results()
    said = summary(results, _votes(results))
    return said, report.html_report(results, {"pack": None, "summary": said})


def test_reviews_by_people_show_who_rated_win_rates_ranking_agreement_and_the_judge(people_page):
    said, page = people_page
    section = page.split("<h2>Reviews by people</h2>", 1)[1].split("<h2>", 1)[0]
    assert "6 votes on 3 pairs by 2 people: Dana (3), Lee (3)." in section
    assert "Judges (models; never counted in the win rates or the ranking): gemma-3-270m" in section
    for heading in ("Win rates", "Ranking", "Agreement"):
        assert f"<h3>{heading}</h3>" in section
    tuned = next(w for w in said["win_rates"] if w["setup"] == SETUPS[0])
    assert tuned["wins"] == 5 and tuned["ties"] == 1  # the figures the table draws
    assert f"<td>{SETUPS[0]}</td>" in section and "<table" in section
    assert html.escape(said["agreement"]["words"]) in section
    assert html.escape(said["judges"][0]["words"]) in section


def test_reviews_by_people_sit_after_the_metrics_and_fold_with_them_beside_a_review(people_page):
    said, page = people_page
    assert page.index("<h2>Metrics</h2>") < page.index("<h2>Reviews by people</h2>") < \
        page.index("<h2>Paired differences</h2>")
    results = text_results()
    folded = report.html_report(results, {"pack": review_pack(results), "summary": said})
    before, after = folded.split(f"<summary>{RESULTS_FOLD}</summary>", 1)
    assert "Reviews by people" not in before and "<h2>Reviews by people</h2>" in after


def test_a_comparison_nobody_rated_says_so():
    from core.report_review import people_html

    assert "No one has rated" in people_html({"votes": 0})
    assert "No one has rated" in people_html(None)
