"""The advisor's sweep as a job (core.advice_job) on the tiny model and a small task of the
user's: points recorded and cached, the cache reused, cancel, a killed process resumed, the
budget, a failed point, a task that cannot be planned.

Every test runs in its own PROMPTTUNE_HOME (conftest's autouse ``lab_home``).
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core import advice_job, advice_plan, jobs
from core.advice_plan import AdviceConfig
from core.errors import ConfigError, LabError

WAIT_S = 240  # a guard against hanging, not a timing assertion
LABELS = ("billing", "delivery", "returns")
TRAIN = {"max_steps": 3, "batch_size": 2, "threads": 1, "precision": "float32"}


def ticket_task(name: str = "tickets", n: int = 60) -> str:
    """A task of the user's: support tickets of three labels (a 70/10/20 split)."""
    from core.task_builder import create_task, plan_task, task_request
    from core.task_sources import read_source

    rng = random.Random(1)
    words = {"billing": "charged twice invoice refund card", "delivery": "parcel late courier "
             "tracking box", "returns": "send back exchange wrong size label"}
    path = Path(os.environ["PROMPTTUNE_HOME"]).parent / f"{name}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label"])
        writer.writeheader()
        for i in range(n):
            label = LABELS[i % 3]
            text = " ".join(rng.choice(words[label].split()) for _ in range(6))
            writer.writerow({"text": f"{text} (ticket {i})", "label": label})
    data = read_source(path)
    create_task(plan_task(task_request(name, data, kind="classification", input_column="text",
                                       label_column="label"), data))
    return name


def config(model: Path, task: str = "tickets", **settings) -> AdviceConfig:
    """A small sweep: zero-shot and 2 shots, LoRA on 8 rows (3 steps), 8 test rows."""
    base = dict(task=task, budget="none", model=str(model), engine="transformers", n_examples=8,
                shots=(0, 2), rows=(8,), seeds=1, hybrids=False, train=TRAIN)
    return AdviceConfig(**{**base, **settings})


def prompt_only(model: Path, **settings) -> AdviceConfig:
    """Prompt points only (no training): the quickest sweep there is."""
    return config(model, rows=(), **settings) if _rows_may_be_empty() else \
        config(model, **settings)


def _rows_may_be_empty() -> bool:
    try:
        AdviceConfig(task="tickets", rows=())
    except ConfigError:
        return False
    return True


def points(folder: Path) -> list[dict]:
    lines, _ = jobs.read_lines(folder / "progress.jsonl")
    return [line for line in lines if line.get("event") == "point"]


def run_dirs() -> list[Path]:
    folder = Path(os.environ["PROMPTTUNE_HOME"]) / "runs"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def wait_for(check, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"gave up waiting for {what}")


