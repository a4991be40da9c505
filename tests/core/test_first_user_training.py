"""What a first-time user hit in training (issue 14): a warm-up that wasted step 1, a cancel
on the last step that read cancelled, silent cancels, many passes over a small file, uploaded
columns, and one template variable ({input}) with old {text} runs still working."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import runs
from core.train_config import (PRESETS, TrainConfig, lr_factor, many_passes_warning,
                               passes, planned_steps, schedule_summary, warmup_steps)
from core.training import train
from tests.core.test_runs import wait_for


def tiny_config(model_dir: Path, **overrides) -> TrainConfig:
    settings = dict(model=str(model_dir), max_steps=4, batch_size=4, max_train_examples=16,
                    max_eval_examples=4, threads=1, lora_dropout=0.0, learning_rate=1e-2)
    return TrainConfig(**{**settings, **overrides})


def events(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["type"] == kind]


# -- the warm-up -------------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", ["linear", "cosine", "constant_with_warmup", "constant"])
def test_the_first_step_always_learns_whatever_the_schedule(scheduler):
    for total in (1, 2, 3, 10, 60):
        config = TrainConfig(max_steps=total, warmup_ratio=0.5, scheduler=scheduler)
        warmup = warmup_steps(config, total)
        assert warmup < max(total, 2), (total, warmup)  # never the whole run
        factors = [lr_factor(step, warmup, total, scheduler) for step in range(total)]
        assert factors[0] > 0, (scheduler, total, factors)
        assert all(0 < f <= 1 for f in factors[:-1]) and factors[-1] > 0
        assert factors[:warmup + 1] == sorted(factors[:warmup + 1])  # the warm-up climbs


def test_the_live_demo_schedule_in_words():
    config = PRESETS["live-demo"]
    assert warmup_steps(config, 60) == 6
    said = schedule_summary(config, 60)
    assert "warm-up over the first 6 of 60 steps" in said
    assert f"step 1 at {1e-3 / 7:.2e}" in said and "straight line towards 0" in said
    no_warmup = schedule_summary(TrainConfig(warmup_ratio=0.0, learning_rate=1e-3), 10)
    assert no_warmup.startswith("learning rate 1.00e-03 from step 1")


def test_a_two_step_run_learns_on_step_one_and_says_its_warm_up(tiny_model_dir, tmp_path):
    # the issue: warmup 0.1 on 2 steps gave step 1 a learning rate of 0 (transformers' warm-up)
    train(tiny_config(tiny_model_dir, max_steps=2, warmup_ratio=0.1), tmp_path / "run",
          echo=False)
    steps = events(tmp_path / "run", "step")
    assert [e["step"] for e in steps] == [1, 2]
    assert steps[0]["learning_rate"] == pytest.approx(5e-3)  # half the rate, not zero
    assert steps[1]["learning_rate"] == pytest.approx(1e-2)
    schedule = events(tmp_path / "run", "schedule")[0]
    assert (schedule["warmup_steps"], schedule["total_steps"]) == (1, 2)
    assert "warm-up over the first 1 of 2 steps (step 1 at 5.00e-03)" in schedule["summary"]


# -- cancel -------------------------------------------------------------------------------------


def test_a_cancel_that_arrives_on_the_last_step_lets_the_run_finish(tiny_model_dir):
    config = tiny_config(tiny_model_dir, max_steps=1)
    run_dir = runs.create_run(config)
    runs.write_status(run_dir, status="running", cancel_requested_at="2026-11-30T15:00:00+00:00")
    (run_dir / "cancel").touch()  # pressed while its one (last) step computes
    runs._train_holding_lock(config, run_dir, resume=False, echo=False)
    run = runs.get_run(run_dir.name)
    assert run.status == "succeeded" and run.finished_despite_cancel and not run.cancelling
    assert run.metrics["cancelled"] is False and run.metrics["steps"] == 1
    assert "eval_loss" in run.metrics and "accuracy" in run.metrics  # evaluated like any finish


def test_a_cancel_before_the_last_step_still_stops_after_the_current_one(tiny_model_dir,
                                                                          tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "cancel").touch()
    metrics = train(tiny_config(tiny_model_dir, max_steps=3), tmp_path / "run", echo=False)
    assert metrics["cancelled"] and metrics["steps"] == 1


def test_cancelling_a_running_run_says_so_before_its_step_ends(tiny_model_dir):
    run_id = runs.start_run(tiny_config(tiny_model_dir, max_steps=100000, batch_size=2))
    run_dir = runs.get_run(run_id).run_dir
    wait_for(lambda: (run_dir / "events.jsonl").exists() and events(run_dir, "step"),
             "a training step")
    asked = runs.cancel_run(run_id)
    # the answer to the click itself says it, whatever the training process is doing
    assert asked.status == "running" and asked.cancelling and asked.cancel_requested_at
    run = wait_for(lambda: runs.get_run(run_id).status in runs.FINAL and runs.get_run(run_id),
                   "the cancelled run to stop")
    assert run.status == "cancelled" and not run.cancelling and not run.finished_despite_cancel
    assert run.metrics["cancelled"] and run.metrics["steps"] < 100000


# -- many passes over a small data set ---------------------------------------------------------


def test_the_live_demo_on_27_rows_is_flagged_with_what_it_risks_and_the_fix():
    config = PRESETS["live-demo"]  # 60 steps x 8 examples
    said = many_passes_warning(config, 27)
    assert said is not None
    assert "each of the 27 training examples about 18 times (18 epochs)" in said
    assert "memorising" in said
    assert "lower Max steps to about 11 (3 passes)" in said  # 11 x 8 = 88 reads, ~3 x 27
    assert "Add examples (about 160 for 3 passes)" in said   # 480 reads / 3
    assert many_passes_warning(config, 300) is None          # the sample task: 1.6 passes
    assert passes(config, 300) == pytest.approx(1.6)
    by_epochs = TrainConfig(epochs=10.0, batch_size=8)
    assert planned_steps(by_epochs, 27) == 40
    said = many_passes_warning(by_epochs, 27)
    assert "10 epochs reads each" in said and "lower Epochs to 3" in said


def test_a_run_over_many_passes_warns_on_its_runs_page_too(tiny_model_dir, tmp_path):
    train(tiny_config(tiny_model_dir, max_train_examples=4, max_steps=6, batch_size=4),
          tmp_path / "run", echo=False)
    warnings = [e["message"] for e in events(tmp_path / "run", "warning")]
    assert any("each of the 4 training examples about 6 times" in w for w in warnings), warnings


# -- uploaded columns -------------------------------------------------------------------------


def test_columns_are_picked_by_name_for_the_chosen_format_only():
    from core.training_data import guess_columns

    assert guess_columns("text-label", ["text", "label"]) == {"input": "text", "label": "label"}
    assert guess_columns("text-label", ["input", "label"]) == {"input": "input", "label": "label"}
    assert guess_columns("text-label", ["review", "sentiment"]) == {}
    assert guess_columns("instruction", ["instruction", "output"]) == {
        "instruction": "instruction", "output": "output"}  # no input column: none guessed


# -- one template variable: {input}, old {text} runs still work ---------------------------------


def test_a_task_run_without_a_template_saves_it_with_input(tiny_model_dir, tmp_path):
    train(tiny_config(tiny_model_dir, max_steps=1), tmp_path / "run", echo=False)
    saved = json.loads((tmp_path / "run" / "template.json").read_text())
    assert saved["template"] == "Review: {input}\nSentiment:"
    assert saved["input_variable"] == "input"


def test_an_old_text_template_still_trains_and_its_run_still_prompts(tiny_model_dir, tmp_path):
    from core.compare import tuned_prompt

    old = json.loads(json.dumps(tiny_config(tiny_model_dir, max_steps=1).to_dict()))
    old["template"] = "Review: {text}\nSentiment:"  # a config.json saved before issue 14
    train(TrainConfig.from_dict(old), tmp_path / "run", echo=False)
    saved = json.loads((tmp_path / "run" / "template.json").read_text())
    assert saved["template"] == "Review: {text}\nSentiment:" and saved["input_variable"] == "text"
    assert tuned_prompt(saved, "Great boots.") == "Review: Great boots.\nSentiment:"
    new = {"template": "Review: {input}\nSentiment:", "input_variable": "input"}
    assert tuned_prompt(new, "Great boots.") == tuned_prompt(saved, "Great boots.")
