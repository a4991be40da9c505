"""Issue 19's browser test: a blind review by people, as they would do it.

On Compare, the free-text sample task support-reply is compared (zero-shot, few-shot 2 and
few-shot 4 on the embedded Gemma 270M, 8 test examples: 24 pairs of answers); on the Review tab
Dana, then Lee, rate the same 20 pairs with the keyboard (a button click and Back too), never
seeing a setup's name; Results shows their win rates with intervals and Cohen's kappa in words,
and the report carries the same figures. Then the report with a blind review is opened from
disk with every network request refused, Sam rates there and saves a ratings file, which the
Compare page imports (three reviewers, Fleiss' kappa) and, imported again, counts once.

Every figure is checked against votes this test counts itself. The console shows no error but
the server's own health and host-config 404s. Screenshots: test-artifacts/review-*.png.
Chromium's save-file picker (which a headless browser cannot answer) is hidden, so a table's
"Download as CSV" saves as in Firefox or Safari."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import ARTIFACTS, settled

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
LOAD = 180_000  # ms: the first load may convert the embedded model
TASK = "support-reply"
SETUPS = ("zero-shot", "few-shot 2", "few-shot 4")
EXAMPLES = 8  # 3 pairs of setups each: 24 pairs, 20 reviewed (room for identical answers)
PAIRS = 20
KEYS = {"a": "A", "b": "B", "t": "tie", "x": "both_bad"}
DANA = "abtxabbaxtabtaabbtax"  # each reviewer's vote on pair 1..20, by key
LEE = "abtaabbaxbabtaabataa"
SAM = "bbtxabbaxtaatabbbtab"
IN_PAGE = ("file:", "blob:", "data:")  # all a file opened from disk may load
NO_PICKER = "delete Window.prototype.showSaveFilePicker; delete window.showSaveFilePicker;"


def _console(page) -> list[str]:
    """Console errors, less the server's own health and host-config probes (known 404s)."""
    errors: list[str] = []

    def seen(message) -> None:
        where = (message.location or {}).get("url", "")
        if message.type == "error" and "/_stcore/" not in where:
            errors.append(f"{message.text} ({where})")
    page.on("console", seen)
    return errors


