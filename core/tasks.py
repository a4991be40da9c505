"""Every task the lab knows: the samples it ships and the ones the user made, in one registry.

A task folder holds ``task.json`` (what the input and the answer are, the
instruction and the prompt template), ``train.jsonl``, ``validation.jsonl``,
``test.jsonl``, a README that says where the data came from, and for JSON
tasks the answer's JSON Schema. Kinds: ``classification`` (one of a few
labels, scored by log-likelihood), ``json`` (structured output checked against
the schema), ``numeric`` (a number, for the ReAct tools), ``qa`` (short answers
to questions on a document collection, for RAG) and ``text`` (free text with
reference outputs). A shipped task.json may point a split at another file
(``"splits": {"test": "../../knowledge/.../questions.jsonl"}``) instead of copying it;
a user's task may not point outside its own folder.

Shipped tasks live read-only in ``assets/tasks/<name>/`` (origin ``"sample"``); the
user's in ``<data folder>/tasks/<name>/`` (origin ``"yours"``), created, renamed and
deleted by ``core.task_builder``. Caches are keyed on each file's modification time and
size, so a task made, changed or deleted by another process shows without a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import check_field_types
from core.errors import ConfigError
from core.paths import data_dir, storage_error, write_json
from core.prompting import Example

TASKS_DIR = Path(__file__).resolve().parent.parent / "assets" / "tasks"
KINDS = ("classification", "json", "numeric", "qa", "text")
SPLITS = ("train", "validation", "test")
ORIGINS = ("sample", "yours")
STAGING = ".staging"  # under the user's tasks folder; a leading dot: no task can be named so
MAX_NAME = 64
# what a fingerprint covers: what changes the prompts, the answers or the scores (not the title,
# the provenance text or the task's own name, so a rename or an export keeps the version)
FINGERPRINT_FIELDS = ("kind", "input_field", "label_field", "labels", "instruction", "template",
                      "collection")


@dataclass(frozen=True)
class Task:
    """One task: what goes in, what should come out, and how to ask for it."""

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
    origin: str = "sample"  # "sample": shipped with the lab; "yours": made by the user

    def __post_init__(self) -> None:
        check_field_types(self, f"Task {self.name!r}" if isinstance(self.name, str) else "Task")
        if self.kind not in KINDS:
            raise ConfigError(f"Task {self.name!r} has unknown kind {self.kind!r}.",
                              f"Use one of {', '.join(KINDS)} in its task.json.")
        if self.kind == "classification" and len(self.labels) < 2:
            raise ConfigError(f"Classification task {self.name!r} lists fewer than two labels.",
                              "Add the label set to its task.json.")
        if self.origin not in ORIGINS:
            raise ConfigError(f"Task {self.name!r} has unknown origin {self.origin!r}.",
                              f"Use one of {', '.join(ORIGINS)}.")

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

    @property
    def fingerprint(self) -> str:
        """A short hash of the task's content (see ``task_fingerprint``)."""
        return _fingerprint(self)

    def examples(self, split: str, limit: int | None = None) -> list[Example]:
        """The examples of a split as (input, answer) pairs."""
        return [Example(str(r[self.input_field]), self.answer_text(r))
                for r in load_split(self.name, split, limit)]


# -- where tasks are ----------------------------------------------------------------------------


def user_tasks_dir() -> Path:
    """The folder of the user's tasks (``<data folder>/tasks``); not created here."""
    return data_dir() / "tasks"


def sample_tasks() -> list[str]:
    """Names of the shipped tasks, sorted."""
    return sorted(p.parent.name for p in TASKS_DIR.glob("*/task.json"))


def user_tasks() -> list[str]:
    """Names of the user's tasks, sorted (a folder named like a shipped task is not one)."""
    folder = user_tasks_dir()
    if not folder.is_dir():
        return []
    shipped = set(sample_tasks())
    return sorted(p.parent.name for p in folder.glob("*/task.json")
                  if not p.parent.name.startswith(".") and p.parent.name not in shipped)


def list_tasks() -> list[str]:
    """Every task name: the shipped ones first, then the user's (each sorted)."""
    return sample_tasks() + user_tasks()


def is_user_task(name: str) -> bool:
    """Whether ``name`` is one of the user's tasks (never a shipped one)."""
    return isinstance(name, str) and name in user_tasks()


def _unknown(name: Any) -> ConfigError:
    shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
    return ConfigError(f"There is no sample task named {shown}, nor a task of yours.",
                       f"Pick one of: {', '.join(list_tasks())}.")


def task_folder(name: str) -> Path:
    """The folder of task ``name`` (shipped or the user's)."""
    # a name is looked up among the tasks before any path is made of it (a 100,000
    # character name would otherwise end in "File name too long")
    if isinstance(name, str) and name in sample_tasks():
        return TASKS_DIR / name
    if is_user_task(name):
        return user_tasks_dir() / name
    raise _unknown(name)


