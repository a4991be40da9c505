"""Task versions (issue 16): what a run trained on and a comparison scored, and the warnings a
comparison gives when a tuned run saw another version of the task or some of its test rows.

Every test has its own PROMPTTUNE_HOME (conftest's ``lab_home``); the user's task is made with
core.task_builder from a CSV written here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import runs
from core.compare import CompareConfig, VariantSpec, evaluate
from core.errors import ConfigError
from core.report import html_report
from core.task_versions import (INPUTS, NOT_RECORDED, comparison_checks, check_warnings,
                                read_run_data, record_run_data, run_data_line, task_line)
from core.tasks import load_split, rename_task, task_fingerprint, task_folder
from core.train_config import TrainConfig
from tests.core.test_user_tasks import make, ticket_rows, write_csv

TEMPLATE = "Ticket: {input}\nTeam:"


@pytest.fixture
def tickets(tmp_path):
    """A three-label task of the user's: 42 train, 6 validation, 12 test rows."""
    return make("tickets", write_csv(tmp_path / "tickets.csv", ticket_rows(60)))


def finished_run(config: TrainConfig, record: bool = True) -> str:
    """A run folder as a finished run leaves it (without training): its config, its data
    record (unless an older run's), an adapter folder, template.json, metrics, succeeded."""
    run_dir = runs.create_run(config)
    if record:
        record_run_data(config, run_dir)
    (run_dir / "adapter").mkdir()
    (run_dir / "template.json").write_text(json.dumps({"template": TEMPLATE}))
    (run_dir / "metrics.json").write_text(json.dumps({"steps": 1}))
    runs.write_status(run_dir, status="succeeded")
    return run_dir.name


def comparison(task: str, *run_ids: str, n: int = 12) -> CompareConfig:
    tuned = tuple(VariantSpec(f"tuned {i}", "fine-tuned", run_id=r) for i, r in enumerate(run_ids))
    return CompareConfig(task, (VariantSpec("zero-shot", "zero-shot"), *tuned), n)


def overlapping_file(tmp_path: Path, task: str, shared: int) -> Path:
    """An uploaded-style CSV: 20 rows of its own and ``shared`` test inputs of ``task``,
    written with other case and spacing (still the same input by the lab's rule)."""
    test = load_split(task, "test")[:shared]
    rows = [{"text": f"my own example number {i}", "label": "billing"} for i in range(20)]
    rows += [{"text": "  " + r["text"].upper().replace(" ", "   ") + " ", "label": r["label"]}
             for r in test]
    return write_csv(tmp_path / "upload.csv", rows)