def _shot(target, name: str) -> Path:
    """A screenshot of what is on screen (Streamlit scrolls inside the page, so a full-page
    shot would show only the top)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    target.screenshot(path=str(path))
    return path


def _table(page, main, label: str) -> pd.DataFrame:
    """The data grid right under ``label``, saved with its own "Download as CSV" button."""
    title = main.get_by_text(label, exact=True).filter(visible=True).first
    frame = title.locator("xpath=ancestor::*[@data-testid='stElementContainer'][1]"
                          "/following-sibling::*[@data-testid='stElementContainer']"
                          "[.//*[@data-testid='stDataFrame']][1]")
    frame.scroll_into_view_if_needed()
    frame.hover()
    with page.expect_download(timeout=30_000) as download:
        frame.get_by_role("button", name="Download as CSV").click()
    return pd.read_csv(download.value.path(), encoding="utf-8-sig", dtype=str)


def _run_comparison(page, main) -> str:
    """The sample task, 8 examples, three prompt setups; run to the end; its results."""
    task = main.get_by_role("combobox", name="Task")
    task.wait_for(timeout=LOAD)
    task.click()
    page.get_by_role("option", name=re.compile("Support replies")).click()
    settled(page)
    examples = page.get_by_role("spinbutton", name="Test examples")
    examples.fill(str(EXAMPLES))
    examples.press("Tab")
    settled(page)
    main.get_by_role("combobox", name="Prompt variants").click()
    page.get_by_role("option", name="few-shot 2").click()
    page.keyboard.press("Escape")
    settled(page)
    assert f"Setups in this comparison ({len(SETUPS)})" in main.inner_text()
    page.get_by_role("button", name="Run comparison").click()
    finished = page.get_by_text(re.compile(r"^Finished: comparison"))
    finished.wait_for(timeout=1_800_000)
    assert f"{len(SETUPS)} variant(s)" in finished.inner_text()
    page.get_by_role("button", name="Show the results").click()
    main.get_by_text("Paired differences", exact=True).wait_for(timeout=60_000)
    settled(page)
    from core.compare_runs import list_comparisons

    [comparison] = list_comparisons()
    return comparison.id


def _check_metrics(page, main) -> None:
    """chrF, ROUGE-L and MiniLM similarity, each with its interval, for every setup."""
    metrics = _table(page, main, "Verdict").set_index("Variant")
    for setup in SETUPS:
        for column in ("chrF", "ROUGE-L", "Similarity (MiniLM)"):
            assert re.fullmatch(r"\d\.\d+ \[\d\.\d+, \d\.\d+\]",
                                metrics.loc[setup, column]), (setup, column, metrics)


def _card(page) -> str:
    """The pair card as the reviewer reads it: from "Pair k of n" to the vote buttons."""
    text = page.get_by_role("tabpanel").filter(visible=True).inner_text()
    return text[text.index("Pair "):text.index("A is better")]


def _input_shown(card: str) -> str:
    return " ".join(card.split("Input", 1)[1].split("Show the reference answer")[0].split())


def _rate(page, main, who: str, keys: str, pairs: list) -> None:
    """One reviewer rates every pair: keys, plus a click and Back for Dana."""
    name = main.get_by_role("textbox", name="Your name")
    name.fill(who)
    name.press("Tab")  # leaves the field: the keys now vote
    for i, key in enumerate(keys):
        progress = page.get_by_text(f"{i} of {PAIRS} rated by {who}", exact=True)
        progress.wait_for(timeout=60_000)
        settled(page)
        card = _card(page)
        assert card.startswith(f"Pair {i + 1} of {PAIRS}"), card[:80]
        assert not any(setup in card for setup in SETUPS), card  # blind: no setup's name
        assert _input_shown(card) == " ".join(pairs[i].input.split())  # the same order for all
        if who == "Dana" and i == 0:
            page.get_by_text(f"Pair 1 of {PAIRS}").scroll_into_view_if_needed()
            _shot(page, "review-pair-card")
        if who == "Dana" and i == 2:  # the button, by a click, then Back undoes it
            main.get_by_role("button", name="Both bad").click()
            page.get_by_text(f"3 of {PAIRS} rated by {who}", exact=True).wait_for(timeout=60_000)
            settled(page)
            main.get_by_role("button", name="Back").click()
            progress.wait_for(timeout=60_000)
            settled(page)
            assert _card(page).startswith(f"Pair 3 of {PAIRS}")
            main.get_by_role("button", name=_word(key)).click()
            continue
        if who == "Dana" and i == 7:  # Backspace is Back too: the vote undone, then given
            page.keyboard.press("x")
            page.get_by_text(f"8 of {PAIRS} rated by {who}", exact=True).wait_for(timeout=60_000)
            settled(page)
            page.keyboard.press("Backspace")
            progress.wait_for(timeout=60_000)
            settled(page)
        page.keyboard.press(key)
    page.get_by_text(f"All {PAIRS} pairs rated by {who}", exact=False).wait_for(timeout=60_000)
    settled(page)
    assert page.get_by_text(f"{PAIRS} of {PAIRS} rated by {who}", exact=True).is_visible()


def _word(key: str) -> str:
    return {"a": "A is better", "b": "B is better", "t": "Tie", "x": "Both bad"}[key]


def _expected_wins(pairs: list, votes: dict[str, str]) -> dict[tuple[str, str], Counter]:
    """Our own count: for each two setups (sorted), wins of the first, losses, ties, both bad."""
    found: dict[tuple[str, str], Counter] = {}
    for who, keys in votes.items():
        for pair, key in zip(pairs, keys):
            first, second = sorted((pair.setup_a, pair.setup_b))
            vote = KEYS[key]
            tally = found.setdefault((first, second), Counter())
            if vote in ("tie", "both_bad"):
                tally[vote] += 1
            else:
                winner = pair.setup_a if vote == "A" else pair.setup_b
                tally["wins" if winner == first else "losses"] += 1
    return found


def _check_win_rates(table: pd.DataFrame, pairs: list, votes: dict[str, str]) -> None:
    """Each row's counts and rate as we counted them, and a 95% interval around the rate."""
    expected = _expected_wins(pairs, votes)
    assert len(table) == len(expected), table
    for row in table.to_dict("records"):
        setup, other = row["Setup"], row["Against"]
        tally = expected[tuple(sorted((setup, other)))]
        wins, losses = ((tally["wins"], tally["losses"]) if setup < other
                        else (tally["losses"], tally["wins"]))
        assert (int(row["Wins"]), int(row["Losses"]), int(row["Ties"]), int(row["Both bad"])) \
            == (wins, losses, tally["tie"], tally["both_bad"]), row
        rate = (wins + tally["tie"] / 2) / (wins + losses + tally["tie"])
        assert float(row["Win rate"]) == pytest.approx(rate, abs=1e-4), row
        low, high = map(float, row["95% interval"].split(" to "))
        assert low <= rate <= high, row


