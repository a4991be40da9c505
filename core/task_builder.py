"""Making a task of the user's own data: plan it (nothing written), then create it whole.

The page and the CLI share one path: ``read_source`` (core.task_sources) gives rows,
a ``TaskRequest`` says what the user chose (columns, kind, instruction, template, splits),
``plan_task`` cleans and counts (missing fields, duplicates, test rows leaking from train,
labels, splits, lengths, the fingerprint) into a ``TaskDraft`` without touching the disk,
and ``create_task`` writes the draft atomically: staged under ``tasks/.staging/`` and
renamed into place, so a failure leaves nothing half-made. ``export_task`` writes a task
as a folder or a zip that ``read_source`` reads back to the same fingerprint.
"""

from __future__ import annotations

import json
import shutil
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import check_field_types, check_json_schema
from core.datafiles import DataFileError
from core.errors import ConfigError
from core.paths import storage_error
from core.prompting import DEFAULT_TEMPLATE, PromptRecipe, build_prompt, check_template
from core.task_sources import SourceData
from core.task_stats import (check_labels, drop_duplicates, infer_schema, is_empty,
                             length_figures, remove_seen, stratified_split, value_text)
from core.tasks import (KINDS, SPLITS, STAGING, Task, available_splits, check_task_name,
                        clear_caches, content_fingerprint, load_task, remove_if_empty, row_line,
                        split_path,
                        task_folder, user_tasks_dir)


@dataclass(frozen=True)
class TaskRequest:
    """What the user chose for a new task (the page's widgets, the CLI's options)."""

    name: str
    kind: str
    input_column: str
    label_column: str
    instruction: str = ""
    template: str = DEFAULT_TEMPLATE  # {input} or {<input column>} marks the input
    labels: tuple[str, ...] = field(default_factory=tuple)  # empty: found in the data
    schema: str | None = None  # json kind: a JSON Schema; None: inferred from the answers
    collection: str | None = None  # qa kind: the document collection it is asked against
    seed: int = 0
    test_size: float = 0.2  # a fraction (0 < x < 1) or a count of rows
    validation_size: float = 0.1
    title: str = ""
    source: str = ""  # where the data came from, in words (kept in task.json)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        check_field_types(self, "Task")
        if self.kind not in KINDS:
            raise ConfigError(f"Unknown task kind {self.kind!r}.", f"Use one of {', '.join(KINDS)}.")
        for role, column in (("input", self.input_column), ("label", self.label_column)):
            if not column.strip():
                raise ConfigError(f"No {role} column is chosen.", f"Pick the {role} column.")
        if self.input_column == self.label_column:
            raise ConfigError(f"The input and the label are the same column ({self.input_column!r}).",
                              "Pick a different column for the answer.")
        check_template(self.prompt_template)
        if len(set(self.labels)) != len(self.labels) or any(not x.strip() for x in self.labels):
            raise ConfigError("The labels repeat or include an empty one.",
                              "List each label once, e.g. POSITIVE,NEGATIVE.")
        if self.schema is not None:
            if self.kind != "json":
                raise ConfigError("A JSON Schema is given for a task that is not of kind json.",
                                  "Choose the kind json, or leave the schema out.")
            object.__setattr__(self, "schema", check_json_schema(self.schema))
        for what in ("test_size", "validation_size"):
            size = getattr(self, what)
            if size < 0 or (size >= 1 and size != int(size)):
                raise ConfigError(f"{what} must be a fraction between 0 and 1 or a whole count "
                                  f"of rows, got {size}.", f"Give {what} as e.g. 0.2 or 100.")

    @property
    def prompt_template(self) -> str:
        """The template with the input column written ``{input}``."""
        return self.template.replace("{" + self.input_column + "}", "{input}")


