"""What a training run trained on, recorded in its folder as it starts.

``record_run_data`` writes ``data.json`` (the task and its fingerprint, or the data file, and
the rows of train and validation used) and ``train_inputs.txt`` (one short hash per training
input, normalised as ``core.prompting.normal_text`` compares inputs). ``core.runs`` calls it
as a run starts; ``core.task_versions`` reads the record to tell a comparison whether a tuned
run fits the task version it scores. Split out of ``core.task_versions`` so that the runner
and that reader need not import each other.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.errors import LabError
from core.paths import write_json, write_text
from core.prompting import normal_text
from core.train_config import TrainConfig

RECORD = "data.json"
INPUTS = "train_inputs.txt"


def input_key(text: Any) -> str:
    """The hash two inputs share when ``core.prompting.same_text`` calls them the same."""
    return hashlib.sha256(normal_text(str(text)).encode("utf-8")).hexdigest()[:16]


def row_input(row: dict[str, Any]) -> Any:
    """What a training row asks (its input, prompt, instruction, or last user turn)."""
    for role in ("input", "prompt", "instruction"):
        if str(row.get(role) or "").strip():
            return row[role]
    messages = row.get("messages")
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            return messages
    users = [m.get("content") for m in messages or [] if isinstance(m, dict)
             and m.get("role") == "user"] if isinstance(messages, list) else []
    return users[-1] if users else None


def describe_data(config: TrainConfig) -> tuple[dict[str, Any], list[str]]:
    """(the record of a run's data, the keys of its training inputs) for a ``TrainConfig``:
    read exactly as training reads it (``split_rows``). Raises the LabError training would."""
    from core.tasks import load_task, task_fingerprint
    from core.training_data import split_rows

    train, validation, _ = split_rows(config)
    record: dict[str, Any] = {"task": None, "task_title": None, "fingerprint": None,
                              "data_path": config.data_path, "train_rows": len(train),
                              "validation_rows": len(validation)}
    if config.task is not None:
        task = load_task(config.task)
        record.update(task=task.name, task_title=task.title, origin=task.origin,
                      fingerprint=task_fingerprint(task.name))
    keys = sorted({input_key(value) for value in map(row_input, train) if value is not None})
    return record, keys


def record_run_data(config: TrainConfig, run_dir: Path) -> dict[str, Any] | None:
    """Write ``data.json`` and ``train_inputs.txt`` into ``run_dir`` as training starts; the
    record, or None where the data cannot be read (training then fails with the reason)."""
    try:
        record, keys = describe_data(config)
    except LabError:
        return None
    record["recorded_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_text(run_dir / INPUTS, "".join(k + "\n" for k in keys))
    write_json(run_dir / RECORD, record)  # last: its presence means the inputs are whole
    return record


def read_run_data(run_dir: str | Path) -> dict[str, Any] | None:
    """A run's data record, or None for a run from before records (or a damaged one)."""
    try:
        record = json.loads((Path(run_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def recorded_keys(run_dir: Path) -> set[str] | None:
    """The hashes of a run's training inputs, or None where none were recorded."""
    try:
        return set((run_dir / INPUTS).read_text(encoding="utf-8").split())
    except OSError:
        return None