def test_a_trained_run_records_its_task_version_and_split_sizes_and_compares_clean(
        tickets, tiny_model_dir):
    from tests.core.test_runs import tiny_config

    config = tiny_config(tiny_model_dir, task="tickets", template=TEMPLATE, max_steps=1,
                         max_train_examples=16, max_eval_examples=4)
    run_dir = runs.create_run(config)
    assert runs.execute(config, run_dir, echo=False) == 0
    record = read_run_data(run_dir)
    assert record["task"] == "tickets" and record["origin"] == "yours"
    assert record["fingerprint"] == task_fingerprint("tickets") == tickets.fingerprint
    assert (record["train_rows"], record["validation_rows"]) == (16, 4)
    assert len((run_dir / INPUTS).read_text().split()) == 16
    line = run_data_line(runs.get_run(run_dir.name))
    assert f"version {tickets.fingerprint[:8]}" in line and "16 training rows" in line

    spec = VariantSpec("tuned", "fine-tuned", run_id=run_dir.name)
    results = evaluate(CompareConfig("tickets", (spec,), 5, model=str(tiny_model_dir),
                                     engine="transformers"))
    assert results["variants"][0]["error"] is None
    assert results["task"]["fingerprint"] == tickets.fingerprint
    assert (results["task"]["test_rows"], results["task"]["fewshot_pool"]) == (5, 42)
    assert results["warnings"] == [] and results["tuned_runs"]["tuned"]["overlap"] == 0
    assert task_line(results) == (f"Task: tickets (yours), version {tickets.fingerprint[:8]}, "
                                  "5 test rows, few-shot examples drawn from its 42 training "
                                  "rows.")
    assert task_line(results) in html_report(results)

    # the task changes after the run: the same run now belongs to another version of it
    with (task_folder("tickets") / "train.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "a new billing question", "label": "billing"}) + "\n")
    assert task_fingerprint("tickets") != record["fingerprint"]
    [warning] = check_warnings(comparison_checks(comparison("tickets", run_dir.name)))
    assert "another version of tickets" in warning and record["fingerprint"][:8] in warning
    assert task_fingerprint("tickets")[:8] in warning and "Fix:" in warning


def test_a_run_on_an_uploaded_file_counts_the_test_rows_it_trained_on(tickets, tmp_path):
    upload = overlapping_file(tmp_path, "tickets", shared=3)
    run_id = finished_run(TrainConfig(data_path=str(upload), validation_fraction=0.0))
    checks = comparison_checks(comparison("tickets", run_id))
    [check] = checks.values()
    assert check["overlap"] == 3 and check["task"] is None and check["recorded"]
    [warning] = check["warnings"]
    assert "trained on 3 of the 12 test rows" in warning and "memory, not skill" in warning
    # only the rows the comparison scores count: the first 5 test rows hold 3 of them
    assert comparison_checks(comparison("tickets", run_id, n=5))["tuned 0"]["overlap"] == 3
    assert read_run_data(runs.runs_dir() / run_id)["train_rows"] == 23


def test_a_run_of_the_same_version_warns_of_nothing_even_after_a_rename(tickets):
    run_id = finished_run(TrainConfig(task="tickets", template=TEMPLATE))
    assert check_warnings(comparison_checks(comparison("tickets", run_id))) == []
    rename_task("tickets", "support tickets")  # a rename keeps the content, so the version
    assert check_warnings(comparison_checks(comparison("support tickets", run_id))) == []


def test_a_run_on_another_task_says_which(tickets):
    run_id = finished_run(TrainConfig(task="review-sentiment"))
    [warning] = check_warnings(comparison_checks(comparison("tickets", run_id)))
    assert "trained on task review-sentiment" in warning and "not on tickets" in warning


def test_an_older_run_without_a_record_still_opens_and_says_version_not_recorded(tickets,
                                                                                 tmp_path):
    run_id = finished_run(TrainConfig(task="tickets", template=TEMPLATE), record=False)
    assert NOT_RECORDED in run_data_line(runs.get_run(run_id))
    [warning] = check_warnings(comparison_checks(comparison("tickets", run_id)))
    assert "before the lab recorded task versions" in warning
    # an older run on a file is checked against the file as it is now, and says so
    upload = overlapping_file(tmp_path, "tickets", shared=2)
    old = finished_run(TrainConfig(data_path=str(upload), validation_fraction=0.0), record=False)
    [overlap] = check_warnings(comparison_checks(comparison("tickets", old)))
    assert "trained on 2 of the 12" in overlap and "as it is now" in overlap
    upload.unlink()  # its file gone: nothing can be told, and nothing fails
    assert check_warnings(comparison_checks(comparison("tickets", old))) == []


def test_an_older_comparison_without_a_version_reads_version_not_recorded():
    from tests.core.test_report import results as results_fixture

    results = results_fixture.__wrapped__()
    assert "fingerprint" not in results["task"] and "warnings" not in results
    assert NOT_RECORDED in task_line(results) and NOT_RECORDED in html_report(results)


def test_a_comparison_config_names_a_user_task(tickets):
    config = CompareConfig.from_dict({"task": "tickets",
                                      "variants": [{"name": "zs", "kind": "zero-shot"}]})
    assert config.task == "tickets"
    with pytest.raises(ConfigError, match="nor a task of yours") as caught:
        CompareConfig.from_dict({"task": "no-such-task",
                                 "variants": [{"name": "zs", "kind": "zero-shot"}]})
    assert "tickets" in caught.value.fix


def test_the_cli_compare_prints_the_overlap_and_the_report_carries_it(tickets, tmp_path,
                                                                      tiny_model_dir, capsys):
    from core.cli import main
    from tests.core.test_runs import tiny_config

    upload = overlapping_file(tmp_path, "tickets", shared=3)
    config = tiny_config(tiny_model_dir, task=None, data_path=str(upload), template=None,
                         validation_fraction=0.0, max_steps=1, max_train_examples=None)
    run_dir = runs.create_run(config)
    assert runs.execute(config, run_dir, echo=False) == 0
    path = tmp_path / "compare.json"
    path.write_text(json.dumps(CompareConfig(
        "tickets", (VariantSpec("tuned", "fine-tuned", run_id=run_dir.name),), 5,
        model=str(tiny_model_dir), engine="transformers").to_dict()))
    report = tmp_path / "report.html"
    capsys.readouterr()
    assert main(["compare", str(path), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"task tickets, version {tickets.fingerprint[:8]}" in out
    assert "warning: Run" in out and "trained on 3 of the 5 test rows" in out
    # said again under the variant table, where a reader of the output looks last
    lines = out.splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("tuned ") and "{" in line)
    assert any("trained on 3 of the 5 test rows" in line for line in lines[table + 1:])
    page = report.read_text(encoding="utf-8")
    assert "Warning: Run" in page and "trained on 3 of the 5 test rows" in page
    assert f"Task: tickets (yours), version {tickets.fingerprint[:8]}, 5 test rows" in page