@dataclass(frozen=True)
class TaskDraft:
    """A task ready to be written, with every figure the user should see first."""

    request: TaskRequest
    settings: dict[str, Any]  # task.json, less the schema file name
    schema: str | None
    splits: dict[str, list[dict[str, Any]]]
    counts: dict[str, int]  # what was read, skipped and removed, by reason
    label_counts: dict[str, int]
    lengths: dict[str, Any]
    fingerprint: str
    split_origin: str  # "source" or "stratified"

    def task(self) -> Task:
        """The task as it will be loaded once created."""
        data = {k: (tuple(v) if k == "labels" else v) for k, v in self.settings.items()}
        return Task(**data, schema=self.schema, origin="yours")

    def preview_prompt(self) -> str:
        """The exact prompt the model sees for the first training row."""
        task = self.task()
        return preview_prompt(task, value_text(self.splits["train"][0][task.input_field]))

    def summary(self) -> list[str]:
        """The figures in sentences, for the CLI and the page."""
        c = self.counts
        lines = [f"{c['read']:,} rows read; {c['kept']:,} kept "
                 f"({', '.join(f'{s} {len(r):,}' for s, r in self.splits.items())}; "
                 f"splits from the {'source' if self.split_origin == 'source' else 'seed'})"]
        skipped = {k: v for k, v in c.items() if k not in ("read", "kept") and v}
        if skipped:
            lines.append("removed: " + ", ".join(f"{v:,} {k.replace('_', ' ')}"
                                                 for k, v in skipped.items()))
        if self.label_counts:
            lines.append("labels: " + ", ".join(f"{k} {v:,}" for k, v in self.label_counts.items()))
        if self.lengths.get("count"):
            ln = self.lengths
            lines.append(f"input length ({ln['unit']}): median {ln['median']}, 95% at most "
                         f"{ln['p95']}, longest {ln['max']}")
        lines.append(f"fingerprint {self.fingerprint}")
        return lines


def preview_prompt(task: Task, text: str) -> str:
    """The exact prompt the model reads for ``text`` under ``task`` (zero-shot; structured for
    JSON tasks), built by core.prompting as the Playground and Compare pages build it."""
    recipe = PromptRecipe("structured" if task.kind == "json" else "zero-shot", task.instruction,
                          task.prompt_template, labels=task.labels, json_schema=task.schema)
    return build_prompt(recipe, text).text


def task_request(name: str, source: SourceData, /, **choices: Any) -> TaskRequest:
    """A request for ``source``: the user's ``choices`` (None: not given) over what a task
    folder's task.json says, so a folder or zip made by export is read back as it was."""
    given = {k: v for k, v in choices.items() if v is not None}
    base = source.task or {}
    known = {"kind": base.get("kind"), "input_column": base.get("input_field"),
             "label_column": base.get("label_field"), "instruction": base.get("instruction"),
             "template": base.get("template"), "labels": tuple(base.get("labels", ())) or None,
             "schema": base.get("schema"), "collection": base.get("collection"),
             "title": base.get("title"), "source": base.get("source")}
    merged = {k: v for k, v in known.items() if v is not None} | given
    for role in ("kind", "input_column", "label_column"):
        if role not in merged:
            raise ConfigError(f"No {role.replace('_', ' ')} is given for the new task.",
                              f"Give it (--{role.split('_')[0]}); the source's columns are: "
                              f"{', '.join(source.columns)}.")
    return TaskRequest(name=name, **merged)


# -- planning --------------------------------------------------------------------------------------


def _check_columns(request: TaskRequest, source: SourceData) -> None:
    columns = source.columns if len(source.rows) <= 1000 else \
        list(dict.fromkeys(k for row in source.rows for k in row))
    for role, column in (("input", request.input_column), ("label", request.label_column)):
        if column not in columns:
            raise DataFileError(f"{source.name} has no column {column!r} for the {role}.",
                                f"Its columns are: {', '.join(columns)}. Map the {role} to one "
                                "of them.")


def _check_collection(request: TaskRequest) -> None:
    """A question task's collection must exist (the sample's may still be unbuilt: it builds
    from its shipped files where it is first used)."""
    from core.knowledge import SAMPLE_COLLECTION, list_collections

    known = list_collections()
    if request.collection and request.collection not in (*known, SAMPLE_COLLECTION):
        raise ConfigError(f"There is no document collection named {request.collection!r}.",
                          "Build it on the Knowledge page first, or pick one of: "
                          f"{', '.join(sorted({*known, SAMPLE_COLLECTION}))}.")


def _answer(kind: str, value: Any) -> tuple[Any, str | None]:
    """The answer as the task keeps it, or (None, why it is skipped)."""
    if kind == "classification":
        return value_text(value).strip(), None
    if kind == "numeric":
        try:
            float(value_text(value).replace(",", "").strip())
        except ValueError:
            return None, "not_a_number"
        return value, None
    if kind == "json":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return None, "not_json"
        return (value, None) if isinstance(value, dict) else (None, "not_json")
    return value, None


