"""Runs in their own processes: the queue, cancel, crash and resume, the index, the zip."""

from __future__ import annotations

import fcntl
import io
import json
import os
import signal
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from core import runs
from core.errors import LabError
from core.paths import data_dir
from core.train_config import TrainConfig

WAIT_S = 180  # a guard against hanging, not a timing assertion


def tiny_config(model_dir: Path, **overrides) -> TrainConfig:
    settings = dict(model=str(model_dir), template="Review: {text}\nSentiment:", max_steps=4,
                    batch_size=2, max_train_examples=16, max_eval_examples=4, threads=1,
                    learning_rate=1e-2)
    return TrainConfig(**{**settings, **overrides})


def wait_for(check, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def step_events(run_dir: Path) -> list[dict]:
    return [e for e in runs.read_events(run_dir, 0)[0] if e["type"] == "step"]


def test_read_events_returns_only_complete_lines_from_an_offset(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "step", "step": 1}\n{"type": "st')
    first, offset = runs.read_events(tmp_path, 0)
    assert [e["step"] for e in first] == [1]
    with path.open("a") as fh:
        fh.write('ep", "step": 2}\n')
    second, _ = runs.read_events(tmp_path, offset)
    assert [e["step"] for e in second] == [2]


def test_runs_queue_behind_the_lock_and_a_queued_run_cancels_untrained(tiny_model_dir):
    lock = open(data_dir() / "train.lock", "a+")
    fcntl.flock(lock, fcntl.LOCK_EX)  # another run is training
    try:
        first = runs.start_run(tiny_config(tiny_model_dir))
        second = runs.start_run(tiny_config(tiny_model_dir))
        wait_for(lambda: runs.get_run(second).queue_position == 2, "two queued runs")
        assert runs.get_run(first).queue_position == 1
        assert runs.cancel_run(second).status == "cancelled"
        time.sleep(1.5)  # give the first run's process a chance to (wrongly) start
        assert runs.get_run(first).status == "queued"
    finally:
        lock.close()
    done = wait_for(lambda: runs.get_run(first).status in runs.FINAL and runs.get_run(first),
                    "the first run to finish")
    assert done.status == "succeeded" and done.metrics["steps"] == 4
    cancelled = runs.get_run(second)
    assert cancelled.status == "cancelled"
    assert not (cancelled.run_dir / "adapter").exists()
    assert not step_events(cancelled.run_dir)
    listed = {r.id: r.status for r in runs.list_runs()}
    assert listed == {first: "succeeded", second: "cancelled"}


def test_a_run_cancelled_before_its_process_starts_stays_cancelled(tiny_model_dir, monkeypatch):
    # a loaded machine: the user cancels while the training process is still importing
    config = tiny_config(tiny_model_dir)
    run_dir = runs.create_run(config)
    assert runs.cancel_run(run_dir.name).status == "cancelled"
    seen = []  # every status the page could read from here on
    from core import run_worker

    write = run_worker.write_status  # the training process's side writes it there

    def recorded(*args, **changes):
        status = write(*args, **changes)
        seen.append(status["status"])
        return status

    monkeypatch.setattr(run_worker, "write_status", recorded)
    assert runs.execute(config, run_dir, echo=False) == 0  # the process arrives late
    assert seen == ["cancelled"], seen  # it looked once, found it cancelled: never "queued" again
    run = runs.get_run(run_dir.name)
    assert run.status == "cancelled" and not step_events(run_dir)
    assert not run.has_outputs  # nothing to compare: the Compare page does not offer it


def test_cancelling_a_running_run_keeps_its_adapter(tiny_model_dir):
    run_id = runs.start_run(tiny_config(tiny_model_dir, max_steps=100000))
    run_dir = runs.get_run(run_id).run_dir
    wait_for(lambda: len(step_events(run_dir)) >= 2, "training steps")
    assert runs.get_run(run_id).status == "running"
    runs.cancel_run(run_id)
    run = wait_for(lambda: runs.get_run(run_id).status in runs.FINAL and runs.get_run(run_id),
                   "the cancelled run to stop")
    assert run.status == "cancelled" and run.metrics["cancelled"]
    assert (run_dir / "adapter/adapter_model.safetensors").exists()
    assert step_events(run_dir)[-1]["step"] < 100000
    # the adapter it kept is a model to compare, like a finished run's
    from core.compare import CompareConfig, check_variants

    assert run.has_outputs
    check_variants(CompareConfig("review-sentiment", ({"name": "stopped early", "kind": "fine-tuned",
                                                       "run_id": run_id},), model=str(tiny_model_dir)))


def test_a_killed_run_reads_crashed_and_resumes_from_its_checkpoint(tiny_model_dir):
    run_id = runs.start_run(tiny_config(tiny_model_dir, max_steps=200, save_steps=5))
    run_dir = runs.get_run(run_id).run_dir
    wait_for(lambda: list((run_dir / "checkpoints").glob("checkpoint-*/trainer_state.json")),
             "a checkpoint")
    os.killpg(runs.get_run(run_id).pid, signal.SIGKILL)
    crashed = wait_for(lambda: runs.get_run(run_id).status == "crashed" and runs.get_run(run_id),
                       "crash detection")
    assert crashed.has_checkpoint and crashed.fix
    killed_at = step_events(run_dir)[-1]["step"]
    offset = (run_dir / "events.jsonl").stat().st_size
    assert runs.resume_run(run_id).status in runs.LIVE
    run = wait_for(lambda: runs.get_run(run_id).status in runs.FINAL and runs.get_run(run_id),
                   "the resumed run to finish")
    assert run.status == "succeeded", (run.problem, (run_dir / "log.txt").read_text()[-2000:])
    resumed, _ = runs.read_events(run_dir, offset)
    start = [e for e in resumed if e["type"] == "start"][0]
    assert start["resumed_from"].startswith("checkpoint-")
    first_step = [e for e in resumed if e["type"] == "step"][0]["step"]
    assert 1 < first_step <= killed_at + 1
    assert run.metrics["steps"] == 200


def test_zip_delete_and_the_runs_command(tiny_model_dir, capsys):
    from core.cli import main

    run_dir = runs.create_run(tiny_config(tiny_model_dir))
    assert runs.execute(tiny_config(tiny_model_dir), run_dir, echo=False) == 0
    run_id = run_dir.name
    names = zipfile.ZipFile(io.BytesIO(runs.zip_run(run_id))).namelist()
    for name in ("config.json", "template.json", "metrics.json", "adapter/adapter_config.json"):
        assert f"{run_id}/{name}" in names
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["id"] == run_id and listed[0]["status"] == "succeeded"
    assert listed[0]["name"] == ""  # unnamed: its folder says method and data

    named = runs.create_run(replace(tiny_config(tiny_model_dir), name="../../Ünïcode run!"))
    assert named.parent == runs.runs_dir() and "-unicode-run-" in named.name  # [a-z0-9-] only
    assert runs.get_run(named.name).name == "../../Ünïcode run!"
    assert main(["runs"]) == 0 and '"../../Ünïcode run!"' in capsys.readouterr().out
    runs.cancel_run(named.name)  # created, never started: it waits as queued
    runs.delete_run(named.name)
    runs.delete_run(run_id)
    assert not run_dir.exists() and runs.list_runs() == []
    with pytest.raises(runs.RunError, match="no training run"):
        runs.get_run(run_id)


def test_a_failing_run_records_the_problem_and_fix(tiny_model_dir, tmp_path):
    # a missing data file is refused before a run folder is made (issue 15); a model that is
    # not there is found out only when the training process loads it
    with pytest.raises(LabError, match="does not exist"):
        runs.create_run(tiny_config(tiny_model_dir, data_path=str(tmp_path / "missing.csv")))
    assert runs.list_runs() == []
    config = tiny_config(tmp_path / "no-model-here")
    run_dir = runs.create_run(config)
    with pytest.raises(Exception):
        runs.execute(config, run_dir, echo=False)
    run = runs.get_run(run_dir.name)
    assert run.status == "failed" and "no-model-here" in run.problem and run.fix
    with pytest.raises(runs.RunError, match="no checkpoint"):
        runs.resume_run(run.id)
