"""Training data: reading, mapping, templating, splitting and tokenizing examples.

``prepare_data(config, tokenizer)`` turns a ``TrainConfig``'s data (a task, sample or the
user's, or a CSV/TSV/JSONL/JSON file in one of ``FORMATS``) into tokenized examples with the
loss on the completion only; ``preview_data`` shows the same examples and their
token lengths before a run; ``check_ready`` checks a config's data before a run is made.
The formats' vocabulary (``FORMATS``, ``DEFAULT_COLUMNS``, ``DEFAULT_TEMPLATES``) lives in
``core.train_config``, the layer below, and is re-exported here.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ConfigError, LabError
# FORMATS, DEFAULT_COLUMNS and DEFAULT_TEMPLATES are re-exported: pages read them from here
from core.train_config import (DEFAULT_COLUMNS, DEFAULT_TEMPLATES, FORMATS,  # noqa: F401
                               TrainConfig, _template_names)


def input_variable(template: str, input_column: str) -> str:
    """The name a template gives the example's input: ``input`` (what every page writes), or
    the input column's own name (``{text}``), which older configs and runs use."""
    names = _template_names(template)
    return input_column if input_column in names and "input" not in names else "input"


def guess_columns(data_format: str, columns: list[str]) -> dict[str, str]:
    """The column for each role of ``data_format`` where the file has one by name (the
    format's default name, else the role's own), so a page shows what the data will use."""
    guessed = {}
    for role, default in DEFAULT_COLUMNS[data_format].items():
        found = next((c for c in (default, role) if c in columns), None)
        if found:
            guessed[role] = found
    return guessed


@dataclass(frozen=True)
class PromptFormat:
    """How a prompt is built for the tuned model: saved as ``template.json`` beside it."""

    data_format: str
    template: str
    input_variable: str | None
    labels: tuple[str, ...] = ()
    completion_prefix: str = " "
    instruction: str = ""

    def render(self, row: dict[str, str]) -> str:
        values = {**row, "input": row.get(self.input_variable or "input", row.get("input", ""))}
        return self.template.format(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["eos_appended"] = True
        return data


@dataclass
class TrainingData:
    """Tokenized examples: (input_ids, labels) pairs, and what was cut to fit."""

    train: list[dict[str, list[int]]]
    validation: list[dict[str, list[int]]]
    prompt_format: PromptFormat
    eval_rows: list[tuple[str, str]]  # (prompt, answer) for accuracy by label scoring
    cut: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def train_tokens(self) -> int:
        return sum(len(e["input_ids"]) for e in self.train)


def _read_rows(config: TrainConfig) -> tuple[list[dict], list[dict] | None, PromptFormat]:
    """Training rows, validation rows (None: split off a fraction) and the prompt format."""
    from core.datafiles import DataFileError, read_examples

    columns = {**DEFAULT_COLUMNS[config.data_format], **config.columns}
    if config.task is not None:
        from core.tasks import load_split, load_task

        task = load_task(config.task)
        columns = {"input": task.input_field, "label": task.label_field, **config.columns}
        # {input}, as every page writes it; a saved config's {text} (the column) still works
        template = config.template or task.prompt_template
        fmt = PromptFormat("text-label", template, input_variable(template, columns["input"]),
                           task.labels if task.kind == "classification" else ())
        val = load_split(task.name, config.validation_split) if config.validation_split else None
        return _mapped(load_split(task.name, "train"), columns), \
            (_mapped(val, columns) if val is not None else None), fmt
    path = Path(config.data_path).expanduser()
    if not path.is_file():
        raise DataFileError(f"The training data file {path} does not exist.",
                            "Check the path (relative paths start at the folder you ran from).")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"Could not read the training data file {path}: "
                            f"{exc.strerror or exc}.",
                            "Check that the file is readable, or upload it again.") from None
    rows = _mapped(read_examples(data, path.name), columns, shown_name(path))
    template = config.template if config.template is not None \
        else DEFAULT_TEMPLATES[config.data_format]
    labels: tuple[str, ...] = ()
    if config.data_format == "text-label":
        distinct = sorted({r["label"] for r in rows})
        labels = tuple(distinct) if len(distinct) <= 10 else ()
    variable = input_variable(template, columns["input"]) if "input" in columns else None
    return rows, None, PromptFormat(config.data_format, template, variable, labels)


def check_ready(config: TrainConfig) -> None:
    """Check, before anything is created, that a run of ``config`` can read its data: the
    task (sample or the user's) and its splits exist, or the data file exists, reads as
    examples and has the mapped columns. Raises the ConfigError or DataFileError a run would
    end in; writes nothing."""
    _read_rows(config)