def test_a_sweep_records_every_point_and_a_second_sweep_reuses_them(tiny_model_dir):
    ticket_task()
    said: list[str] = []
    advice, folder = advice_job.run_headless(config(tiny_model_dir), say=said.append)
    plan = advice_plan.Plan.from_dict(json.loads((folder / "plan.json").read_text()))
    names = [p.point.name for p in plan.points]
    assert any(p.point.kind == "tuned" for p in plan.points)
    assert said[0].startswith("plan: ") and "about" in said[0]
    # each planned point finished, in order, its line saying where it stands
    done = [line for line in points(folder) if line["state"] == "done"]
    assert [line["name"] for line in done] == names
    assert [line["index"] for line in done] == list(range(1, len(names) + 1))
    assert all(line["total"] == len(names) and 0 <= line["value"] <= 1 for line in done)
    assert any(s.startswith(f"[{len(names)}/{len(names)}] ") and " in " in s for s in said)
    # the tuned point trained a real run of the lab, whose steps the page saw as they came
    tuned = next(p for p in plan.points if p.point.kind == "tuned")
    record = advice_job.read_record(tuned.key)
    assert record["run_id"] == run_dirs()[0].name and record["train_seconds"] > 0
    from core.runs import get_run

    assert get_run(record["run_id"]).status == "succeeded"
    lines, _ = jobs.read_lines(folder / "progress.jsonl")
    steps = [line for line in lines if line.get("event") == "step"]
    assert steps and steps[-1] == {"event": "step", "name": tuned.point.name, "step": 3,
                                   "steps": 3}
    assert record["examples"] and len(record["outputs"]) == len(record["examples"]) == 8
    assert (folder / "advice.json").is_file() and advice_job.load_advice(folder.name) == advice
    job = advice_job.get_advice(folder.name)
    assert (job.status, job.points_done, job.points_total, job.reused) == \
        ("succeeded", len(names), len(names), 0)
    assert not job.live and job.eta_s is None and job.elapsed_s > 0
    # the same settings again: every point comes from the cache, no new training run
    again, second = advice_job.run_headless(config(tiny_model_dir), say=lambda _: None)
    assert second != folder and len(run_dirs()) == 1
    assert {line["state"] for line in points(second)} == {"reused"}
    assert advice_job.get_advice(second.name).reused == len(names)
    assert [p["value"] for p in again["points"]] == [p["value"] for p in advice["points"]]
    assert all(p["reused"] for p in again["points"])
    assert [r["name"] for r in advice_job.cached_records(config(tiny_model_dir))] == names
    listed = advice_job.list_advice()
    assert [j.id for j in listed] == sorted([folder.name, second.name], reverse=True)


def test_other_settings_measure_again(tiny_model_dir):
    ticket_task()
    _, first = advice_job.run_headless(prompt_only(tiny_model_dir), say=lambda _: None)
    _, second = advice_job.run_headless(prompt_only(tiny_model_dir, n_examples=6),
                                        say=lambda _: None)
    assert {line["state"] for line in advice_job.point_lines(second.name)} == {"done"}
    assert advice_job.get_advice(first.name).status == "succeeded"
    # the page reads the lines from where it left off: each point's examples as they are scored
    lines, offset = advice_job.read_progress(second.name)
    assert offset == (second / "progress.jsonl").stat().st_size
    assert advice_job.read_progress(second.name, offset) == ([], offset)
    scored = [line for line in lines if line["event"] == "examples" and line["name"] == "2-shot"]
    assert scored and scored[-1]["done"] == scored[-1]["total"] == 6


def test_cancel_between_points_stops_the_sweep_and_a_resume_continues(tiny_model_dir,
                                                                      monkeypatch):
    ticket_task()
    wanted = prompt_only(tiny_model_dir)
    advice_id, folder = advice_job.create_advice(wanted)

    def say(text: str) -> None:
        if text.startswith("[1/"):  # the first point is done: the user presses Cancel
            advice_job.cancel_advice(advice_id)

    with pytest.raises(LabError) as stopped:
        advice_job.execute(wanted, folder, advice_id, say=say)
    assert "Cancelled after 1 of" in stopped.value.problem
    job = advice_job.get_advice(advice_id)
    assert job.status == "cancelled" and job.points_done == 1 and not job.live
    assert job.fix and "Resume" in job.fix
    assert not (folder / "advice.json").exists()
    with pytest.raises(LabError, match="no result yet"):
        advice_job.load_advice(advice_id)
    with pytest.raises(LabError, match="only a queued or running"):
        advice_job.cancel_advice(advice_id)
    # resumed (here in this process, as its spawned process would): the first point is reused
    monkeypatch.setattr(advice_job, "_spawn", lambda folder: None)
    assert advice_job.resume_advice(advice_id).status == "queued"
    assert not (folder / "cancel").exists()
    advice_job.execute(wanted, folder, advice_id, say=lambda _: None)
    job = advice_job.get_advice(advice_id)
    assert job.status == "succeeded" and job.reused == 1 and job.points_done == job.points_total
    assert [line["state"] for line in advice_job.point_lines(advice_id)][0] == "reused"


