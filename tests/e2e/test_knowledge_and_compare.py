"""Knowledge and Compare in a real browser: upload a document and ask; run two variants, get the report.

Both in the slow suite (`./lab.sh test -m slow`): each test says which default test checks
the same flow."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
LOAD = 180_000


# Slow suite: the default suite uploads and indexes a document into a new collection
# (test_first_user_knowledge.py's first test) and asks a question with and without the
# documents, the answer citing its passages (its second test); with both tests here slow, this
# module's server and model load are not started in the default suite either.
@pytest.mark.slow
def test_upload_a_document_and_ask_with_and_without_it(lab_server, page, tmp_path):
    doc = tmp_path / "kettle.md"
    doc.write_text("# The Ember kettle\n\nThe Ember kettle costs 57 euros and boils one litre in "
                   "three minutes. It comes in teal and sand.\n")
    page.goto(f"{lab_server}/Knowledge")
    page.get_by_label("New collection name").wait_for(timeout=LOAD)
    page.get_by_label("New collection name").fill("my-notes")
    page.get_by_label("New collection name").press("Enter")
    page.locator("input[type=file]").set_input_files(str(doc))
    page.get_by_role("button", name="Add to 'my-notes' and index").click()
    page.get_by_text("my-notes: 1 document,").wait_for(timeout=120_000)
    question = page.get_by_role("textbox", name="Question", exact=True)
    question.fill("How much does the Ember kettle cost?")
    question.press("Enter")
    page.get_by_text("similarity").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Ask both").click()
    page.get_by_text("Cites:").wait_for(timeout=120_000)
    page.get_by_text("tok/s").nth(1).wait_for(timeout=30_000)  # the second answer's figures, drawn last
    main = page.locator("[data-testid=stMain]").inner_text()
    assert "Without the documents" in main and "With 1 passage (RAG)" in main
    assert "kettle.md" in main
    page.get_by_text("Cites:").scroll_into_view_if_needed()
    screenshot(page, "knowledge-ask")


# Slow suite: the default suite runs a comparison in the browser to its finish and results in
# test_first_user_compare.py, and one with a downloaded report opened offline (its charts
# drawn, nothing fetched) in test_hybrid_setup.py; this one's run of two variants on 12
# examples checked nothing they do not.
@pytest.mark.slow
def test_two_variant_comparison_and_its_report(lab_server, page, tmp_path):
    page.goto(f"{lab_server}/Compare")
    examples = page.get_by_role("spinbutton", name="Test examples")
    examples.wait_for(timeout=LOAD)
    examples.fill("12")
    examples.press("Tab")
    page.get_by_role("button", name="Run comparison").click()
    page.get_by_text(re.compile(r"variant \d of 2 .* elapsed")).first.wait_for(timeout=60_000)
    page.get_by_role("tab", name="Results").click()
    page.get_by_text("Verdict", exact=True).wait_for(timeout=300_000)
    page.get_by_text("Per example").wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    screenshot(page, "compare-results")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download the report (HTML, works offline)").click()
    report = tmp_path / "report.html"
    download.value.save_as(report)
    offline = page.context.new_page()
    offline.goto(report.as_uri())
    offline.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    assert offline.locator(".js-plotly-plot").count() >= 3
    assert "zero-shot" in offline.inner_text("body") and "few-shot 4" in offline.inner_text("body")
    screenshot(offline, "compare-report-offline")
