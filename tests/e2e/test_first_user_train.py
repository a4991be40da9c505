"""The Train and Runs pages in a real browser, as a first-time user met them (issue 14): an
uploaded CSV's columns are picked as the preview uses them, the live demo on 27 rows warns of
18 passes, and Cancel says "cancelling after this step" at once."""

from __future__ import annotations

import json
import os
import time

import psutil
import pytest

from tests.e2e.conftest import ARTIFACTS, settled

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
LOAD = 180_000  # ms: the first load may convert the embedded model


def shot(page, name: str) -> None:
    """A viewport screenshot (the main area scrolls inside the page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_an_upload_picks_its_columns_and_many_passes_are_flagged(lab_and_home, page, tmp_path):
    url, _ = lab_and_home
    labels = ("POSITIVE", "NEGATIVE", "MIXED")
    csv = tmp_path / "boots.csv"
    csv.write_text("text,label\n" + "".join(f"These boots (pair {i}) were worn daily,"
                                            f"{labels[i % 3]}\n" for i in range(30)))
    page.goto(f"{url}/Train")
    page.get_by_role("button", name="Start training").wait_for(timeout=LOAD)
    main = page.locator("[data-testid=stMain]")
    main.get_by_text("Upload CSV / JSONL").click()
    page.locator("input[type=file]").set_input_files(str(csv))
    main.get_by_text("Using boots.csv", exact=False).wait_for(timeout=120_000)
    main.get_by_text("memorising", exact=False).wait_for(timeout=120_000)
    settled(page)

    # the pickers show the columns the preview reads
    input_picker = main.get_by_role("combobox", name="input column")
    assert input_picker.input_value() == "text"
    assert main.get_by_role("combobox", name="label column").input_value() == "label"
    input_picker.scroll_into_view_if_needed()
    shot(page, "first-user-train-upload-columns")

    warning = main.locator("[data-testid=stAlert]").filter(has_text="memorising")
    said = warning.inner_text()
    assert "each of the 27 training examples about 18 times" in said, said
    assert "lower Max steps to about 11" in said
    text = main.inner_text()
    assert main.locator("[data-testid=stDataFrame]").count()  # the preview (a canvas grid)
    assert "warm-up over the first 6 of 60 steps" in text
    assert "2 minutes" not in text
    warning.scroll_into_view_if_needed()
    shot(page, "first-user-train-many-passes")


def _running_run():
    """A run that trains (its process: this test's, so only the test ends it), 2 steps of 60."""
    from core import runs
    from core.train_config import TrainConfig

    run_dir = runs.create_run(TrainConfig(max_steps=60, name="boots lora"))
    me = psutil.Process(os.getpid())
    runs.write_status(run_dir, status="running", pid=me.pid, pid_started=me.create_time(),
                      started_at=runs._now())
    with (run_dir / "events.jsonl").open("w") as fh:
        fh.write(json.dumps({"type": "start", "precision": "float32", "device": "cpu",
                             "precision_reason": "float32: set in the settings",
                             "threads": 1}) + "\n")
        fh.write(json.dumps({"type": "schedule", "summary": "learning rate 1.00e-03, warm-up "
                             "over the first 6 of 60 steps (step 1 at 1.43e-04), then down in "
                             "a straight line towards 0 at the last step"}) + "\n")
        for step in (1, 2):
            fh.write(json.dumps({"type": "step", "step": step, "total_steps": 60,
                                 "loss": 2.0 - step / 10, "learning_rate": 1.43e-4 * step,
                                 "elapsed_s": 3.0 * step, "eta_s": 170.0,
                                 "rss_bytes": 2**31, "time": time.time()}) + "\n")
    return runs, run_dir


def test_cancel_says_cancelling_after_this_step_at_once(lab_and_home, page, monkeypatch):
    url, home = lab_and_home
    monkeypatch.setenv("PROMPTTUNE_HOME", str(home))  # the server's data folder
    runs, run_dir = _running_run()
    page.goto(f"{url}/Runs")
    main = page.locator("[data-testid=stMain]")
    main.get_by_role("button", name="Cancel").wait_for(timeout=LOAD)
    main.get_by_text("Training...").wait_for(timeout=60_000)
    main.get_by_role("button", name="Cancel").click()
    # no step ends here (nothing trains it): what shows, shows before the step is over
    main.get_by_text("Cancelling after this step: step 3 of 60 finishes first",
                     exact=False).wait_for(timeout=60_000)
    assert runs.get_run(run_dir.name).status == "running"
    assert main.get_by_role("button", name="Cancelling after this step...").is_disabled()
    settled(page)
    main.get_by_text("Cancelling after this step:", exact=False).scroll_into_view_if_needed()
    shot(page, "first-user-runs-cancelling")

    # the process stops after its step and records the end: the live view shows it
    runs.write_status(run_dir, status="cancelled", finished_at=runs._now())
    alerts = main.locator("[data-testid=stAlert]")
    alerts.filter(has_text="Cancelled: the adapter").or_(alerts.filter(
        has_text="Cancelled.")).first.wait_for(timeout=60_000)
    settled(page)
    assert "Cancelling after this step" not in main.inner_text()
    shot(page, "first-user-runs-cancelled")
