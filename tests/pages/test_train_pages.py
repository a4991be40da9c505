"""The Train and Runs pages under AppTest: a real run on the tiny model, bad input, the queue."""

from __future__ import annotations

import fcntl
import time

import pytest
from streamlit.testing.v1 import AppTest

from core import runs
from core.config import ModelSpec
from core.paths import data_dir
from core.tasks import load_task
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

TRAIN, RUNS = "pages/5_Train.py", "pages/6_Runs.py"
WAIT_S = 240  # a guard against hanging, not a timing assertion


@pytest.fixture
def tiny(tiny_model_dir):
    return ModelSpec(source=str(tiny_model_dir), dtype="float32")


def _short_run(at: AppTest) -> AppTest:
    """A few steps on a few examples: the run costs its process start, not its training."""
    at.number_input(key="train_max_steps").set_value(4)
    at.number_input(key="train_batch").set_value(2)
    at.number_input(key="train_max_train").set_value(16)
    at.number_input(key="train_max_eval").set_value(4)
    at.number_input(key="train_lr").set_value(1e-2)
    return at.run()


def _wait(run_id: str, statuses: tuple[str, ...]) -> runs.Run:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        run = runs.get_run(run_id)
        if run.status in statuses:
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not reach {statuses}: {runs.get_run(run_id).status}")


