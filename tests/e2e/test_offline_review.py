"""A stakeholder reviews inside the downloaded report: opened from disk with every network
request refused, rated with the keyboard, saved as a ratings file the lab imports once.

No lab server and no model: a tiny free-text comparison written to the test's data folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import review
from core.compare_runs import comparisons_dir
from core.report import html_report
from tests.core.test_report_review import ATTACK, SETUPS, text_results
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e
IN_PAGE = ("file:", "blob:", "data:")  # what a file opened from disk may load: nothing outside


def save_finished(results: dict) -> None:
    """The comparison as a finished one in the lab's data folder, so it can import votes."""
    folder = comparisons_dir() / results["id"]
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(results["config"]))
    (folder / "status.json").write_text(json.dumps({"status": "succeeded"}))
    (folder / "results.json").write_text(json.dumps(results))


@pytest.fixture
def report_file(tmp_path) -> tuple[dict, dict, Path]:
    results = text_results()
    save_finished(results)
    pack = review.pack(results, review.build_pairs(results, n=None))
    path = tmp_path / "report with review.html"
    path.write_text(html_report(results, {"pack": pack, "summary": None}), encoding="utf-8")
    return results, pack, path


@pytest.fixture
def offline(browser):
    """A tab that refuses every request but the file's own, and lists each one it refused."""
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
    page.on("request", lambda r: None if r.url.startswith(IN_PAGE) else refused.append(r.url))
    yield page, refused, context
    context.close()


def _counts(page) -> str:
    return page.locator("#pt-count").inner_text()


def _shown(page) -> str:
    """The pair on screen, as the reviewer reads it."""
    return page.locator("#pt-a").inner_text() + "\n" + page.locator("#pt-b").inner_text()


def test_a_review_in_the_file_offline_is_saved_and_imported_once(report_file, offline):
    from core import review_file, review_store

    results, pack, path = report_file
    page, refused, _ = offline
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    assert page.locator("#pt-position").inner_text() == "Pair 1 of 3"
    assert not any(name in page.locator("#pt-review").inner_text() for name in SETUPS)
    page.keyboard.press("a")  # no name yet: nothing counted, the page says why
    assert "Type your name first" in page.locator("#pt-msg").inner_text()
    assert _counts(page) == "0 of 3 rated"
    page.locator("#pt-name").press_sequentially("Dana Bax")  # an "a", a "b" typed: no vote
    page.keyboard.press("Enter")
    assert _counts(page) == "0 of 3 rated"
    seen = [_shown(page)]
    page.keyboard.press("a")
    screenshot(page, "offline-review-pair-2")
    seen.append(_shown(page))
    page.keyboard.press("t")
    assert _counts(page) == "2 of 3 rated"
    assert page.locator("#pt-position").inner_text() == "Pair 3 of 3"
    page.reload()  # the votes and the name are kept by the browser, per pack
    assert _counts(page) == "2 of 3 rated" and page.locator("#pt-name").input_value() == "Dana Bax"
    seen.append(_shown(page))
    page.keyboard.press("x")
    assert "All 3 pairs rated" in page.locator("#pt-msg").inner_text()
    assert page.locator("#pt-position").inner_text() == "Pair 3 of 3"  # the last stays shown
    page.get_by_role("button", name="Back").click()
    assert page.locator("#pt-position").inner_text() == "Pair 2 of 3"
    assert page.locator("#pt-your-vote").inner_text() == "Your vote: Tie"
    with page.expect_download() as download:
        page.get_by_role("button", name="Save ratings file").click()
    saved = download.value
    assert saved.suggested_filename == f"ratings-{results['id']}-Dana-Bax.json"
    data = Path(saved.path()).read_bytes()
    assert refused == [], f"the page asked the network for {refused}"
    assert any(ATTACK in text for text in seen) and dialogs == []  # markup shown as text
    assert seen == [f"{p['a']}\n{p['b']}" for p in pack["pairs"]]
    page.evaluate("fetch('https://example.com/x').catch(() => null)")  # the guard itself works
    page.wait_for_timeout(300)
    assert any("example.com" in url for url in refused)

    ratings = json.loads(data)
    assert ratings["reviewer"] == "Dana Bax" and ratings["pack"] == pack["pack"]
    assert [r["vote"] for r in ratings["ratings"]] == ["A", "tie", "both_bad"]
    first = review_file.import_ratings(results["id"], data, saved.suggested_filename)
    again = review_file.import_ratings(results["id"], data, saved.suggested_filename)
    assert (first.votes, first.reviewer, first.already_imported) == (3, "Dana Bax", False)
    assert again.already_imported and "counted once" in again.message
    counted = review_store.ratings(results["id"])
    assert len(counted) == 3 and {r.reviewer for r in counted} == {"Dana Bax"}
    by_pair = {r.pair: r.vote for r in counted}
    assert [by_pair[p["pair"]] for p in pack["pairs"]] == ["A", "tie", "both_bad"]


def test_where_the_browser_refuses_storage_the_review_still_works_and_says_to_save(
        report_file, offline):
    results, pack, path = report_file
    page, refused, context = offline
    # as some browsers do for a file opened from disk: any use of localStorage throws
    context.add_init_script("Object.defineProperty(window, 'localStorage', {get() {"
                            "throw new DOMException('denied', 'SecurityError'); }});")
    page.goto(path.as_uri())
    assert "does not let the page keep your votes" in page.locator("#pt-msg").inner_text()
    page.locator("#pt-name").fill("Lee")
    page.keyboard.press("Enter")  # leaves the name field, so the keys vote
    for key in ("b", "b", "a"):
        page.keyboard.press(key)
    assert _counts(page) == "3 of 3 rated"
    with page.expect_download() as download:
        page.get_by_role("button", name="Save ratings file").click()
    saved = json.loads(Path(download.value.path()).read_bytes())
    assert [r["vote"] for r in saved["ratings"]] == ["B", "B", "A"]
    assert saved["comparison"] == results["id"] and refused == []