def check_task_name(name: Any) -> str:
    """``name`` if a new user task may be called so; a ConfigError that says why not."""
    rule = "Use 1-64 letters, digits, spaces, '-', '_' or '.', not starting with a dot."
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("The task name is empty.", rule)
    shown = repr(name) if len(name) <= 60 else repr(name[:57] + "...")
    if len(name) > MAX_NAME:
        raise ConfigError(f"The task name {shown} has {len(name)} characters; at most "
                          f"{MAX_NAME}.", rule)
    if any(not ch.isprintable() for ch in name):
        raise ConfigError(f"The task name {shown} contains a control character.", rule)
    if "/" in name or "\\" in name or ".." in name or os.sep in name:
        raise ConfigError(f"The task name {shown} contains a path separator or '..': it would "
                          "leave the tasks folder.", rule)
    if name.startswith(".") or name != name.strip():
        raise ConfigError(f"The task name {shown} starts with a dot or a space, or ends with "
                          "a space.", rule)
    if name in sample_tasks():
        raise ConfigError(f"{shown} is the name of a sample task the lab ships.",
                          "Choose another name: sample tasks cannot be replaced.")
    if is_user_task(name) or (user_tasks_dir() / name).exists():
        raise ConfigError(f"You already have a task named {shown}.",
                          "Choose another name, or delete or rename that task first.")
    return name


# -- reading, cached on the files' modification times -----------------------------------------

_TASKS: dict[tuple, Task] = {}
_ROWS: dict[tuple, tuple[dict[str, Any], ...]] = {}
_PRINTS: dict[tuple, str] = {}
MAX_CACHED_SPLITS = 16
MAX_CACHED_TASKS = 256


def clear_caches() -> None:
    """Forget every task, split and fingerprint read so far."""
    _TASKS.clear()
    _ROWS.clear()
    _PRINTS.clear()


def _stamp(path: Path) -> tuple:
    try:
        info = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), info.st_mtime_ns, info.st_size)


def _damaged(name: str, folder: Path, why: str) -> ConfigError:
    return ConfigError(f"Your task {name!r} is damaged: {why}",
                       f"Repair {folder / 'task.json'}, or delete the task "
                       f"(python -m core tasks delete {name!r}) and create it again.")


def _read_task(name: str, folder: Path, origin: str) -> Task:
    try:
        data = json.loads((folder / "task.json").read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("task.json is not a JSON object")
        data = {**data, "name": name, "origin": origin}
        schema = data.pop("schema", None)
        if schema:
            data["schema"] = _inside(folder, schema, origin).read_text(encoding="utf-8")
        data["labels"] = tuple(data.get("labels", ()))
        for split, file in data.get("splits", {}).items():
            _inside(folder, file, origin)
        return Task(**data)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        if origin == "sample":
            raise
        why = exc.problem if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
        raise _damaged(name, folder, why) from None


def _inside(folder: Path, file: Any, origin: str) -> Path:
    """``folder / file``; for a user's task, refused when it would lie outside the folder."""
    if not isinstance(file, str):
        raise ValueError(f"a file name in task.json is {type(file).__name__}, not text")
    path = folder / file
    if origin == "yours" and not path.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"task.json points at {file!r}, outside the task's folder")
    return path


def load_task(name: str) -> Task:
    """The task ``name`` (shipped or the user's); a damaged user task is a ConfigError naming it."""
    folder = task_folder(name)
    origin = "sample" if folder.parent == TASKS_DIR else "yours"
    key = (name, origin, _stamp(folder / "task.json"), _stamp(folder / "schema.json"))
    if key not in _TASKS:
        if len(_TASKS) >= MAX_CACHED_TASKS:  # old versions of edited tasks pile up otherwise
            _TASKS.clear()
        _TASKS[key] = _read_task(name, folder, origin)
    return _TASKS[key]


def task_title(name: str) -> str:
    """How a task picker shows ``name``: its title, the user's marked "(yours)", a damaged
    task marked as such instead of failing the whole picker."""
    try:
        task = load_task(name)
    except ConfigError:
        return f"{name} (yours, damaged: see python -m core tasks show)"
    return task.title if task.origin == "sample" else f"{task.title} (yours)"


def split_path(name: str, split: str) -> Path:
    """The file that holds ``split`` of task ``name`` (it may not exist)."""
    if split not in SPLITS:
        raise ConfigError(f"Unknown split {split!r}.", f"Use one of {', '.join(SPLITS)}.")
    return task_folder(name) / load_task(name).splits.get(split, f"{split}.jsonl")


