"""Which version of a task a run trained on and a comparison scored, and whether they fit.

A training run writes ``data.json`` into its folder as it starts (``core.run_data``): the
task and its fingerprint (``core.tasks.task_fingerprint``), or the data file, and the rows of
train and validation it used; beside it ``train_inputs.txt`` keeps one short hash per
training input, normalised as ``core.prompting.normal_text`` compares inputs (the lab's one
rule for "the same input"). Only hashes: a run folder is zipped and shared, and the text of
every row would double a task's size in each of its runs.

A comparison with a fine-tuned run then says plainly (``tuned_run_checks``) when the run was
trained on another version of the task, or on rows that are among the test rows it scores,
with their count. Both are warnings, not refusals: a run tuned on last month's version, or on
a file that shares rows with the test split, is still worth measuring, provided every reader
of the figures is told (the results, the page, the report and the CLI all say it). Runs and
comparisons made before versions were recorded still open: they read "version not recorded".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import LabError
# the run's own record lives in core.run_data (core.runs writes it); these names are kept here
from core.run_data import (INPUTS, RECORD, describe_data, input_key,  # noqa: F401
                           read_run_data, record_run_data, recorded_keys)

SHORT = 8  # characters of a fingerprint shown to people ("version 3f2a9c1e")
NOT_RECORDED = "version not recorded"


def short(fingerprint: str | None) -> str:
    """``version abc12345``, or ``version not recorded`` for an older run or comparison."""
    return f"version {fingerprint[:SHORT]}" if fingerprint else NOT_RECORDED


# -- what a run trained on ------------------------------------------------------------------------


def run_data_line(run) -> str:
    """One line for the Runs page: the task and its version (or the file), and the rows used."""
    record = read_run_data(run.run_dir)
    what = f"task {run.task}" if run.task else f"file {Path(str(run.data_path)).name}"
    if record is None:
        return f"Trained on {what}, {NOT_RECORDED} (an older run)."
    rows = f"{_count(record.get('train_rows'))} training rows, " \
        f"{_count(record.get('validation_rows'))} validation rows"
    version = f", {short(record.get('fingerprint'))}" if record.get("task") else ""
    return f"Trained on {what}{version}: {rows}."


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def _trained_data(run) -> tuple[dict[str, Any] | None, set[str] | None, bool]:
    """(record, training input keys, whether recorded): for an older run both are read now
    from its config's data as it stands (None where that data is gone)."""
    record = read_run_data(run.run_dir)
    if record is not None:
        return record, recorded_keys(run.run_dir), True
    from core.train_config import TrainConfig

    try:
        record, keys = describe_data(TrainConfig.from_dict(run.config))
    except (LabError, TypeError, ValueError):
        return None, None, False
    return {**record, "fingerprint": None}, set(keys), False


# -- what a comparison scores -----------------------------------------------------------------------


def task_record(task, test_rows: int) -> dict[str, Any]:
    """The task's part of a comparison's results: its version and the split sizes it used."""
    from core.tasks import available_splits, load_split, task_fingerprint

    pool = len(load_split(task.name, "train")) if "train" in available_splits(task.name) else 0
    return {"fingerprint": task_fingerprint(task.name), "origin": task.origin,
            "test_rows": test_rows, "fewshot_pool": pool}


def tuned_run_check(run_id: str, task, test_inputs: list[Any]) -> dict[str, Any]:
    """What a fine-tuned run's data means for a comparison on ``task``: its task and version,
    how many of the test inputs it trained on, and the warnings to show (empty when clean)."""
    from core.runs import get_run

    run = get_run(run_id)
    record, keys, recorded = _trained_data(run)
    fingerprint = task.fingerprint
    check: dict[str, Any] = {"run_id": run_id, "recorded": recorded,
                             "task": (record or {}).get("task") or run.task,
                             "fingerprint": (record or {}).get("fingerprint"),
                             "overlap": None, "warnings": []}
    label = f"Run {run.name or run_id}"
    if keys is not None:
        check["overlap"] = sum(input_key(text) in keys for text in test_inputs)
    check["warnings"] += _version_warnings(label, check, task, fingerprint, recorded)
    if check["overlap"]:
        now = "" if recorded else " (counted against its data as it is now)"
        check["warnings"].append(
            f"{label} trained on {check['overlap']} of the {len(test_inputs)} test rows this "
            f"comparison scores{now}: the same input, ignoring case and spacing. On those rows "
            "its score is memory, not skill. Fix: train a run on the task's train split (or a "
            "file without these rows) and compare that one.")
    return check


def _version_warnings(label: str, check: dict, task, fingerprint: str,
                      recorded: bool) -> list[str]:
    """Another version of the task, another task, or a version nobody recorded; a task
    renamed or exported under another name keeps its fingerprint and is the same task."""
    trained, theirs = check["task"], check["fingerprint"]
    if not trained or (recorded and theirs == fingerprint):
        return []  # a data file (only the overlap can be told), or this very version
    if trained != task.name:
        return [f"{label} was trained on task {trained} ({short(theirs)}), not on "
                f"{task.title} ({short(fingerprint)}). Fix: pick a run trained on {task.name}, "
                "or read its figures as those of a model tuned for another task."]
    if not recorded:
        return [f"{label} was trained before the lab recorded task versions ({NOT_RECORDED}): "
                f"whether it saw this version of {task.title} cannot be told."]
    return [f"{label} was trained on another version of {task.title} ({short(theirs)}; the "
            f"comparison scores {short(fingerprint)}): the task changed since. Fix: train it "
            "again on the task as it is now, or read its figures with that in mind."]


def comparison_checks(config) -> dict[str, dict[str, Any]]:
    """``tuned_run_check`` of every fine-tuned variant of a ``CompareConfig``, by variant name:
    what the Compare page shows before a run and what the results keep."""
    from core.tasks import load_split, load_task

    task = load_task(config.task)
    tuned = [v for v in config.variants if v.kind == "fine-tuned"]
    if not tuned:
        return {}
    inputs = [r[task.input_field] for r in load_split(task.name, "test")[:config.n_examples]]
    checks = {}
    for spec in tuned:
        try:
            checks[spec.name] = tuned_run_check(spec.run_id, task, inputs)
        except LabError:  # a missing run: check_variants refuses it with its own message
            continue
    return checks


def check_warnings(checks: dict[str, dict[str, Any]]) -> list[str]:
    """Every warning of the checks, in variant order."""
    return [warning for check in checks.values() for warning in check["warnings"]]


def task_line(results: dict[str, Any]) -> str:
    """"Task: NAME, version abc12345, 120 test rows" for a comparison's results (older
    comparisons: "version not recorded")."""
    task = results.get("task") or {}
    name = task.get("title") or task.get("name") or results.get("config", {}).get("task", "?")
    if task.get("origin") == "yours":
        name += " (yours)"
    rows = task.get("test_rows", len(results.get("examples", [])))
    pool = task.get("fewshot_pool")
    shots = f", few-shot examples drawn from its {pool:,} training rows" if pool else ""
    return f"Task: {name}, {short(task.get('fingerprint'))}, {rows:,} test rows{shots}."


def result_warnings(results: dict[str, Any]) -> list[str]:
    """The version and overlap warnings a comparison's results carry (none in older ones)."""
    return [str(w) for w in results.get("warnings") or [] if w]