def _mapped(rows: list[dict], columns: dict[str, str], name: str = "the data") -> list[dict]:
    """Rows renamed to the format's roles; a missing column is a DataFileError naming it."""
    from core.datafiles import DataFileError, columns_of

    if not rows:
        raise DataFileError(f"{name} holds no examples.", "Add training examples.")
    available = columns_of(rows)
    for role, column in columns.items():
        if column not in available and not (role == "input" and "instruction" in columns):
            raise DataFileError(f"{name} has no column {column!r} (used as {role}).",
                                f"Its columns are: {', '.join(available)}. Map {role} to one of "
                                "them in columns.")
    out = []
    for row in rows:
        mapped = {role: row.get(column, "") for role, column in columns.items()}
        mapped.update({column: row.get(column, "") for column in columns.values()})
        out.append(mapped)
    return out


def _pair(row: dict, fmt: PromptFormat, tokenizer, number: int) -> tuple[str, str]:
    """(prompt text, completion text) of one example."""
    from core.datafiles import DataFileError

    if fmt.data_format == "chat":
        from core.chat import Message, chat_prompt

        messages = row["messages"]
        if isinstance(messages, str):
            messages = json.loads(messages)
        if not isinstance(messages, list) or not messages or \
                not isinstance(messages[-1], dict) or messages[-1].get("role") != "assistant":
            raise DataFileError(f"Example {number}: messages must be a list of "
                                "{role, content} ending with an assistant message.",
                                "Give each conversation the answer to learn as its last turn.")
        prompt = chat_prompt(tokenizer, [Message(m["role"], m["content"]) for m in messages[:-1]])
        prefix = "" if getattr(tokenizer, "chat_template", None) else " "
        return prompt, prefix + messages[-1]["content"]
    answer_role = {"text-label": "label", "prompt-completion": "completion",
                   "instruction": "output"}[fmt.data_format]
    values = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
              for k, v in row.items()}
    if not values.get(answer_role, "").strip():
        raise DataFileError(f"Example {number} has an empty {answer_role}.",
                            "Fill it in or remove the example.")
    template = fmt.template
    if fmt.data_format == "instruction" and not values.get("input", "").strip():
        template = "\n".join(line for line in template.split("\n") if "{input}" not in line)
    try:
        prompt = template.format(**values) if fmt.data_format != "text-label" else \
            template.format(**{**values, fmt.input_variable or "input": values["input"],
                               "input": values["input"]})
    except KeyError as exc:
        raise ConfigError(f"The training template uses {{{exc.args[0]}}}, which the data "
                          "does not have.",
                          f"Use the variables of the data: {', '.join(sorted(values))}.") from None
    prefix = "" if fmt.data_format == "prompt-completion" else fmt.completion_prefix
    return prompt, prefix + values[answer_role].strip()


