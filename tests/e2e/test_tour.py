"""The 10-minute lesson end to end in a real browser, on the embedded Gemma: the tour as a test.

Slow (the live-demo LoRA run trains ~2.5-3 minutes, the comparison ~1.5): run it with
`pytest -m slow tests/e2e/test_tour.py`. Each step leaves a screenshot in test-artifacts/
(tour-*.png), the report it downloads (tour-report.html) and the step timings
(tour-timings.json).
"""

from __future__ import annotations

import json
import re
import time

import pytest

from core.train_config import PRESETS
from tests.e2e.conftest import ARTIFACTS, screenshot, settled

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
LOAD = 180_000      # ms: the first load may convert the embedded model
TRAIN = 480_000     # ms: the live-demo run measured 128 s of training, 168 s with load and eval
COMPARE = 420_000   # ms: 150 reviews x 4 variants took 139 s
TOUR_LINK = "Tour: the 10-minute lesson"


def _step(page, number: int):
    """The bordered block of one step of the tour."""
    return page.locator(f".st-key-tour_step_{number}")


def _to_tour(page) -> None:
    page.locator("[data-testid=stSidebar]").get_by_role("link", name=TOUR_LINK).click()
    page.get_by_role("heading", name="The 10-minute lesson").wait_for(timeout=60_000)
    settled(page)


def _generate_in_playground(page, technique: str, name: str) -> str:
    """Press Generate on the Playground the tour opened; the label probabilities must show."""
    page.get_by_role("heading", name="Playground").wait_for(timeout=60_000)
    checked = page.locator("[data-testid=stRadio] input[type=radio]:checked")
    checked.wait_for(timeout=30_000)
    assert page.locator("label").filter(has_text=technique).first.is_visible()
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Probability of each label").wait_for(timeout=120_000)
    settled(page)
    page.get_by_text("Probability of each label").scroll_into_view_if_needed()  # the answer
    text = page.locator("[data-testid=stMain]").inner_text()
    assert "Tokens/s" in text and "engine: llama.cpp" in text
    screenshot(page, name)
    return text


