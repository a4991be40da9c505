"""The training process's side of a run (``core.run_worker``): what it records, seen from
where it now lives, and the names ``core.runs`` still hands the pages, CLI and tests."""

from __future__ import annotations

from pathlib import Path

from core import run_worker, runs
from core.run_worker import RunMetrics
from core.train_config import TrainConfig


def tiny_config(model_dir: Path) -> TrainConfig:
    return TrainConfig(model=str(model_dir), template="Review: {text}\nSentiment:", max_steps=2,
                       batch_size=2, max_train_examples=8, max_eval_examples=4, threads=1,
                       learning_rate=1e-2)


def test_core_runs_still_hands_out_the_workers_names():
    for name in ("execute", "read_status", "write_status", "launch_id", "speed_warning",
                 "SLOW_FACTOR", "FINAL", "LIVE", "RunMetrics", "_train_holding_lock", "_now"):
        assert getattr(runs, name) is getattr(run_worker, name), name


def test_a_finished_run_reads_its_metrics_typed(tiny_model_dir):
    config = tiny_config(tiny_model_dir)
    run_dir = runs.create_run(config)
    assert runs.execute(config, run_dir, echo=False) == 0
    run = runs.get_run(run_dir.name)
    assert run.status == "succeeded"
    assert run.measured.steps == 2 and run.measured.train_loss == run.metrics["train_loss"]
    assert run.measured.train_seconds is not None and not run.measured.cancelled
    assert (run.method, run.base_model, run.task, run.data_path) == \
        ("lora", str(tiny_model_dir), "review-sentiment", None)


def test_an_old_run_without_figures_reads_none():
    metrics = RunMetrics.from_dict({"steps": 3, "train_loss": "nan?", "unknown": 1})
    assert metrics.steps == 3 and metrics.train_loss is None
    assert (metrics.eval_loss, metrics.accuracy, metrics.precision) == (None, None, None)
    assert RunMetrics.from_dict({}) == RunMetrics()
