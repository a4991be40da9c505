"""The Train and Runs pages as a first-time user met them (issue 14): the estimates come from
this machine's measurement, an upload's columns are picked as the preview uses them, many
passes over a small file are flagged, the schedule is said, Cancel answers at once, and a
run the cancel reached too late reads finished."""

from __future__ import annotations

import json
import os
import time

import psutil
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import runs
from core.config import ModelSpec
from core.train_config import TrainConfig
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

TRAIN, RUNS = "pages/5_Train.py", "pages/6_Runs.py"


@pytest.fixture
def tiny(tiny_model_dir):
    return ModelSpec(source=str(tiny_model_dir), dtype="float32")


def _csv(rows: int, header: str = "text,label") -> bytes:
    labels = ("POSITIVE", "NEGATIVE", "MIXED")
    body = "".join(f"review number {i} of the boots,{labels[i % 3]}\n" for i in range(rows))
    return (header + "\n" + body).encode()


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="train_source").set_value("Upload CSV / JSONL").run()
    return at.file_uploader(key="train_upload").set_value((name, data, "text/csv")).run()


def _seconds(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


# -- estimates from this machine's measurement ----------------------------------------------


def _measured(monkeypatch, token_params_per_s: float) -> None:
    from core import precision
    from core.precision import Measurement
    from tests.core.test_precision import AVX2

    speeds = {"float32": token_params_per_s, "bfloat16": token_params_per_s / 40}
    monkeypatch.setattr(precision, "cpu_measurement", lambda remeasure=False: Measurement(
        {"name": "test cpu", "capability": "AVX2", "native_bf16": False}, AVX2, speeds))
    st.cache_data.clear()  # the page caches estimates per config, not per measurement


def test_the_preset_labels_and_the_estimate_follow_this_machines_measured_speed(
        tiny, monkeypatch):
    from core.train_config import PRESETS
    from core.train_model import STARTUP_SECONDS, estimate
    from ui.training import duration

    shown = {}
    for rate in (2e6, 1e6):  # a (slow) processor, then one half as fast
        _measured(monkeypatch, rate)
        at = _page(TRAIN, tiny)
        assert not at.exception, at.exception
        labels = at.selectbox(key="train_preset").options
        expected = duration(estimate(PRESETS["live-demo"])[0])
        assert f"live demo, about {expected} (m:ss) here" in labels, labels
        assert not any("2 minutes" in label for label in labels)
        metric = {m.label: m.value for m in at.metric}["Estimated time (m:ss)"]
        shown[rate] = (_seconds(labels[0].split("about ")[1].split(" ")[0]), _seconds(metric))
    # half the measured speed: the training part of every estimate takes twice as long
    for slow, fast in zip(shown[1e6], shown[2e6]):
        assert (slow - STARTUP_SECONDS) / (fast - STARTUP_SECONDS) == pytest.approx(2, rel=0.1)
    assert "2 minutes" not in _text(at)


# -- the data: columns, passes, schedule, template -----------------------------------------


def test_an_uploaded_csv_picks_the_columns_the_preview_uses(tiny):
    at = _upload(_page(TRAIN, tiny), "boots.csv", _csv(30))
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # the pickers show what the preview reads (before: input showed "(choose...)" while the
    # preview silently used the text column)
    assert at.selectbox(key="train_col_input").value == "text"
    assert at.selectbox(key="train_col_label").value == "label"
    assert "review number" in at.dataframe[0].value["prompt"].iloc[0]
    saved = at.get("json")[0].proto.body
    assert json.loads(saved)["columns"] == {"input": "text", "label": "label"}

    # a column named after the role is picked too; another format gets its own columns
    at = _upload(at, "inputs.csv", _csv(30, header="input,label"))
    assert at.selectbox(key="train_col_input").value == "input" and not at.error
    rows = "prompt,completion\n" + "".join(f"Say {i},{i}\n" for i in range(10))
    at = _upload(at, "pairs.csv", rows.encode())
    at.selectbox(key="train_format").set_value("prompt-completion").run()
    assert at.selectbox(key="train_col_prompt").value == "prompt"
    assert at.selectbox(key="train_col_completion").value == "completion"
    assert not at.error, [e.value for e in at.error]

    # emptied by hand: the run would not read a column the picker does not show
    at.selectbox(key="train_col_prompt").set_value("").run()
    assert any("prompt column is not chosen" in e.value and "prompt, completion" in e.value
               for e in at.error), [e.value for e in at.error]
    assert at.button(key="train_start").disabled


def test_the_live_demo_on_a_30_row_upload_warns_of_many_passes(tiny):
    at = _upload(_page(TRAIN, tiny), "boots.csv", _csv(30))
    warnings = [w.value for w in at.warning]
    said = next((w for w in warnings if "memorising" in w), None)
    assert said, warnings
    assert "60 steps x 8 examples a step reads each of the 27 training examples about 18 " \
           "times" in said
    assert "lower Max steps to about 11" in said and "Add examples" in said
    assert any("60 steps x 8 examples a step: about 17.8 passes (epochs) over 27 training "
               "examples" in c.value for c in at.caption)
    at.number_input(key="train_max_steps").set_value(10).run()  # the fix it offers
    assert not any("memorising" in w.value for w in at.warning)


def test_the_template_says_input_and_the_schedule_says_its_warm_up(tiny):
    at = _page(TRAIN, tiny)
    assert at.text_area(key="train_template").value == "Review: {input}\nSentiment:"
    text = _text(at)
    assert "`{input}` is the example's input" in text and "{text}" not in text
    lines = [c.value for c in at.caption if "passes (epochs)" in c.value]
    assert lines and "Learning rate 1.00e-03, warm-up over the first 6 of 60 steps (step 1 at " \
                     "1.43e-04)" in lines[0], lines
    at.number_input(key="train_max_steps").set_value(2).run()
    lines = [c.value for c in at.caption if "passes (epochs)" in c.value]
    assert "warm-up over the first 1 of 2 steps (step 1 at 5.00e-04)" in lines[0], lines


# -- cancel -------------------------------------------------------------------------------


def _running_run(tiny_model_dir) -> runs.Run:
    """A run its (live) process is training, two steps of 60 in: the test process stands in
    for the training process, so nothing ends the run but what the test does."""
    run_dir = runs.create_run(TrainConfig(model=str(tiny_model_dir), max_steps=60,
                                          name="long one"))
    me = psutil.Process(os.getpid())
    runs.write_status(run_dir, status="running", pid=me.pid, pid_started=me.create_time(),
                      started_at=runs._now())
    with (run_dir / "events.jsonl").open("w") as fh:
        fh.write(json.dumps({"type": "start", "precision": "float32", "device": "cpu"}) + "\n")
        for step in (1, 2):
            fh.write(json.dumps({"type": "step", "step": step, "total_steps": 60, "loss": 2.0,
                                 "time": time.time()}) + "\n")
    return runs.get_run(run_dir.name)


def test_cancel_is_said_at_once_then_the_end_is_shown(tiny, tiny_model_dir):
    run = _running_run(tiny_model_dir)
    at = _page(RUNS, tiny)
    assert not at.exception, at.exception
    assert any(i.value == "Training..." for i in at.info)
    at.button(key="runs_cancel").click().run()
    assert not at.exception, at.exception
    # the step has not ended (nothing trains it here), and the page already says what happens
    notes = [w.value for w in at.warning]
    assert any(n.startswith("Cancelling after this step: step 3 of 60 finishes first") for n in
               notes), notes
    assert at.button(key="runs_cancel").disabled
    assert at.button(key="runs_cancel").label == "Cancelling after this step..."
    assert at.dataframe[0].value["status"].iloc[0] == "cancelling after this step"
    assert "long one · cancelling · LoRA" in at.selectbox(key="runs_selected").options
    assert (run.run_dir / "cancel").exists()

    # the training process stops after its step and records the end, as core.runs does
    runs.write_status(run.run_dir, status="cancelled", finished_at=runs._now())
    at.run()
    assert any(w.value.startswith("Cancelled") for w in at.warning)
    assert not any("Cancelling" in w.value for w in at.warning)
    assert not any(b.key == "runs_cancel" for b in at.button)


def test_a_run_the_cancel_reached_after_its_last_step_reads_finished(tiny, tiny_model_dir):
    run_dir = runs.create_run(TrainConfig(model=str(tiny_model_dir), max_steps=4))
    runs.write_status(run_dir, status="succeeded", cancel_requested_at=runs._now(),
                      started_at=runs._now(), finished_at=runs._now())
    at = _page(RUNS, tiny)
    assert not at.exception, at.exception
    assert any(s.value.startswith("Finished: the cancel arrived with its last step already "
                                  "done") for s in at.success), [s.value for s in at.success]
    assert at.dataframe[0].value["status"].iloc[0] == "succeeded"