def _kappa_words(a: str, b: str) -> str:
    """What the page says of two reviewers' agreement, from our own count (sklearn's kappa)."""
    from sklearn.metrics import cohen_kappa_score

    same = sum(x == y for x, y in zip(a, b))
    kappa = cohen_kappa_score([KEYS[k] for k in a], [KEYS[k] for k in b],
                              labels=list(KEYS.values()))
    return f"gave the same vote on {same} of {PAIRS} pairs", f"(kappa {kappa:.2f} on {PAIRS} pairs"


def _tab(page, name: str) -> None:
    settled(page)  # a tab clicked during a rerun may not take the click
    page.get_by_role("tab", name=name).click()
    settled(page)


def _results_section(page, main) -> str:
    _tab(page, "Results")
    section = main.get_by_text("Reviews by people", exact=True)
    section.wait_for(timeout=60_000)
    settled(page)
    return main.inner_text().split("Reviews by people", 1)[1].split("Metric\n", 1)[0]


def _report_section(page, tmp_path: Path, button: str, name: str) -> str:
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name=button).click()
    path = tmp_path / name
    download.value.save_as(path)
    return path.read_text(encoding="utf-8")


def _people_html(report: str) -> str:
    return report.split("<h2>Reviews by people</h2>", 1)[1].split("<h2>", 1)[0]


