"""A hybrid setup in a real browser (issue 17): a tiny LoRA run of the embedded model is made
through core, then on the Compare page a setup is built from its parts (that run + 2 shots from
the train split), listed by its description, compared with zero-shot on 6 sentiment reviews
(followed and finished on the New tab, the results then read whole: no column of the
when-to-use table hidden to the right), and its row and its paired difference are read in the
results and in the downloaded report, which then opens from a file:// address with every
network request refused and draws its charts (the default suite's check of a comparison's
report offline; the two-variant comparison in test_knowledge_and_compare.py that checked it
too is in the slow suite).
The console shows no error beyond the server's own health and host-config 404s."""

from __future__ import annotations

import html
import json
import re

import pytest

from tests.e2e.conftest import screenshot, settled

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
LOAD = 180_000  # ms: the first load may convert the embedded model
EXAMPLES = 6


def _tiny_run(home, monkeypatch) -> str:
    """Two steps of the live-demo LoRA preset on the sentiment task, in the lab's data folder
    (about 40 s here): a finished run the Compare page offers."""
    monkeypatch.setenv("PROMPTTUNE_HOME", str(home))
    from core import runs
    from core.train_config import preset

    config = preset("live-demo", max_steps=2, max_eval_examples=4, name="e2e hybrid")
    run_dir = runs.create_run(config)
    assert runs.execute(config, run_dir, echo=False) == 0
    return run_dir.name


def _console(page) -> list[str]:
    errors: list[str] = []

    def seen(message) -> None:
        where = (message.location or {}).get("url", "")
        if message.type == "error" and "/_stcore/" not in where:  # health, host-config
            errors.append(f"{message.text} ({where})")
    page.on("console", seen)
    return errors


def _build_hybrid(page, main, run_id: str) -> str:
    """Zero-shot as the only quick setup, then the run + 2-shot from the builder."""
    examples = page.get_by_role("spinbutton", name="Test examples")
    examples.wait_for(timeout=LOAD)
    examples.fill(str(EXAMPLES))
    examples.press("Tab")
    page.get_by_role("button", name="Remove few-shot 4").click()
    settled(page)
    main.get_by_text("Add a setup from its parts").click()
    main.get_by_text("A finished training run").click()
    settled(page)
    main.get_by_role("combobox", name="Training run").click()
    page.get_by_role("option", name=re.compile("e2e hybrid")).click()
    settled(page)
    assert main.get_by_role("combobox", name="Prompt technique").input_value() == "Few-shot"
    assert main.get_by_role("spinbutton", name=re.compile("How many")).input_value() == "2"
    main.get_by_text("A finished training run").scroll_into_view_if_needed()
    screenshot(page, "hybrid-setup-builder")
    main.get_by_role("button", name="Add this setup").click()
    described = f"run {run_id} (LoRA) + 2-shot"
    main.get_by_text(described).first.wait_for(timeout=60_000)
    settled(page)
    return described


def test_a_tuned_run_with_shots_is_built_compared_and_reported(lab_and_home, page, tmp_path,
                                                                monkeypatch):
    url, home = lab_and_home
    run_id = _tiny_run(home, monkeypatch)
    errors = _console(page)
    page.goto(f"{url}/Compare")
    main = page.locator("[data-testid=stMain]")
    described = _build_hybrid(page, main, run_id)
    text = main.inner_text()
    assert "Setups in this comparison (2)" in text
    assert "zero-shot — gemma-3-270m + zero-shot" in text, text[:3000]  # name — description
    assert f"{described} —" not in text  # named by its description: said once
    main.get_by_text("Setups in this comparison").scroll_into_view_if_needed()
    screenshot(page, "hybrid-setup-list")

    page.get_by_role("button", name="Run comparison").click()
    # followed where Run was pressed (test_first_user_compare.py's checks, now in the slow suite)
    page.get_by_text(re.compile(r"variant \d of 2 .* elapsed")).first.wait_for(timeout=120_000)
    assert "follow it in the Results tab" not in main.inner_text()
    finished = page.get_by_text(re.compile(r"^Finished: comparison"))
    finished.wait_for(timeout=600_000)
    assert "2 variant(s)" in finished.inner_text()
    assert page.get_by_role("tab", name="New comparison").get_attribute("aria-selected") == "true"
    page.get_by_role("button", name="Show the results").click()
    main.get_by_text("Paired differences", exact=True).wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    main.get_by_text("Per example", exact=True).wait_for(timeout=60_000)
    settled(page)
    assert page.get_by_role("tab", name="Results").get_attribute("aria-selected") == "true"
    assert f"On {EXAMPLES} test examples" in main.inner_text()
    table = main.locator("[data-testid=stTable]").filter(has_text="Quality on this task").first
    table.scroll_into_view_if_needed()
    for column in ("Prompting", "Few-shot", "RAG", "Fine-tuning"):  # none hidden to the right
        box = table.get_by_text(column, exact=True).first.bounding_box()
        assert box and box["x"] + box["width"] <= 1400, (column, box)

    from core.compare_runs import list_comparisons, load_results
    from core.report import paired_sentences

    [comparison] = list_comparisons()
    results = load_results(comparison.id)
    row = next(v for v in results["variants"] if v["name"] == described)
    assert not row["error"] and row["setup"]["model"]["run_id"] == run_id
    assert row["parts"]["prompt"] == "2-shot" and row["n_shots"] == 2
    [sentence] = paired_sentences(results)
    assert described in sentence and "zero-shot" in sentence
    main.get_by_text("The paired differences in words").click()
    # the core's sentence, as it says it (the verdict above quotes it too)
    main.get_by_role("listitem").filter(has_text=sentence).wait_for(timeout=30_000)
    main.get_by_text("Paired differences", exact=True).scroll_into_view_if_needed()
    screenshot(page, "hybrid-setup-results")

    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download the report (HTML, works offline)").click()
    report = tmp_path / "report.html"
    download.value.save_as(report)
    written = report.read_text(encoding="utf-8")
    paired = written.split("<h2>Paired differences</h2>", 1)[1].split("<h2>", 1)[0]
    assert html.escape(described) in paired and "zero-shot" in paired
    metrics = written.split("<h2>Metrics</h2>", 1)[1].split("<h2>", 1)[0]
    assert html.escape(described) in metrics and f"run {run_id}" in metrics
    saved = json.loads((home / "comparisons" / comparison.id / "config.json").read_text())
    assert [s["name"] for s in saved["setups"]] == ["zero-shot", described]

    offline = page.context.new_page()  # the report as a stakeholder opens it: offline
    offline_errors = _console(offline)
    requested: list[str] = []
    offline.route(re.compile(r"^https?://"), lambda route: (requested.append(route.request.url),
                                                             route.abort()))
    offline.goto(report.as_uri())
    offline.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 3",
                              timeout=60_000)  # plotly drew them: its script is in the file
    body = offline.inner_text("body")
    assert described in body and "zero-shot" in body
    screenshot(offline, "compare-report-offline")
    assert not requested, requested
    assert not errors and not offline_errors, errors + offline_errors