def test_a_cancel_while_a_point_trains_stops_its_run_after_a_step(tiny_model_dir):
    import threading

    ticket_task()
    wanted = config(tiny_model_dir, shots=(0,), rows=(0,), train={**TRAIN, "max_steps": 400,
                                                                  "batch_size": 1})
    advice_id, folder = advice_job.create_advice(wanted)

    def press_cancel() -> None:
        wait_for(lambda: "training step" in advice_job.get_advice(advice_id).current,
                 "the tuned point to train")
        advice_job.cancel_advice(advice_id)

    user = threading.Thread(target=press_cancel)
    user.start()
    with pytest.raises(LabError):
        advice_job.execute(wanted, folder, advice_id, say=lambda _: None)
    user.join()
    assert advice_job.get_advice(advice_id).status == "cancelled"
    from core.runs import get_run

    run = get_run(run_dirs()[0].name)
    assert run.status == "cancelled" and run.metrics["steps"] < 126
    assert (run.run_dir / "adapter").is_dir()  # what it learned is kept, as any run's
    assert [line["state"] for line in advice_job.point_lines(advice_id)] == ["done", "started"]


def test_a_killed_sweep_reads_crashed_and_its_resume_reuses_the_finished_points(tiny_model_dir):
    import fcntl

    ticket_task()
    wanted = config(tiny_model_dir, shots=(0,))  # zero-shot, then LoRA on 8 rows
    lock = open(Path(os.environ["PROMPTTUNE_HOME"]) / "train.lock", "a+")
    fcntl.flock(lock, fcntl.LOCK_EX)  # another run trains: the sweep's run waits in the queue
    advice_id = advice_job.start_advice(wanted)
    folder = advice_job.get_advice(advice_id).folder
    try:
        job = wait_for(lambda: "waiting" in (j := advice_job.get_advice(advice_id)).current and j,
                       "the tuned point's run to queue")
        assert job.status == "running" and job.points_done == 1
        assert job.current == "LoRA 8 rows: waiting for another training run to finish"
        os.killpg(jobs.read_status(folder)["pid"], signal.SIGKILL)  # the machine went down
        job = wait_for(lambda: (j := advice_job.get_advice(advice_id)).status != "running" and j,
                       "the sweep to read crashed")
        assert job.status == "crashed" and "stopped unexpectedly" in job.problem
        assert job.fix == advice_job.CRASH_FIX and job.points_done == 1
        lock.close()
        assert advice_job.resume_advice(advice_id).status in jobs.LIVE
        job = wait_for(lambda: (j := advice_job.get_advice(advice_id)).status in jobs.FINAL and j,
                       "the resumed sweep to finish")
    finally:
        lock.close()
        pid = jobs.peek_status(folder).get("pid")
        if pid and jobs.process_alive(pid):
            os.killpg(pid, signal.SIGKILL)
    assert job.status == "succeeded", (job.problem, (folder / "log.txt").read_text()[-2000:])
    states = [(line["name"], line["state"]) for line in advice_job.point_lines(advice_id)]
    assert states[:2] == [("zero-shot", "reused"), ("LoRA 8 rows", "done")]
    assert {state for _, state in states[2:]} <= {"done"}  # calibrated zero-shot
    assert job.reused == 1 and advice_job.load_advice(advice_id)["points"]
    from core.runs import get_run

    assert [get_run(d.name).status for d in run_dirs()] == ["crashed", "succeeded"]


def test_points_that_no_longer_fit_the_budget_are_skipped_never_the_first_two(
        tiny_model_dir, monkeypatch):
    ticket_task()
    real = advice_plan.plan

    def slow_plan(wanted, *args):  # all but the first two points far over a 10-minute budget
        made = real(wanted, *args)
        planned = tuple(replace(p, estimate_s=1.0 if i < 2 else 1e6)
                        for i, p in enumerate(made.points))
        return replace(made, points=planned, budget_s=600.0)

    monkeypatch.setattr(advice_plan, "plan", slow_plan)
    wanted = config(tiny_model_dir, shots=(0, 1, 2), budget="10m")
    advice, folder = advice_job.run_headless(wanted, say=lambda _: None)
    states = [(line["index"], line["state"]) for line in advice_job.point_lines(folder.name)]
    assert states[:2] == [(1, "done"), (2, "done")]
    assert states[2:] and all(state == "skipped" for _, state in states[2:])
    assert {s["reason"] for s in advice["skipped"]} == {"the budget ran out"}
    assert not run_dirs()  # the tuned point was skipped before it trained