def _charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def test_train_page_starts_a_real_run_that_finishes_and_the_runs_page_shows_it(tiny,
                                                                               tiny_model_dir):
    at = _page(TRAIN, tiny)
    assert not at.exception, at.exception
    # the sidebar's model is a local folder, so it is the base by default
    assert at.text_input(key="train_base_other").value == str(tiny_model_dir)
    assert at.multiselect(key="train_targets").value == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert at.text_area(key="train_template").value == "Review: {input}\nSentiment:"
    _short_run(at)
    assert not at.error, [e.value for e in at.error]
    labels = {m.label: m.value for m in at.metric}
    assert "Estimated time (m:ss)" in labels and labels["Estimated peak memory"].endswith("GiB")
    assert _charts(at), "no token-length histogram"
    assert "Review:" in str(at.dataframe[0].value["prompt"].iloc[0])
    # the number format: auto is this processor's measured choice, with the reason
    from core.precision import cpu_measurement

    measured = cpu_measurement()
    assert any(c.value.startswith(f"Number format {measured.reason('train')}")
               for c in at.caption), [c.value for c in at.caption]
    assert at.selectbox(key="train_preset").format_func("live-demo").endswith("(m:ss) here")
    at.selectbox(key="train_precision").set_value("float32").run()
    assert any(c.value.startswith("Number format float32: set in the settings")
               for c in at.caption)

    at.text_input(key="train_name").set_value("class demo / r16").run()
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["train_started_run"]
    assert any("class demo / r16" in s.value for s in at.success)
    assert "-class-demo-r16-" in run_id  # the folder is named after it, slashes and all gone
    run = _wait(run_id, runs.FINAL)
    assert run.status == "succeeded", (run.problem, (run.run_dir / "log.txt").read_text()[-2000:])
    assert run.config["max_steps"] == 4 and run.config["model"] == str(tiny_model_dir)

    at.switch_page(RUNS).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    row = table[table["run"] == run_id].iloc[0]
    assert row["name"] == "class demo / r16"
    assert row["status"] == "succeeded" and row["method"] == "LoRA" and row["steps"] == 4
    assert row["train loss"] > 0
    assert _charts(at), "no loss curve"
    text = _text(at)
    assert str(run.run_dir / "adapter") in text and "Review: {input}" in text
    assert "number format float32: set in the settings" in text
    figures = dict(at.dataframe[1].value.values)  # the run's metrics, in words and units
    assert figures["Steps"] == "4" and figures["Peak memory"].endswith(" GiB")
    assert figures["Training time"].endswith("(m:ss)")
    assert any(b.label == "Download zip" for b in at.get("download_button"))

    # a new session (a refresh, a closed tab, a restarted app) sees the same run
    again = _page(RUNS, tiny)
    assert not again.exception, again.exception
    assert again.selectbox(key="runs_selected").value == run_id
    assert "class demo / r16 · succeeded · LoRA" in again.selectbox(key="runs_selected").options
    assert _charts(again) and str(run.run_dir / "adapter") in _text(again)
    steps = [e for e in runs.read_events(run.run_dir, 0)[0] if e["type"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    assert '"training loss"' in _charts(again)[0].proto.spec

    # use it in the Playground: the sidebar's model gets the adapter
    again.button(key="runs_use").click().run()
    assert not again.exception, again.exception
    spec = again.session_state["lab_model_spec"]
    assert spec.adapter == str(run.run_dir / "adapter") and spec.source == str(tiny_model_dir)
    assert again.text_input(key="sidebar_adapter").value == spec.adapter
    # the Playground opens on a prompt in the trained format: the task's first test review
    first = load_task("review-sentiment").examples("test", limit=1)[0].input
    assert again.session_state["play_prompt"] == f"Review: {first}\nSentiment:"
    assert again.session_state["play_mode"] == "Free text"

    again.switch_page(RUNS).run()
    again.button(key="runs_delete").click().run()
    assert run.run_dir.exists() and any("cannot be undone" in w.value for w in again.warning)
    again.button(key="runs_delete_keep").click().run()  # changed their mind: nothing went
    assert run.run_dir.exists() and not any("cannot be undone" in w.value for w in again.warning)
    again.button(key="runs_delete").click().run()
    again.button(key="runs_delete_confirm").click().run()
    assert not again.exception, again.exception
    assert runs.list_runs() == [] and not run.run_dir.exists()
    assert any("No training runs yet" in i.value for i in again.info)


def test_bad_values_are_named_and_nothing_typed_is_lost(tiny):
    at = _page(TRAIN, tiny)
    at.text_area(key="train_template").set_value("Text: {text}\nMood:")
    for key, value, named in (("train_lora_r", 0, "lora_r"), ("train_lr", 0.0, "learning_rate"),
                              ("train_batch", 0, "batch_size"),
                              ("train_max_len", 100_000, "context window")):
        before = at.number_input(key=key).value
        at.number_input(key=key).set_value(value).run()
        assert not at.exception, at.exception
        assert any(named in e.value for e in at.error), (key, [e.value for e in at.error])
        assert at.button(key="train_start").disabled
        assert at.text_area(key="train_template").value == "Text: {text}\nMood:"
        at.number_input(key=key).set_value(before).run()
    assert not at.error and not at.button(key="train_start").disabled
    at.text_area(key="train_template").set_value("Text: {review}").run()
    assert any("{review}" in e.value for e in at.error)


def test_bad_uploads_and_missing_columns_say_what_to_fix(tiny):
    at = _page(TRAIN, tiny)
    at.radio(key="train_source").set_value("Upload CSV / JSONL").run()
    assert any("No data file" in e.value for e in at.error)
    uploader = at.file_uploader(key="train_upload")
    uploader.set_value(("bad.jsonl", b'{"text": "a", "label": "x"}\n{"text": oops}\n',
                        "application/json")).run()
    assert any("line 2" in e.value for e in at.error), [e.value for e in at.error]
    at.file_uploader(key="train_upload").set_value(("latin.csv", "text,label\ncafé,x\n"
                                                    .encode("latin-1"), "text/csv")).run()
    assert any("not UTF-8" in e.value for e in at.error)

    rows = "review,sentiment\n" + "".join(f"review {i} was fine,POSITIVE\n" for i in range(20))
    at.file_uploader(key="train_upload").set_value(("reviews.csv", rows.encode(), "text/csv")).run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "no column 'text'" in errors and "review, sentiment" in errors
    at.selectbox(key="train_col_input").set_value("review")
    at.selectbox(key="train_col_label").set_value("sentiment").run()
    assert not at.error, [e.value for e in at.error]
    assert at.text_area(key="train_template").value == "Input: {input}\nAnswer:"
    assert "review 0 was fine" in " ".join(at.dataframe[0].value["prompt"])


def test_an_unreachable_hub_is_said_plainly(tiny):
    at = _page(TRAIN, tiny)
    at.radio(key="train_source").set_value("Hugging Face dataset").run()
    at.text_input(key="train_hub_name").set_value("someone/some-reviews")
    at.button(key="train_hub_fetch").click().run()
    assert not at.exception, at.exception
    assert any("cannot be reached" in e.value for e in at.error), [e.value for e in at.error]


def test_a_queued_run_shows_its_place_and_cancels(tiny, tiny_model_dir):
    lock = open(data_dir() / "train.lock", "a+")
    fcntl.flock(lock, fcntl.LOCK_EX)  # another run is training
    try:
        at = _short_run(_page(TRAIN, tiny))
        at.button(key="train_start").click().run()
        run_id = at.session_state["train_started_run"]
        deadline = time.monotonic() + WAIT_S  # its process starts and waits for the lock
        while runs.get_run(run_id).pid is None and time.monotonic() < deadline:
            time.sleep(0.2)
        at.switch_page(RUNS).run()
        assert not at.exception, at.exception
        assert any("Queued: #1 in line" in i.value for i in at.info)
        assert at.dataframe[0].value["status"].iloc[0] == "queued (#1)"
        at.button(key="runs_cancel").click().run()
        assert not at.exception, at.exception
        assert runs.get_run(run_id).status == "cancelled"
        assert at.dataframe[0].value["status"].iloc[0] == "cancelled"
        assert not any(b.key == "runs_cancel" for b in at.button)
        at.button(key="runs_delete").click().run()
        at.button(key="runs_delete_confirm").click().run()
        assert runs.list_runs() == []
    finally:
        lock.close()


def test_a_crashed_run_says_why_and_offers_resume(tiny, tiny_model_dir):
    from core.train_config import TrainConfig

    run_dir = runs.create_run(TrainConfig(model=str(tiny_model_dir), max_steps=4))
    (run_dir / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (run_dir / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text("{}")  # complete
    runs.write_status(run_dir, status="crashed", problem="The training process ended without "
                      "recording a result.", fix="Resume it from its last checkpoint.")
    at = _page(RUNS, tiny)
    assert not at.exception, at.exception
    assert any("Crashed: The training process ended" in e.value and "Resume it" in e.value
               for e in at.error)
    keys = {b.key for b in at.button}
    assert {"runs_resume", "runs_delete"} <= keys and "runs_cancel" not in keys


def test_qlora_that_cannot_work_here_is_said_plainly(tiny, monkeypatch):
    from core import train_model
    from core.errors import LabError
    from core.train_config import METHOD_LR

    def no_bitsandbytes(device):
        raise LabError("QLoRA needs bitsandbytes, which is not installed.",
                       "pip install bitsandbytes, or choose LoRA.")

    monkeypatch.setattr(train_model, "_qlora_options", no_bitsandbytes)
    at = _page(TRAIN, tiny)
    at.selectbox(key="train_method").set_value("qlora").run()
    assert not at.exception, at.exception
    assert any("QLoRA needs bitsandbytes" in e.value and "choose LoRA" in e.value
               for e in at.error)
    assert at.number_input(key="train_lr").value == METHOD_LR["qlora"]