def _read_split(name: str, split: str) -> tuple[dict[str, Any], ...]:
    path = split_path(name, split)
    if not path.is_file():
        raise ConfigError(f"Task {name!r} has no {split} split.",
                          f"Use one of its splits: {', '.join(available_splits(name))}.")
    key = (name, split, _stamp(path))
    if key not in _ROWS:
        if len(_ROWS) >= MAX_CACHED_SPLITS:
            _ROWS.pop(next(iter(_ROWS)))
        try:
            with path.open(encoding="utf-8") as fh:
                _ROWS[key] = tuple(json.loads(line) for line in fh if line.strip())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if load_task(name).origin == "sample":
                raise
            raise _damaged(name, task_folder(name), f"{path.name} cannot be read ({exc}).") \
                from None
    return _ROWS[key]


def available_splits(name: str) -> list[str]:
    """The splits a task has files for."""
    return [s for s in SPLITS if split_path(name, s).is_file()]


def load_split(name: str, split: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The examples of one split, in file order (copies: callers may edit them)."""
    load_task(name)
    rows = _read_split(name, split)
    return [dict(r) for r in (rows if limit is None else rows[:limit])]


# -- versions ----------------------------------------------------------------------------------


def row_line(row: dict[str, Any]) -> str:
    """One example as the line a split file holds, and as the fingerprint reads it."""
    return json.dumps(row, ensure_ascii=False)


def content_fingerprint(settings: dict[str, Any], schema: str | None,
                        splits: dict[str, Any]) -> str:
    """The fingerprint of a task's content: its FINGERPRINT_FIELDS, its schema (as parsed
    JSON) and its rows per split (as parsed JSON), whatever the files' spacing or key order."""
    digest = hashlib.sha256()
    kept = {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()
            if k in FINGERPRINT_FIELDS and v not in (None, "", (), [])}
    digest.update(json.dumps(kept, sort_keys=True, ensure_ascii=False).encode())
    digest.update(json.dumps(json.loads(schema) if schema else None, sort_keys=True).encode())
    for split in SPLITS:
        rows = splits.get(split)
        if rows is None:
            continue
        digest.update(f"\0{split}\0".encode())
        for row in rows:
            digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
            digest.update(b"\n")
    return digest.hexdigest()[:12]


def task_fingerprint(name: str) -> str:
    """A short sha256 of task ``name``'s content: what it asks and its examples per split.
    Equal fingerprints mean the same task, whatever its name or folder."""
    return _fingerprint(load_task(name))


def _fingerprint(task: Task) -> str:
    """The fingerprint of ``task``'s own settings with the rows its split files hold now."""
    settings = {k: getattr(task, k) for k in FINGERPRINT_FIELDS}
    paths = [split_path(task.name, s) for s in SPLITS]
    key = (task.name, json.dumps(settings, sort_keys=True), task.schema,
           *(_stamp(p) for p in paths))
    if key not in _PRINTS:
        if len(_PRINTS) >= MAX_CACHED_TASKS:
            _PRINTS.clear()
        splits = {s: _read_split(task.name, s) for s, p in zip(SPLITS, paths) if p.is_file()}
        _PRINTS[key] = content_fingerprint(settings, task.schema, splits)
    return _PRINTS[key]


# -- renaming and deleting the user's tasks ------------------------------------------------------


def _own_task(name: str, action: str) -> Path:
    if isinstance(name, str) and name in sample_tasks():
        raise ConfigError(f"{name!r} is a sample task the lab ships; it cannot be {action}.",
                          "Export it (python -m core tasks export) and create your own copy.")
    if not is_user_task(name):
        raise _unknown(name)
    return user_tasks_dir() / name


def rename_task(old: str, new: str) -> Path:
    """Rename the user's task ``old`` to ``new`` (its fingerprint stays); the new folder."""
    folder = _own_task(old, "renamed")
    check_task_name(new)
    target = user_tasks_dir() / new
    try:
        folder.rename(target)
    except OSError as exc:
        raise storage_error(exc, f"rename the task {old!r}") from exc
    try:
        data = json.loads((target / "task.json").read_text(encoding="utf-8"))
        write_json(target / "task.json", {**data, "name": new})
    except (OSError, ValueError):
        target.rename(folder)  # put it back: a task whose task.json names another is half-renamed
        raise
    clear_caches()
    return target


def delete_task(name: str) -> None:
    """Delete the user's task ``name`` (never a shipped one): moved aside first, so a failed
    delete leaves either the whole task or nothing under its name."""
    folder = _own_task(name, "deleted")
    staging = user_tasks_dir() / STAGING
    try:
        staging.mkdir(exist_ok=True)
        doomed = staging / f"deleting-{uuid.uuid4().hex}"
        folder.rename(doomed)
        shutil.rmtree(doomed)
    except OSError as exc:
        raise storage_error(exc, f"delete the task {name!r}") from exc
    finally:
        remove_if_empty(staging)
        clear_caches()


def remove_if_empty(folder: Path) -> None:
    """Remove the staging folder once nothing is under way in it."""
    try:
        folder.rmdir()
    except OSError:  # not empty (another creation is under way) or already gone
        pass