def _clean(request: TaskRequest, rows: list[dict[str, Any]], counts: Counter) -> list[dict]:
    """Rows with both fields filled and a usable answer; the others counted by reason."""
    kept = []
    allowed = set(request.labels)
    for row in rows:
        text, label = row.get(request.input_column), row.get(request.label_column)
        if is_empty(text) or is_empty(label):
            counts[f"missing_{'input' if is_empty(text) else 'label'}"] += 1
            continue
        answer, why = _answer(request.kind, label)
        if why is None and allowed and answer not in allowed:
            why = "unknown_label"
        if why:
            counts[why] += 1
            continue
        kept.append({**row, request.input_column: value_text(text), request.label_column: answer})
    return kept


def _dedupe(request: TaskRequest, source: SourceData, counts: Counter) -> dict[str, list[dict]]:
    """Each split without duplicates; validation and test without rows already in train."""
    column, seen = request.input_column, {}
    cleaned = {s: _clean(request, rows, counts) for s, rows in source.splits.items()}
    out = {}
    for split in [s for s in ("all", *SPLITS) if s in cleaned]:
        rows = cleaned[split]
        if split in ("validation", "test"):
            rows, leaked = remove_seen(rows, column, seen)
            counts[f"{split}_rows_also_in_train"] += leaked
        rows, exact, normal = drop_duplicates(rows, column, seen)
        counts["exact_duplicates"] += exact
        counts["normalised_duplicates"] += normal
        out[split] = rows
    return out


def _labels(request: TaskRequest, rows: list[dict]) -> tuple[tuple[str, ...], dict[str, int]]:
    if request.kind != "classification":
        return (), {}
    counts = Counter(row[request.label_column] for row in rows)
    check_labels(counts, len(rows), request.label_column)
    labels = request.labels or tuple(sorted(counts))
    return labels, {label: counts.get(label, 0) for label in labels}


def _splits(request: TaskRequest, cleaned: dict[str, list[dict]]) -> tuple[dict, str]:
    label = (lambda row: row[request.label_column]) if request.kind == "classification" else None
    if "all" in cleaned:
        return stratified_split(cleaned["all"], label, request.test_size,
                                request.validation_size, request.seed), "stratified"
    splits = dict(cleaned)
    if "validation" not in splits and request.validation_size:  # carved from train
        part = stratified_split(splits["train"], label, request.validation_size, 0, request.seed)
        splits["train"], splits["validation"] = part["train"], part["test"]
    return {s: splits[s] for s in SPLITS if s in splits}, "source"


def _schema(request: TaskRequest, rows: list[dict]) -> str | None:
    """The json kind's schema: the one given, else one inferred from every answer."""
    if request.kind != "json":
        return None
    return request.schema or check_json_schema(infer_schema([r[request.label_column] for r in rows]))


def _passing(schema: str, rows: list[dict], column: str, counts: Counter) -> list[dict]:
    """The rows whose answer passes ``schema``; the others counted."""
    import jsonschema

    parsed = json.loads(schema)
    validator = jsonschema.validators.validator_for(parsed)(parsed)
    kept = [r for r in rows if validator.is_valid(r[column])]
    counts["answers_failing_the_schema"] += len(rows) - len(kept)
    return kept


def _settings(request: TaskRequest, labels: tuple[str, ...], schema: str | None) -> dict:
    kind = request.kind
    instruction = request.instruction or {
        "classification": f"Classify the input as one of: {', '.join(labels)}.",
        "json": "Extract the information from the input as JSON.",
        "numeric": "Answer with a single number.",
        "text": "Write the output for this input."}.get(kind, "Answer briefly.")
    settings = {"name": request.name, "title": request.title or request.name, "kind": kind,
                "input_field": request.input_column, "label_field": request.label_column,
                "instruction": instruction, "template": request.template,
                "source": request.source or "Made by you in PromptTune Lab."}
    if labels:
        settings["labels"] = list(labels)
    if request.collection:
        settings["collection"] = request.collection
    return settings