def test_the_ten_minute_lesson_end_to_end(lab_server, page):
    timings: dict[str, float] = {}
    main = page.locator("[data-testid=stMain]")

    # the home page leads to the tour
    page.goto(lab_server)
    page.get_by_role("link", name=re.compile("Take the 10-minute lesson")).wait_for(timeout=LOAD)
    page.get_by_role("link", name=re.compile("Take the 10-minute lesson")).click()
    page.get_by_role("heading", name="The 10-minute lesson").wait_for(timeout=60_000)
    settled(page)
    # the overview is drawn last (after step 3's estimate from the measured training speed)
    main.get_by_text("0 of 5 steps done").wait_for(timeout=60_000)
    screenshot(page, "tour-0-overview")

    # 1. zero-shot: the tally shows the POSITIVE bias, then one review in the Playground
    started = time.time()
    page.get_by_role("button", name="Ask the model about 12 test reviews (zero-shot)").click()
    tally = _step(page, 1).get_by_text(re.compile(r"Zero-shot on the first 12 test reviews"))
    tally.wait_for(timeout=120_000)
    zero = re.search(r"(\d+) of 12 right · answers: (.+?) ·", tally.inner_text())
    assert zero, tally.inner_text()
    positives = int(re.search(r"POSITIVE (\d+)", zero.group(2)).group(1))
    assert positives >= 8, f"zero-shot was expected to answer mostly POSITIVE: {zero.group(2)}"
    settled(page)
    screenshot(page, "tour-1-zero-shot")
    _step(page, 1).get_by_role("button", name="Show one of them in the Playground").click()
    _generate_in_playground(page, "Zero-shot", "tour-1-playground-zero-shot")
    timings["1 zero-shot"] = round(time.time() - started, 1)

    # 2. few-shot: one click saves tour-4-shot and scores the same 12 reviews, shown in step 2
    _to_tour(page)
    started = time.time()
    page.get_by_role("button", name="Save the 4-example set 'tour-4-shot' and score the same "
                                    "12 reviews").click()
    shots = _step(page, 2).get_by_text(re.compile(r"With 4 examples: \d+ of 12 right"))
    shots.wait_for(timeout=120_000)
    few = re.search(r"(\d+) of 12 right, against (\d+) of 12 zero-shot", shots.inner_text())
    assert few and int(few.group(2)) == int(zero.group(1)), (shots.inner_text(), zero.group(0))
    assert int(few.group(1)) > int(zero.group(1)), (shots.inner_text(), zero.group(0))
    settled(page)
    _step(page, 2).scroll_into_view_if_needed()
    screenshot(page, "tour-2-few-shot")
    # then one of the 12 in the Playground's few-shot technique: a test review, no shot
    _step(page, 2).get_by_role("button", name="Show one of them in the Playground").click()
    page.get_by_text("Examples to use (k)").wait_for(timeout=120_000)
    exact = page.locator("[data-testid=stExpander]").filter(has_text="The exact text the model sees")
    exact.get_by_text("Sentiment: MIXED").first.wait_for(timeout=30_000)  # the set's examples
    _generate_in_playground(page, "Few-shot", "tour-2-playground-few-shot")
    timings["2 few-shot"] = round(time.time() - started, 1)
    _to_tour(page)

    # 3. the live-demo LoRA run, watched live on the tour
    started = time.time()
    page.get_by_role("button", name="Start the live-demo LoRA run").click()
    training = _step(page, 3)
    steps = PRESETS["live-demo"].max_steps
    training.get_by_text(re.compile(rf"^step \d+ of {steps}$")).wait_for(timeout=TRAIN)
    assert training.get_by_text("While it trains, talk about").is_visible()
    screenshot(page, "tour-3-training")
    training.get_by_text(re.compile(r"finished in \d+:\d\d")).wait_for(timeout=TRAIN)
    timings["3 training (click to finished)"] = round(time.time() - started, 1)
    settled(page)
    points = training.locator(".js-plotly-plot .scatterlayer .trace").first.locator("path.point")
    assert points.count() >= 30, points.count()  # the loss of (nearly) every step
    training.scroll_into_view_if_needed()
    screenshot(page, "tour-3-trained")

    # 4. the comparison: four variants on the first 150 test reviews
    started = time.time()
    compare = _step(page, 4)
    assert compare.get_by_role("spinbutton", name="Test reviews").input_value() == "150"
    compare.get_by_role("button", name=re.compile("Run the comparison")).click()
    compare.get_by_text(re.compile(r"variant \d of 4")).wait_for(timeout=60_000)
    compare.scroll_into_view_if_needed()
    screenshot(page, "tour-4-comparing")
    compare.get_by_text(re.compile(r"on 150 test reviews took")).wait_for(timeout=COMPARE)
    timings["4 comparison (click to results)"] = round(time.time() - started, 1)
    settled(page)
    table = compare.locator("[data-testid=stTable]").inner_text()
    accuracy = {}
    for name in ("zero-shot", "few-shot 4", "few-shot 8", "LoRA live demo (tour)"):
        row = re.search(re.escape(name) + r"\s+(0\.\d+|1\.0+)\s+(0\.\d\d) – (\d\.\d\d)\s+(\d+)", table)
        assert row, (name, table)
        accuracy[name] = [float(row.group(i)) for i in (1, 2, 3)] + [int(row.group(4))]
    zero_acc, four, tuned = (accuracy[n] for n in ("zero-shot", "few-shot 4", "LoRA live demo (tour)"))
    # the lesson's claim: zero-shot < few-shot < LoRA, with 95% intervals apart
    assert zero_acc[2] < four[1] and four[2] < tuned[1], accuracy
    assert accuracy["LoRA live demo (tour)"][3] * 3 < accuracy["few-shot 4"][3]  # prompt tokens
    assert compare.locator(".js-plotly-plot").count() == 2  # accuracy bars, quality vs cost
    compare.scroll_into_view_if_needed()
    screenshot(page, "tour-4-compared")

    # 5. the report and what to tell a stakeholder
    report_step = _step(page, 5)
    talk = report_step.inner_text()
    assert "Break-even" in talk and "queries" in talk and "about 1/" in talk, talk
    assert "Where prompting is enough" in talk
    with page.expect_download(timeout=120_000) as download:
        report_step.get_by_role("button", name="Download the report (HTML, works offline)").click()
    report = ARTIFACTS / "tour-report.html"
    download.value.save_as(report)
    settled(page)
    assert "5 of 5 steps done" in main.inner_text()
    report_step.scroll_into_view_if_needed()
    screenshot(page, "tour-5-report")

    # the report offline: file:// in the same browser, with every network request refused
    offline = page.context.new_page()
    requested: list[str] = []
    offline.route(re.compile(r"^https?://"), lambda route: (requested.append(route.request.url),
                                                             route.abort()))
    offline.goto(report.as_uri())
    offline.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3",
                              timeout=60_000)
    charts = offline.locator(".js-plotly-plot").count()
    assert charts >= 3 and not requested, (charts, requested)
    assert "LoRA live demo (tour)" in offline.inner_text("body")
    screenshot(offline, "tour-5-report-offline")
    offline.close()

    # the Compare page opens on the tour's comparison
    compare.get_by_role("button", name="Open the results on the Compare page").click()
    page.get_by_role("heading", name="Compare").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Results").click()
    page.get_by_role("heading", name="Verdict").wait_for(timeout=60_000)
    settled(page)
    assert main.locator(".js-plotly-plot").count() >= 3
    screenshot(page, "tour-4-compare-page")

    # a new session (a closed tab, an app restart) finds the tour's run and comparison again
    again = page.context.new_page()
    again.goto(f"{lab_server}/Tour")
    again.get_by_text(re.compile(r"on 150 test reviews took")).wait_for(timeout=LOAD)
    # every step is found again, the report's download included
    again.get_by_text(re.compile(r"^5 of 5 steps done")).wait_for(timeout=60_000)
    again.close()

    (ARTIFACTS / "tour-timings.json").write_text(json.dumps(
        {"seconds": timings, "accuracy [value, low, high, prompt tokens]": accuracy,
         "zero-shot tally": zero.group(0), "few-shot tally": few.group(0)}, indent=2))
    print(json.dumps(timings), json.dumps(accuracy))