def test_a_failed_point_is_recorded_and_the_sweep_goes_on(tiny_model_dir, monkeypatch):
    ticket_task()
    real = advice_plan.setup_for

    def broken(wanted, task, point, run_id=None):
        if point.shots == 2:
            raise ConfigError("Two shots do not fit here.", "Use fewer shots.")
        return real(wanted, task, point, run_id)

    monkeypatch.setattr(advice_plan, "setup_for", broken)
    said: list[str] = []
    advice, folder = advice_job.run_headless(prompt_only(tiny_model_dir), say=said.append)
    by_name = {line["name"]: line for line in advice_job.point_lines(folder.name)}
    assert by_name["2-shot"]["state"] == "failed"
    assert by_name["2-shot"]["problem"] == "Two shots do not fit here."
    assert by_name["zero-shot"]["state"] == "done"
    assert any("2-shot: failed: Two shots do not fit here." in s for s in said)
    assert {"name": "2-shot", "reason": "it failed: Two shots do not fit here."} in \
        advice["skipped"]
    assert advice_job.get_advice(folder.name).status == "succeeded"
    key = next(p.key for p in advice_plan.plan(prompt_only(tiny_model_dir)).points
               if p.point.name == "2-shot")
    assert advice_job.read_record(key) is None  # a failure is not cached: tried again next time


def test_a_task_that_cannot_be_planned_fails_the_advice_with_its_fix(tiny_model_dir,
                                                                     monkeypatch):
    ticket_task()

    def refuse(wanted, *args):
        raise ConfigError("Task 'tickets' has no test split.", "Give it test rows.")

    monkeypatch.setattr(advice_plan, "plan", refuse)
    with pytest.raises(LabError):
        advice_job.run_headless(prompt_only(tiny_model_dir), say=lambda _: None)
    job = advice_job.list_advice()[0]
    assert (job.status, job.problem, job.fix) == \
        ("failed", "Task 'tickets' has no test split.", "Give it test rows.")


def test_a_task_deleted_meanwhile_makes_no_folder_and_unknown_ids_are_explained(
        tiny_model_dir):
    from core.tasks import delete_task

    wanted = config(tiny_model_dir, task=ticket_task())
    delete_task("tickets")  # while the page held its config
    with pytest.raises(ConfigError, match="tickets"):
        advice_job.create_advice(wanted)
    assert advice_job.list_advice() == []
    for bad in ("nope", "../runs", "points", ""):
        with pytest.raises(LabError, match="There is no advice"):
            advice_job.get_advice(bad)


def test_a_damaged_advice_is_listed_with_its_reason(tiny_model_dir):
    ticket_task()
    advice_id, folder = advice_job.create_advice(prompt_only(tiny_model_dir))
    (folder / "status.json").write_text("{not json")
    job = advice_job.get_advice(advice_id)
    assert job.status == "damaged" and "status.json" in job.problem and str(folder) in job.fix
    with pytest.raises(LabError, match="damaged"):
        advice_job.load_advice(advice_id)
    assert [j.status for j in advice_job.list_advice()] == ["damaged"]


def test_a_damaged_cached_point_is_measured_again(tiny_model_dir):
    ticket_task()
    wanted = prompt_only(tiny_model_dir)
    advice_job.run_headless(wanted, say=lambda _: None)
    first = advice_plan.plan(wanted).points[0]
    (advice_job.points_dir() / f"{first.key}.json").write_text('{"cut sh')
    _, folder = advice_job.run_headless(wanted, say=lambda _: None)
    states = {line["name"]: line["state"] for line in advice_job.point_lines(folder.name)}
    assert states[first.point.name] == "done"
    assert advice_job.read_record(first.key)["name"] == first.point.name
