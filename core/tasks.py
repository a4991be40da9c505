"""The sample tasks the lab ships (``assets/tasks/<name>/``) and their splits.

A task folder holds ``task.json`` (what the input and the answer are, the
instruction and the prompt template), ``train.jsonl``, ``validation.jsonl``,
``test.jsonl``, a README that says where the data came from, and for JSON
tasks the answer's JSON Schema. Three kinds: ``classification`` (one of a few
labels, scored by log-likelihood), ``json`` (structured output checked against
the schema), ``numeric`` (a number, for the ReAct tools) and ``qa`` (short answers
to questions on a document collection, for RAG). A task.json may point a split at
another file (``"splits": {"test": "../../knowledge/.../questions.jsonl"}``) instead
of copying it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.config import check_field_types
from core.errors import ConfigError
from core.prompting import Example

TASKS_DIR = Path(__file__).resolve().parent.parent / "assets" / "tasks"
KINDS = ("classification", "json", "numeric", "qa")
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Task:
    """One sample task: what goes in, what should come out, and how to ask for it."""

    name: str
    title: str
    kind: str
    input_field: str
    label_field: str
    instruction: str
    template: str
    source: str
    labels: tuple[str, ...] = field(default_factory=tuple)
    schema: str | None = None  # JSON Schema text, for kind "json"
    collection: str | None = None  # the document collection a "qa" task is asked against
    splits: dict[str, str] = field(default_factory=dict)  # split -> file, relative to the folder

    def __post_init__(self) -> None:
        check_field_types(self, f"Task {self.name!r}" if isinstance(self.name, str) else "Task")
        if self.kind not in KINDS:
            raise ConfigError(f"Task {self.name!r} has unknown kind {self.kind!r}.",
                              f"Use one of {', '.join(KINDS)} in its task.json.")
        if self.kind == "classification" and len(self.labels) < 2:
            raise ConfigError(f"Classification task {self.name!r} lists fewer than two labels.",
                              "Add the label set to its task.json.")

    def answer_text(self, example: dict[str, Any]) -> str:
        """The reference answer of ``example`` as the model should write it."""
        value = example[self.label_field]
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    @property
    def prompt_template(self) -> str:
        """The template with the input field written ``{input}``, as the lab's recipes use it."""
        return self.template.replace("{" + self.input_field + "}", "{input}")

    def examples(self, split: str, limit: int | None = None) -> list[Example]:
        """The examples of a split as (input, answer) pairs."""
        return [Example(r[self.input_field], self.answer_text(r))
                for r in load_split(self.name, split, limit)]


def list_tasks() -> list[str]:
    """Names of the shipped tasks."""
    return sorted(p.parent.name for p in TASKS_DIR.glob("*/task.json"))


@lru_cache(maxsize=None)
def load_task(name: str) -> Task:
    """Read ``assets/tasks/<name>/task.json``."""
    # a name is looked up among the shipped tasks before any path is made of it (a 100,000
    # character name would otherwise end in "File name too long")
    if not isinstance(name, str) or name not in list_tasks():
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
        raise ConfigError(f"There is no sample task named {shown}.",
                          f"Pick one of: {', '.join(list_tasks())}.")
    folder = TASKS_DIR / name
    data = json.loads((folder / "task.json").read_text(encoding="utf-8"))
    schema = data.pop("schema", None)
    if schema:
        data["schema"] = (folder / schema).read_text(encoding="utf-8")
    data["labels"] = tuple(data.get("labels", ()))
    return Task(**data)


@lru_cache(maxsize=None)
def _read_split(name: str, split: str) -> tuple[dict[str, Any], ...]:
    if split not in SPLITS:
        raise ConfigError(f"Unknown split {split!r}.", f"Use one of {', '.join(SPLITS)}.")
    path = TASKS_DIR / name / load_task(name).splits.get(split, f"{split}.jsonl")
    if not path.is_file():
        raise ConfigError(f"Task {name!r} has no {split} split.",
                          f"Use one of its splits: {', '.join(available_splits(name))}.")
    with path.open(encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def available_splits(name: str) -> list[str]:
    """The splits a task has files for."""
    task = load_task(name)
    return [s for s in SPLITS if (TASKS_DIR / name / task.splits.get(s, f"{s}.jsonl")).is_file()]


def load_split(name: str, split: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The examples of one split, in file order (copies: callers may edit them)."""
    load_task(name)
    rows = _read_split(name, split)
    return [dict(r) for r in (rows if limit is None else rows[:limit])]
