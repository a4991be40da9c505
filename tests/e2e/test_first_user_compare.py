"""A first comparison in a real browser: started on the New tab, followed and finished there,
then opened; the results read whole (wrapped table, readable ticks, what break-even needs)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import screenshot

# Slow suite: test_hybrid_setup.py runs a comparison in the browser with the same checks (its
# progress and its finish on the New tab, Show the results, the verdict's test-example count,
# the when-to-use table's columns all visible); "needs a fine-tuned variant" is checked on the
# page in tests/pages/test_compare_page.py. This one started a second server and comparison.
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
LOAD = 180_000


def test_a_comparison_started_on_the_new_tab_shows_its_progress_and_finish_there(lab_server, page):
    page.goto(f"{lab_server}/Compare")
    examples = page.get_by_role("spinbutton", name="Test examples")
    examples.wait_for(timeout=LOAD)
    examples.fill("5")  # the smallest the page allows
    examples.press("Tab")
    page.get_by_role("button", name="Remove few-shot 4").click()  # zero-shot only
    page.get_by_role("button", name="Run comparison").click()
    main = page.locator("[data-testid=stMain]")
    progress = page.get_by_text(re.compile(r"variant 1 of 1 .* elapsed")).first
    progress.wait_for(timeout=60_000)
    progress.scroll_into_view_if_needed()
    screenshot(page, "first-compare-progress")  # where Run was pressed
    assert "follow it in the Results tab" not in main.inner_text()
    finished = page.get_by_text(re.compile(r"^Finished: comparison"))
    finished.wait_for(timeout=300_000)
    finished.scroll_into_view_if_needed()
    assert page.get_by_role("tab", name="New comparison").get_attribute("aria-selected") == "true"
    assert re.search(r"1 variant\(s\) in \d+:\d\d", finished.inner_text())
    screenshot(page, "first-compare-finished")
    page.get_by_role("button", name="Show the results").click()
    page.get_by_text("Verdict", exact=True).wait_for(timeout=60_000)
    assert page.get_by_role("tab", name="Results").get_attribute("aria-selected") == "true"
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    text = main.inner_text()
    assert "On 5 test examples" in text
    assert "needs a fine-tuned variant" in text  # break-even: says what to add
    table = page.locator("[data-testid=stTable]").first
    table.scroll_into_view_if_needed()
    for column in ("Prompting", "Few-shot", "RAG", "Fine-tuning"):  # none hidden to the right
        cell = table.get_by_text(column, exact=True).first
        assert cell.is_visible()
        box = cell.bounding_box()
        assert box["x"] + box["width"] <= 1400
    assert "Edit the text; re-check when the model changes" in table.inner_text()  # not cut
    screenshot(page, "first-compare-when-to-use")