def _offline_review(browser, report: Path, pairs: list) -> Path:
    """Sam rates inside the file, opened from disk with every request refused; the ratings file."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    refused: list[str] = []

    def refuse(route) -> None:
        if route.request.url.startswith(IN_PAGE):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", refuse)
    page = context.new_page()
    errors = _console(page)
    page.on("request", lambda r: None if r.url.startswith(IN_PAGE) else refused.append(r.url))
    page.goto(report.as_uri())
    assert page.locator("#pt-position").inner_text() == f"Pair 1 of {PAIRS}"
    assert not any(setup in page.locator("#pt-review").inner_text() for setup in SETUPS)
    page.locator("#pt-name").fill("Sam")
    page.keyboard.press("Enter")  # leaves the name field, so the keys vote
    for i, key in enumerate(SAM):
        assert " ".join(page.locator("#pt-input").inner_text().split()) == \
            " ".join(pairs[i].input.split())
        if i == 4:
            page.locator("#pt-review").scroll_into_view_if_needed()
            _shot(page, "review-offline-page")
        page.keyboard.press(key)
    assert page.locator("#pt-count").inner_text() == f"{PAIRS} of {PAIRS} rated"
    with page.expect_download() as download:
        page.get_by_role("button", name="Save ratings file").click()
    saved = download.value
    path = report.parent / saved.suggested_filename
    saved.save_as(path)
    assert refused == [], f"the offline page asked the network for {refused}"
    assert not errors, errors
    context.close()
    return path


def test_two_reviewers_then_one_offline_rate_a_free_text_comparison(lab_and_home, page, browser,
                                                                    tmp_path, monkeypatch):
    url, home = lab_and_home
    monkeypatch.setenv("PROMPTTUNE_HOME", str(home))  # this test reads what the lab wrote
    page.context.add_init_script(NO_PICKER)
    page.set_default_timeout(120_000)  # a busy 2-core machine draws Results' charts slowly
    errors = _console(page)
    page.goto(f"{url}/Compare")
    main = page.locator("[data-testid=stMain]")
    comparison = _run_comparison(page, main)
    _check_metrics(page, main)

    from core.compare_runs import load_results
    from core.review import build_pairs

    results = load_results(comparison)
    shown = [v["name"] for v in results["variants"]]  # the tab's order: few-shot 2 came last
    assert sorted(shown) == sorted(SETUPS)
    pairs = build_pairs(results, shown, PAIRS, seed=0)  # what the tab shows, in order
    assert len(pairs) == PAIRS
    _tab(page, "Review")
    main.get_by_text(f"{PAIRS} pairs", exact=False).first.wait_for(timeout=60_000)
    settled(page)
    _rate(page, main, "Dana", DANA, pairs)
    _rate(page, main, "Lee", LEE, pairs)
    same, kappa = _kappa_words(DANA, LEE)

    text = _results_section(page, main)
    assert f"{2 * PAIRS} votes on {PAIRS} pairs by Dana ({PAIRS}), Lee ({PAIRS})." in text
    assert f"Dana and Lee {same}" in text and kappa in text, text
    assert "Landis & Koch" in text
    wins = _table(page, main, "Win rates")
    _check_win_rates(wins, pairs, {"Dana": DANA, "Lee": LEE})
    main.get_by_text("Reviews by people", exact=True).scroll_into_view_if_needed()
    _shot(page, "review-summary")
    report = _report_section(page, tmp_path, "Download the report (HTML, works offline)",
                             "report.html")
    people = _people_html(report)
    assert f"Dana and Lee {same}" in people and kappa in people
    carried = pd.read_html(io.StringIO(people))[0]
    assert [(r["Setup"], r["Against"], r["Wins"], r["Losses"]) for r in carried.to_dict("records")] \
        == [(r["Setup"], r["Against"], int(r["Wins"]), int(r["Losses"]))
            for r in wins.to_dict("records")]
    assert [f"{float(r):.2g}" for r in wins["Win rate"]] == \
        [f"{float(r):.2g}" for r in carried["Win rate"]]
    assert list(carried["95% interval"]) == list(wins["95% interval"])

    _tab(page, "Review")
    offline = tmp_path / "review" / "report with a review.html"
    offline.parent.mkdir()
    offline.write_text(_report_section(page, tmp_path, "Report with a blind review (HTML, works "
                                       "offline)", "blind.html"), encoding="utf-8")
    ratings = _offline_review(browser, offline, pairs)
    data = json.loads(ratings.read_text())
    assert data["reviewer"] == "Sam" and data["comparison"] == comparison
    assert [r["vote"] for r in data["ratings"]] == [KEYS[k] for k in SAM]

    uploader = page.locator("[data-testid=stFileUploader] input[type=file]")
    uploader.set_input_files(str(ratings))
    main.get_by_text(f"Imported {PAIRS} votes by Sam from {ratings.name}").wait_for(
        timeout=60_000)
    settled(page)
    _shot(page, "review-imported")
    text = _results_section(page, main)
    assert f"{3 * PAIRS} votes on {PAIRS} pairs by Dana ({PAIRS}), Lee ({PAIRS}), Sam ({PAIRS})." \
        in text, text
    assert "Across all 3 reviewers (Fleiss' kappa)" in text, text
    three = _table(page, main, "Win rates")
    _check_win_rates(three, pairs, {"Dana": DANA, "Lee": LEE, "Sam": SAM})
    main.get_by_text("Reviews by people", exact=True).scroll_into_view_if_needed()
    _shot(page, "review-summary-three")

    page.reload()  # another visit imports the same file again (in one visit, removing it
    _tab(page, "Review")  # and choosing it again uploaded nothing: see the report)
    uploader.set_input_files(str(ratings))
    main.get_by_text(re.compile(r"already imported on .*: its 20 votes are counted once")) \
        .wait_for(timeout=60_000)
    settled(page)
    _shot(page, "review-imported-again")
    again = _results_section(page, main)
    assert again == text
    assert _table(page, main, "Win rates").equals(three)
    assert not errors, errors
