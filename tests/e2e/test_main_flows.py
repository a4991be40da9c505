"""The main flows in a real browser, on the real embedded model."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import screenshot, settled

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
LOAD = 180_000  # ms: the first load may convert the embedded model


def test_home_shows_the_lab_at_once_and_the_model_once_a_page_used_it(lab_server, page):
    page.goto(lab_server)
    # the home page needs no model: it is drawn without waiting for one
    page.get_by_text("Gemma 3 270M (base) · not loaded yet").wait_for(timeout=LOAD)
    assert page.get_by_role("heading", name="PromptTune Lab").is_visible()
    page.goto(f"{lab_server}/Playground")  # counts the prompt's tokens: loads the model there
    page.get_by_text("Gemma 3 270M (base) · llama.cpp engine").wait_for(timeout=LOAD)
    page.goto(lab_server)
    page.get_by_text("Gemma 3 270M (base) · llama.cpp engine").wait_for(timeout=LOAD)
    sidebar = page.locator("[data-testid=stSidebar]")
    for label in ("Home", "Playground", "History"):
        sidebar.get_by_role("link", name=label).wait_for(timeout=30_000)
    assert "device cpu" in sidebar.inner_text()
    screenshot(page, "home")


def test_playground_streams_an_answer_then_history_has_it(lab_server, page):
    page.goto(f"{lab_server}/Playground")
    prompt = page.get_by_role("textbox", name="Prompt")
    prompt.wait_for(timeout=LOAD)
    prompt.fill("Here is a list of ten fruits: apple, banana,")
    page.get_by_label("Max new tokens").fill("48")
    page.get_by_label("Max new tokens").press("Tab")
    page.get_by_role("button", name="Generate").click()

    # watch the answer grow while it streams
    main = page.locator("[data-testid=stMain]")
    lengths: list[int] = []
    deadline = time.time() + 120
    while time.time() < deadline and not main.get_by_text("Tokens/s").count():
        text = main.inner_text()
        if "Answer" in text:
            lengths.append(len(text.split("Answer", 1)[1]))
        time.sleep(0.1)
    page.get_by_text("Tokens/s").wait_for(timeout=10_000)
    page.get_by_text("engine: llama.cpp", exact=False).first.wait_for(timeout=30_000)  # drawn after
    assert len(set(lengths)) >= 3, f"the answer did not grow in steps: {lengths}"
    text = main.inner_text()
    assert "Prompt tokens" in text and "Answer tokens" in text and "First token" in text
    assert "engine: llama.cpp · model: embedded:gemma-3-270m" in text
    screenshot(page, "playground-answer")

    page.locator("[data-testid=stSidebar]").get_by_role("link", name="History").click()
    page.get_by_text("Here is a list of ten fruits").first.wait_for(timeout=30_000)
    screenshot(page, "history")


def _click_until(page, button, shown, artifact: str) -> None:
    """Click, and click once more if what the click shows has not come: on a busy 2-core CI
    machine a click that lands while Streamlit is between two reruns was seen to be dropped
    twice (the page then showed the button, unclicked); a user clicks again, and so does this.
    The first miss leaves a screenshot in test-artifacts for whoever looks into it."""
    button.click()
    try:
        shown.wait_for(timeout=20_000)
        return
    except PlaywrightTimeout:
        screenshot(page, artifact)
    settled(page)
    button.click()
    shown.wait_for(timeout=30_000)


def test_build_a_few_shot_set_then_use_it_in_the_playground(lab_server, page):
    page.goto(f"{lab_server}/Few-shot_builder")
    page.get_by_role("button", name="Load examples").wait_for(timeout=LOAD)
    page.get_by_role("button", name="Load examples").click()
    page.get_by_text("Context budget").wait_for(timeout=60_000)
    settled(page)  # typed while Load's rerun still ran, the name was wiped (seen in CI, twice)
    name = page.get_by_label("Set name")
    name.fill("class-demo")
    name.press("Enter")
    settled(page)  # the name's rerun has drawn the button the click goes to
    assert name.input_value() == "class-demo"
    _click_until(page, page.get_by_role("button", name="Save set"),
                 page.get_by_text("Saved 4 examples as class-demo"), "fewshot-save-missed")
    screenshot(page, "fewshot-builder")
    page.get_by_label("Validation examples").fill("12")
    page.get_by_label("Validation examples").press("Tab")
    page.get_by_role("button", name="Measure").click()
    page.get_by_text("How many shots? Accuracy on the validation slice").wait_for(timeout=240_000)
    page.get_by_text("How many shots? Accuracy on the validation slice").scroll_into_view_if_needed()
    screenshot(page, "fewshot-curve")

    page.locator("[data-testid=stSidebar]").get_by_role("link", name="Playground").click()
    # the Playground's own heading, then a settled page: until then the builder's labels may still
    # be on screen, and a click on one of them changes nothing
    page.get_by_role("heading", name="Playground").first.wait_for(timeout=60_000)
    main = page.locator("[data-testid=stMain]")
    main.get_by_text("Few-shot", exact=True).first.wait_for(timeout=60_000)
    settled(page)
    _click_until(page, main.locator("label").filter(has_text="Few-shot").first,
                 page.get_by_text("Examples to use (k)"), "fewshot-technique-missed")
    exact = page.locator("[data-testid=stExpander]").filter(has_text="The exact text the model sees")
    settled(page)  # the technique's rerun draws the set's examples into the prompt
    try:  # a guard against hanging, not a timing check: a busy CI machine was slower than 30 s
        exact.get_by_text("Sentiment: POSITIVE").first.wait_for(timeout=120_000)  # the set's examples
    except PlaywrightTimeout:
        screenshot(page, "fewshot-exact-text-missing")  # what the page showed instead
        raise
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Probability of each label").wait_for(timeout=120_000)
    # the figures row is drawn just after the chart: wait for it rather than read the page at once
    page.get_by_text("engine: llama.cpp", exact=False).first.wait_for(timeout=30_000)
    page.get_by_text("Tokens/s", exact=True).first.wait_for(timeout=30_000)
    screenshot(page, "playground-few-shot")


# Slow suite: test_first_user_playground.py runs the ReAct agent in the browser on shop-math's
# sample question (its steps, its transcript, the reference answer beside it).
@pytest.mark.slow
def test_react_agent_uses_the_calculator_in_the_browser(lab_server, page):
    page.goto(f"{lab_server}/Playground")
    page.locator("label").filter(has_text="ReAct").first.wait_for(timeout=LOAD)
    page.locator("label").filter(has_text="ReAct").first.click()
    page.get_by_label("Question").fill("What is 17 * 23?")
    page.get_by_label("Question").press("Enter")
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Step 1:").wait_for(timeout=120_000)
    page.get_by_text("The whole transcript the model read").wait_for(timeout=180_000)
    screenshot(page, "playground-react")


def _set_number(page, label: str, value: str) -> None:
    field = page.get_by_label(label)
    field.fill(value)
    field.press("Tab")


def test_train_a_short_run_then_watch_its_loss_curve(lab_server, page):
    page.goto(f"{lab_server}/Train")
    page.get_by_role("button", name="Start training").wait_for(timeout=LOAD)
    # live demo, shortened: 4 steps on the embedded Gemma, a small validation slice
    _set_number(page, "Max steps (0 = by epochs)", "4")
    _set_number(page, "At most this many validation examples (0 = all)", "6")
    main = page.locator("[data-testid=stMain]")
    main.get_by_text("Token lengths of 300 training examples").wait_for(timeout=120_000)
    settled(page)
    screenshot(page, "train-page")
    name = page.get_by_role("textbox", name="Run name (optional)")
    name.fill("four steps")
    name.press("Enter")
    main.get_by_text("Estimated time").scroll_into_view_if_needed()
    settled(page)
    screenshot(page, "train-page-check")
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Run four steps is").wait_for(timeout=60_000)
    page.get_by_role("link", name="Watch it on the Runs page").wait_for(timeout=60_000)
    page.get_by_role("link", name="Watch it on the Runs page").click()

    page.get_by_role("heading", name="Runs").wait_for(timeout=60_000)
    page.get_by_role("heading", name="Run four steps").wait_for(timeout=60_000)  # by its name
    # the live view polls the run's events: the curve gains points while it trains
    main.get_by_text("Step", exact=True).wait_for(timeout=240_000)
    screenshot(page, "runs-live")
    main.get_by_text("Finished.").wait_for(timeout=300_000)
    main.get_by_text("Metrics", exact=True).wait_for(timeout=60_000)  # the page reran on the end
    settled(page)
    points = page.locator(".js-plotly-plot .scatterlayer .trace").first.locator("path.point")
    assert points.count() == 4, points.count()
    text = main.inner_text()
    assert "/adapter" in text and "Not written yet" not in text and "metrics.json" in text
    screenshot(page, "runs-finished")
    main.get_by_text("Metrics", exact=True).scroll_into_view_if_needed()
    screenshot(page, "runs-outputs")