def plan_task(request: TaskRequest, source: SourceData,
              count_tokens: Callable[[str], int] | None = None) -> TaskDraft:
    """Clean, count and split ``source`` as ``request`` says; nothing is written."""
    check_task_name(request.name)
    _check_columns(request, source)
    _check_collection(request)
    counts: Counter = Counter(read=len(source.rows))
    cleaned = _dedupe(request, source, counts)
    schema = _schema(request, [row for rows in cleaned.values() for row in rows])
    if schema:
        cleaned = {s: _passing(schema, rows, request.label_column, counts)
                   for s, rows in cleaned.items()}
    every = [row for rows in cleaned.values() for row in rows]
    if len(every) < 3:
        raise ConfigError(f"{source.name} leaves {len(every)} usable rows once empty, duplicated "
                          "and unusable ones are removed; a task needs at least 3.",
                          "Check the columns chosen, or add examples.")
    labels, label_counts = _labels(request, every)
    splits, origin = _splits(request, cleaned)
    for split in ("train", "test"):
        if not splits.get(split):
            raise ConfigError(f"The {split} split is empty once duplicates and leaks are removed.",
                              "Add examples to it, or let the lab split the rows (one file).")
    settings = _settings(request, labels, schema)
    counts["kept"] = sum(len(r) for r in splits.values())
    fingerprint = content_fingerprint(settings, schema, splits)
    lengths = length_figures([r[request.input_column] for r in every], count_tokens)
    return TaskDraft(request, settings, schema, splits, dict(counts), label_counts, lengths,
                     fingerprint, origin)


# -- writing -----------------------------------------------------------------------------------------


def _write_folder(draft: TaskDraft, folder: Path) -> None:
    settings = dict(draft.settings)
    if draft.schema:
        settings["schema"] = "schema.json"
        (folder / "schema.json").write_text(json.dumps(json.loads(draft.schema), indent=2),
                                            encoding="utf-8")
    (folder / "task.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False),
                                      encoding="utf-8")
    for split, rows in draft.splits.items():
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(row_line(row) + "\n" for row in rows)
    (folder / "README.md").write_text(
        f"# {settings['title']}\n\nSource: {settings['source']}\n\n" +
        "\n".join(f"- {line}" for line in draft.summary()) + "\n", encoding="utf-8")


def create_task(draft: TaskDraft) -> Task:
    """Write ``draft`` as the user's task: staged, then renamed into place (all or nothing)."""
    name = check_task_name(draft.request.name)
    staging_root = user_tasks_dir() / STAGING
    staging = staging_root / f"{uuid.uuid4().hex}"
    try:
        staging.mkdir(parents=True)
        _write_folder(draft, staging)
        staging.rename(user_tasks_dir() / name)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise storage_error(exc, f"create the task {name!r}") from exc
    finally:
        remove_if_empty(staging_root)
        clear_caches()
    return load_task(name)


def _export_files(name: str) -> dict[str, bytes]:
    """The files of an exported task: task.json (splits in their usual places, schema.json),
    the split files and the README."""
    task, folder = load_task(name), task_folder(name)
    data = json.loads((folder / "task.json").read_text(encoding="utf-8"))
    data.pop("splits", None)
    files: dict[str, bytes] = {}
    if task.schema:
        data["schema"] = "schema.json"
        files["schema.json"] = task.schema.encode()
    files["task.json"] = json.dumps(data, indent=2, ensure_ascii=False).encode()
    for split in available_splits(name):
        files[f"{split}.jsonl"] = split_path(name, split).read_bytes()
    if (folder / "README.md").is_file():
        files["README.md"] = (folder / "README.md").read_bytes()
    return files


def export_task(name: str, dest: str | Path, zip: bool = False) -> Path:
    """Write task ``name`` to a new folder ``dest`` (or a zip holding the folder ``name``),
    for ``python -m core tasks create --from`` here or in another lab."""
    files = _export_files(name)
    dest = Path(dest).expanduser()
    if zip and dest.suffix.lower() != ".zip":
        dest = dest.with_name(dest.name + ".zip")
    if dest.exists():
        raise ConfigError(f"{dest} already exists.", "Give a new path, or remove that one first.")
    try:
        if zip:
            _write_zip(files, name, dest)
        else:
            dest.mkdir(parents=True)
            for file, data in files.items():
                (dest / file).write_bytes(data)
    except OSError as exc:
        raise storage_error(exc, f"export the task {name!r} to {dest}") from exc
    return dest


def _write_zip(files: dict[str, bytes], name: str, dest: Path) -> None:
    """The zip beside ``dest`` first, renamed to it once whole (a failure leaves no part)."""
    part = dest.with_name(dest.name + f".{uuid.uuid4().hex}.part")
    try:
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as archive:
            for file, data in files.items():
                archive.writestr(f"{name}/{file}", data)
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)
