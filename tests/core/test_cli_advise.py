"""``python -m core advise``: the plan first, a line a point, the recommendation, the report;
bad input is the problem and its fix with exit status 2, never a traceback.

Every test runs in its own PROMPTTUNE_HOME (conftest's autouse ``lab_home``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core import advice_job
from core.cli import main
from tests.core.test_advice_job import TRAIN, run_dirs, ticket_task


def small_config(path: Path, model: Path, **settings) -> Path:
    """An advice config file as the Advisor page saves it: zero-shot and LoRA on 8 rows."""
    data = {"task": "tickets", "budget": "none", "model": str(model), "engine": "transformers",
            "n_examples": 8, "shots": [0], "rows": [8], "seeds": 1, "hybrids": False,
            "train": TRAIN, **settings}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("args, problem, fix", [
    (["no-such-task"], "no-such-task", "Pick one of"),
    (["tickets", "--budget", "ten minutes"], "Unknown budget 'ten minutes'", "10m"),
    (["tickets", "--rows", "abc"], "--rows 'abc' is not a list", "--rows 25,50,100,all"),
    (["tickets", "--rows", "25,0"], "'0' is not one", "all"),
    (["tickets", "--shots", "0,two"], "--shots '0,two'", "--shots 0,1,2,4,8"),
    (["tickets", "--n-examples", "many"], "--n-examples must be a whole number", "e.g."),
    (["tickets", "--seeds", "0"], "--seeds must be a whole number of at least 1", "e.g."),
    ([], "Name the task", "python -m core advise"),
    (["--config", "missing.json"], "There is no advice config", "Advisor page"),
])
def test_bad_input_is_the_problem_and_its_fix_with_exit_2(args, problem, fix, capsys):
    ticket_task()
    assert main(["advise", *args]) == 2
    out = capsys.readouterr()
    error, said_fix = out.err.splitlines()[:2]
    assert error.startswith("error: ") and problem in error
    assert said_fix.startswith("fix: ") and fix in said_fix
    assert "Traceback" not in out.err and not out.out
    assert advice_job.list_advice() == []


def test_a_config_file_with_an_unknown_setting_is_refused(tmp_path, tiny_model_dir, capsys):
    ticket_task()
    path = small_config(tmp_path / "advice-config.json", tiny_model_dir, budjet="10m")
    assert main(["advise", "--config", str(path)]) == 2
    assert "budjet" in capsys.readouterr().err


def test_plan_only_prints_the_plan_and_its_eta_and_runs_nothing(tmp_path, tiny_model_dir,
                                                                 capsys):
    ticket_task()
    path = small_config(tmp_path / "advice-config.json", tiny_model_dir)
    assert main(["advise", "--config", str(path), "--shots", "0,2", "--plan-only"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"plan: \d+ points, about \d+ (s|min) \(budget no limit\)", lines[0])
    assert lines[1].startswith("1. zero-shot (~") and any("2-shot" in line for line in lines)
    assert any("LoRA 8 rows" in line for line in lines)
    assert advice_job.list_advice() == [] and not run_dirs()
    assert main(["advise", "--config", str(path), "--plan-only", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in plan["points"]][:2] == ["zero-shot", "LoRA 8 rows"]


def test_a_headless_advice_prints_each_point_the_recommendation_and_writes_the_report(
        tmp_path, tiny_model_dir, capsys):
    ticket_task()
    path = small_config(tmp_path / "advice-config.json", tiny_model_dir)
    assert main(["advise", "--config", str(path), "--json"]) == 0
    out = capsys.readouterr()
    advice = json.loads(out.out)  # standard output holds the advice alone
    # (the model's loading bars share standard error)
    progress = [text for text in out.err.splitlines() if text.startswith(("plan: ", "["))]
    assert progress[0].startswith("plan: ")
    names = [p["name"] for p in advice["points"]]
    assert names[:2] == ["zero-shot", "LoRA 8 rows"] and len(run_dirs()) == 1
    line = next(text for text in progress if text.startswith("[2/"))
    assert re.fullmatch(rf"\[2/{len(names)}\] LoRA 8 rows: \d\.\d\d \[\d\.\d\d, \d\.\d\d\] "
                        r"in \d+ s", line)
    # again, with the report: every point reused, nothing trained again
    report = tmp_path / "advice.html"
    assert main(["advise", "tickets", "--config", str(path), "--report", str(report)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("plan: ") and len(run_dirs()) == 1
    assert sum(text.endswith(" reused") for text in lines) == len(names)
    at = lines.index(next(text for text in lines if text.startswith("recommendation: ")))
    assert lines[at] == f"recommendation: {advice['recommendation']['choice']}"
    assert lines[at + 1:at + 1 + len(advice["recommendation"]["sentences"])] == \
        [f"  {s}" for s in advice["recommendation"]["sentences"]]
    assert f"  {advice['curve']['n_needed']['words']}" in lines
    assert f"report: {report}" in lines and report.read_text().lstrip().startswith("<")
    assert lines[-1].startswith("advice: ") and lines[-1].endswith("advice.json")


def test_the_background_process_of_a_damaged_advice_records_why_it_failed(tiny_model_dir,
                                                                          capsys):
    ticket_task()
    from tests.core.test_advice_job import prompt_only

    advice_id, folder = advice_job.create_advice(prompt_only(tiny_model_dir))
    (folder / "config.json").write_text('{"task": "tickets", "budjet": "1m"}')
    assert main(["advise", "--job", str(folder)]) == 2
    assert "budjet" in capsys.readouterr().err
    job = advice_job.get_advice(advice_id)
    assert job.status == "failed" and "budjet" in job.problem and job.fix
