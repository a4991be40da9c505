"""A browser smoke test of every page: it renders with the embedded model and shows no error.

In the slow suite: the default suite opens every page by its URL in
tests/e2e/test_first_user_offline.py with the same checks (its heading, no error once the
sidebar's model status is drawn, a screenshot), so a second server and eleven more page loads
cost CI time and checked nothing more."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
PAGES = [("", "PromptTune Lab"), ("Tour", "10-minute lesson"), ("Tasks", "Tasks"),
         ("Playground", "Playground"),
         ("Few-shot_builder", "Few-shot builder"), ("Knowledge", "Knowledge"), ("Train", "Train"),
         ("Runs", "Runs"), ("Compare", "Compare"), ("Advisor", "Advisor"),
         ("History", "History")]


@pytest.mark.parametrize("path, heading", PAGES)
def test_page_renders_without_an_error(lab_server, page, path, heading):
    page.goto(f"{lab_server}/{path}")
    # the sidebar's model status: loaded, or loading where a page first uses it
    page.get_by_text(re.compile("llama.cpp engine|not loaded yet")).first.wait_for(timeout=180_000)
    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert page.locator("[data-testid=stException]").count() == 0
    screenshot(page, f"page-{path or 'home'}")
