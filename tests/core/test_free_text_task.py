"""The free-text sample task (support-reply, issue 19): it loads as every page reads tasks, its
files are what its generator writes, and on the embedded model fine-tuning holds the house
format that prompting does not.

Default suite (about a minute): the task and its files, every task list of the core, and the
base model's best prompting (4 shots) on 12 test messages, which keeps the whole house format
in few of them. Slow: the live-demo LoRA trained on the 200 training replies, against zero-
and 4-shot prompting on the 40 test messages, by the comparison's reference metrics with
intervals (README of the task: the measured figures).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.free_text import holds_house_format, prompting_setups, summarise, tuned_setup
from core.compare import CompareConfig, evaluate
from core.tasks import TASKS_DIR, list_tasks, load_split, load_task, sample_tasks

pytestmark = pytest.mark.integration

TASK = "support-reply"
FOLDER = TASKS_DIR / TASK


def test_the_task_loads_with_its_splits_and_house_format():
    task = load_task(TASK)
    assert (task.kind, task.input_field, task.label_field) == ("text", "message", "reply")
    assert "{message}" in task.template and task.labels == ()
    sizes = {split: len(load_split(TASK, split)) for split in ("train", "validation", "test")}
    assert sizes == {"train": 200, "validation": 40, "test": 40}
    rows = [r for split in sizes for r in load_split(TASK, split)]
    assert all(holds_house_format(r["reply"], r["reply"]) for r in rows)
    assert len({r["message"].lower() for r in rows}) == 280  # no message twice, in any split
    for split in sizes:  # each category an eighth of every split
        counts = Counter(r["category"] for r in load_split(TASK, split))
        assert len(counts) == 8 and len(set(counts.values())) == 1
    example = task.examples("test", limit=1)[0]
    assert example.label.startswith("Hello ") and example.label.endswith("Fernhill Care")


def test_the_generator_writes_the_shipped_files(tmp_path):
    """make_data.py is seeded: run anew it writes the three files byte for byte."""
    script = (FOLDER / "make_data.py").read_text(encoding="utf-8")
    copy = tmp_path / "make_data.py"
    copy.write_text(script, encoding="utf-8")
    subprocess.run([sys.executable, str(copy)], check=True, capture_output=True)
    for split in ("train", "validation", "test"):
        assert (tmp_path / f"{split}.jsonl").read_bytes() == \
            (FOLDER / f"{split}.jsonl").read_bytes(), split


def test_every_task_list_of_the_core_offers_it():
    """Playground, Train, Compare, the Advisor and the Tasks page list ``list_tasks()``; the
    command line's ``tasks list`` too; configs of each accept it. The lesson and the Few-shot
    builder list classification tasks only, so not this one."""
    from core.advice_config import AdviceConfig
    from core.cli import main
    from core.reference import tasks_of
    from core.tour_tasks import lesson_tasks
    from core.train_config import preset

    assert TASK in sample_tasks() and TASK in list_tasks()
    assert tasks_of(("text",)) == [TASK]
    assert TASK not in lesson_tasks()
    assert preset("live-demo", task=TASK).task == TASK
    assert AdviceConfig(TASK).task == TASK
    assert CompareConfig(TASK, prompting_setups()).task == TASK
    assert main(["tasks", "list"]) == 0


@pytest.fixture(scope="module")
def few_shot_results(tmp_path_factory) -> dict:
    """4-shot prompting (the base model's best prompt here) on the first 12 test messages."""
    setups = prompting_setups(shots=(("few-shot 4", 4),))
    return evaluate(CompareConfig(TASK, setups, n_examples=12))


def test_prompting_does_not_hold_the_house_format(few_shot_results):
    """Four worked replies show the form, but not the rule: which action and ticket code go
    with which issue, and the name as the customer signed. Measured on 12 rows: 1 held the
    format [0.02, 0.35], chrF 0.69 [0.60, 0.79] (zero-shot 0.22, no reply in the format)."""
    row = summarise(few_shot_results)["few-shot 4"]
    print(json.dumps(row))
    assert row["house_high"] < 0.9 and row["house_format"] <= 0.5
    assert row["high"] < 0.95  # nor does it write the reference replies (chrF or ROUGE-L)


@pytest.mark.slow  # trains the live-demo LoRA on 200 replies: 3-15 minutes on 2 shared cores
def test_fine_tuning_leads_prompting_on_the_reference_metrics(lab_home):
    from core.run_worker import execute
    from core.runs import create_run
    from core.train_config import preset

    run_dir = create_run(preset("live-demo", task=TASK))
    assert execute(preset("live-demo", task=TASK), run_dir) == 0
    setups = [*prompting_setups(shots=(("zero-shot", 0), ("few-shot 4", 4))),
              tuned_setup(Path(run_dir).name)]
    results = evaluate(CompareConfig(TASK, setups, n_examples=40))
    table = summarise(results)
    print(json.dumps(table, indent=1))
    tuned, shots, zero = table["LoRA (live demo)"], table["few-shot 4"], table["zero-shot"]
    assert tuned["low"] > shots["high"] and tuned["low"] > zero["high"]
    assert tuned["house_low"] > shots["house_high"]