def _tokenize(pairs, tokenizer, max_length: int) -> tuple[list[dict], int]:
    """input_ids and labels (-100 on the prompt) per example; count examples cut to fit."""
    examples, cut = [], 0
    eos = tokenizer.eos_token_id
    for prompt, completion in pairs:
        p = tokenizer(prompt)["input_ids"]
        c = tokenizer(completion, add_special_tokens=False)["input_ids"] + [eos]
        if len(p) + len(c) > max_length:
            cut += 1
            c = c[:max_length // 2] if len(c) > max_length // 2 else c
            p = p[:1] + p[len(p) - (max_length - len(c) - 1):]  # keep BOS, cut the start
        examples.append({"input_ids": p + c, "labels": [-100] * len(p) + c})
    return examples, cut


def split_rows(config: TrainConfig) -> tuple[list[dict], list[dict], PromptFormat]:
    """(train, validation) rows a run of ``config`` uses, after the split and the caps, and
    the prompt format: what training reads, and what ``core.task_versions`` records of it."""
    rows, val_rows, fmt = _read_rows(config)
    if val_rows is None:
        rows = list(rows)
        random.Random(config.seed).shuffle(rows)
        n_val = int(round(len(rows) * config.validation_fraction))
        val_rows, rows = rows[:n_val], rows[n_val:]
    rows = rows[:config.max_train_examples] if config.max_train_examples else rows
    val_rows = val_rows[:config.max_eval_examples] if config.max_eval_examples else val_rows
    if not rows:
        raise LabError("No training examples are left after the validation split.",
                       "Add examples or lower validation_fraction.")
    return rows, val_rows, fmt


def split_pairs(config: TrainConfig, tokenizer) -> tuple[list[tuple[str, str]],
                                                        list[tuple[str, str]], PromptFormat]:
    """(train, validation) (prompt, completion) pairs after the split, and the prompt format."""
    rows, val_rows, fmt = split_rows(config)
    train_pairs = [_pair(r, fmt, tokenizer, i) for i, r in enumerate(rows, 1)]
    val_pairs = [_pair(r, fmt, tokenizer, i) for i, r in enumerate(val_rows, 1)]
    return train_pairs, val_pairs, fmt


def prepare_data(config: TrainConfig, tokenizer) -> TrainingData:
    """Read, split and tokenize the training data; LabErrors say what to fix."""
    train_pairs, val_pairs, fmt = split_pairs(config, tokenizer)
    train, cut = _tokenize(train_pairs, tokenizer, config.max_length)
    validation, val_cut = _tokenize(val_pairs, tokenizer, config.max_length)
    data = TrainingData(train, validation, fmt,
                        [(p, c.strip()) for p, c in val_pairs], cut + val_cut)
    if data.cut:
        data.warnings.append(f"{data.cut} example(s) were longer than max_length="
                             f"{config.max_length} tokens and were cut (the prompt's start). "
                             "Raise max_length to keep them whole.")
    return data




# -- before a run: preview, uploads, Hub datasets ----------------------------------------


@dataclass
class DataPreview:
    """What the launcher shows before a start: examples as the model reads them, their lengths."""

    rows: list[dict[str, Any]]  # prompt, completion, tokens (whole, before any cut)
    train_lengths: list[int]
    validation_count: int
    max_length: int
    prompt_format: PromptFormat

    @property
    def cut(self) -> int:
        """Training examples the max length would cut."""
        return sum(n > self.max_length for n in self.train_lengths)


def preview_data(config: TrainConfig, tokenizer, rows: int = 8) -> DataPreview:
    """The first ``rows`` training examples and every training example's token length."""
    train_pairs, val_pairs, fmt = split_pairs(config, tokenizer)
    lengths = [len(tokenizer(p)["input_ids"]) + len(tokenizer(c, add_special_tokens=False)
                                                     ["input_ids"]) + 1 for p, c in train_pairs]
    shown = [{"prompt": p, "completion": c, "tokens": n}
             for (p, c), n in zip(train_pairs[:rows], lengths)]
    return DataPreview(shown, lengths, len(val_pairs), config.max_length, fmt)


def uploads_dir(create: bool = True) -> Path:
    """Where the Train page keeps uploads (``create``: make the folder if it is not there)."""
    from core.paths import data_dir

    path = data_dir() / "training-data"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def save_upload(data: bytes, name: str) -> Path:
    """Check an uploaded example file and keep it in the lab's data folder (runs read it
    from there, in their own process); returns its path. The content names the copy."""
    import hashlib

    from core.datafiles import read_examples
    from core.paths import write_bytes

    read_examples(data, name)  # a DataFileError names what is wrong, before anything is kept
    path = uploads_dir() / f"{hashlib.sha256(data).hexdigest()[:10]}-{_kept_name(name)}"
    if not path.exists():
        write_bytes(path, data, f"keep a copy of the uploaded file {name}")
    return path


KEPT_NAME_BYTES = 120  # of the 255 a file name may have: room for the hash and the
#                        staging suffix of core.paths' atomic write


def _kept_name(name: str) -> str:
    """The upload's name as a safe file name of at most KEPT_NAME_BYTES bytes, its suffix
    kept (a 300-character name would be too long for the file system)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(name).name)
    stem, dot, suffix = safe.rpartition(".")
    stem, suffix = (stem, dot + suffix) if stem else (safe, "")
    room = KEPT_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:room].decode(errors="ignore")
    return stem + suffix


def shown_name(path: Path) -> str:
    """The name a user knows a data file by: an upload's own name, not its stored copy's."""
    import re

    if path.parent.resolve() == uploads_dir(create=False).resolve():
        match = re.fullmatch(r"[0-9a-f]{10}-(.+)", path.name)
        if match:
            return f"The uploaded file {match.group(1)}"
    return str(path)


def fetch_hub_dataset(name: str, split: str = "train", limit: int = 5000) -> Path:
    """A ``datasets`` Hub dataset's split (first ``limit`` rows) saved as JSONL for training."""
    from core.datafiles import DataFileError

    name, split = name.strip(), split.strip() or "train"
    if not name:
        raise DataFileError("The dataset name is empty.", "Give a Hub name such as 'imdb'.")
    try:
        import datasets

        rows = datasets.load_dataset(name, split=f"{split}[:{limit}]")
    except Exception as exc:  # datasets raises many types: connection, missing, bad split
        from core.models import hub_reachable

        if not hub_reachable():
            raise DataFileError(
                f"Could not load the dataset {name!r}: the Hugging Face Hub cannot be reached "
                "from here and the dataset is not in the local datasets cache.",
                "Upload the examples as a CSV or JSONL file instead, or fetch the dataset once "
                "on a machine with a network connection.") from None
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataFileError(f"Could not load the dataset {name!r} (split {split!r}): {detail}",
                            "Check the name and the split on huggingface.co/datasets.") from None
    text = "\n".join(json.dumps(row, ensure_ascii=False, default=str) for row in rows)
    safe = name.replace("/", "__")
    return save_upload(text.encode("utf-8"), f"{safe}-{split}.jsonl")
