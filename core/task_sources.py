"""Reading where a new task's examples come from, into rows and columns.

A source is a CSV/TSV/JSONL/JSON file (read by ``core.datafiles``, with its limits and
messages), a Parquet file, a folder saved by ``datasets``' ``save_to_disk``, a task folder
(``task.json`` and split files, as ``python -m core tasks export`` writes), a .zip of one,
or ``hub:NAME`` for a data set on the Hugging Face Hub where the Hub can be reached.
Everything that can be wrong is a ``DataFileError`` or ``ConfigError`` naming the source
and the fix; nothing here writes into the lab's data folder.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.datafiles import (CELL_KIB, FORMATS, MAX_BYTES, MAX_COLUMNS, MAX_ROWS, DataFileError,
                            _check_depth, columns_of, read_examples)
from core.errors import ConfigError
from core.tasks import SPLITS

HUB_PREFIX = "hub:"
HUB_NAME = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
# split names data sets use, as the lab's three splits
SPLIT_NAMES = {"train": "train", "training": "train", "validation": "validation",
               "valid": "validation", "val": "validation", "dev": "validation", "test": "test",
               "testing": "test"}
ZIP_MAX_RATIO = 100  # a zip that unpacks to over 100 times its size is refused as a bomb
ZIP_MAX_FILES = 64


@dataclass
class SourceData:
    """Rows read from a source: per split when the source has splits, else all under "all"."""

    name: str  # the source as the user named it, for messages
    splits: dict[str, list[dict[str, Any]]]
    task: dict[str, Any] | None = None  # a task folder's task.json (schema as text)
    notes: list[str] = field(default_factory=list)

    @property
    def has_splits(self) -> bool:
        """Whether the source brings its own train and test splits."""
        return "train" in self.splits and "test" in self.splits

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every row, split after split."""
        return [row for rows in self.splits.values() for row in rows]

    @property
    def columns(self) -> list[str]:
        """Every column that occurs, in first-seen order."""
        return columns_of(self.rows[:1000]) if len(self.rows) > 1000 else columns_of(self.rows)


def read_source(source: str | Path, config: str | None = None,
                split: str | None = None) -> SourceData:
    """The rows of ``source``: a file, a folder, a .zip, or ``hub:NAME`` (with the data set's
    ``config`` and ``split`` where it has them)."""
    text = str(source)
    if text.startswith(HUB_PREFIX):
        return read_hub(text[len(HUB_PREFIX):], config, split)
    path = Path(text).expanduser()
    if not path.exists():
        raise ConfigError(f"{text} does not exist.",
                          "Check the path (relative paths start at the folder you ran from), or "
                          "write hub:NAME for a data set on the Hugging Face Hub.")
    if path.is_dir():
        if (path / "task.json").is_file():
            return read_task_folder(path, text)
        return read_saved_dataset(path, text)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return read_task_zip(path)
    if suffix == ".parquet":
        return read_parquet(path)
    if suffix in FORMATS:
        return SourceData(text, {"all": read_examples(_file_bytes(path), path.name)})
    raise DataFileError(f"{path.name}: the lab makes tasks from {', '.join(FORMATS)}, .parquet "
                        "and .zip files, task folders and save_to_disk folders.",
                        "Export the examples in one of those formats.")


def _file_bytes(path: Path) -> bytes:
    """The file's bytes, refused by its size before it is read (a 5 GB file stays on disk)."""
    _check_size(path)
    return path.read_bytes()


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise DataFileError(f"{path.name} is {size / 2**20:.0f} MB; the lab reads up to "
                            f"{MAX_BYTES // 2**20} MB of examples.",
                            "Split the file or keep a sample of it.")


def check_rows(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The limits ``core.datafiles`` applies to a text file, for rows read otherwise: rows,
    columns, nesting depth and the size of one cell."""
    if not rows:
        raise DataFileError(f"{name} holds no examples.", "Choose a source that holds rows.")
    if len(rows) > MAX_ROWS:
        raise DataFileError(f"{name} has {len(rows):,} rows; the lab reads up to {MAX_ROWS:,}.",
                            "Keep a sample of it.")
    columns = columns_of(rows)
    if len(columns) > MAX_COLUMNS:
        raise DataFileError(f"{name} has {len(columns):,} columns; at most {MAX_COLUMNS} are read.",
                            "Keep only the columns the examples need (e.g. text and label).")
    for number, row in enumerate(rows, 1):
        for value in row.values():
            if isinstance(value, str) and len(value) > CELL_KIB * 1024:
                raise DataFileError(f"{name}: a cell in row {number} is over {CELL_KIB} KiB.",
                                    f"Shorten that cell to under {CELL_KIB} KiB.")
            if isinstance(value, (dict, list)):
                _check_depth(value, f"{name}, row {number}")
    return rows


def read_parquet(path: Path) -> SourceData:
    """A Parquet file's rows (through pyarrow, which ``datasets`` installs)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataFileError("Reading Parquet needs pyarrow, which is not installed.",
                            "pip install pyarrow (it comes with datasets).") from None
    _check_size(path)
    try:
        meta = pq.ParquetFile(path).metadata
        if meta.num_rows > MAX_ROWS:
            raise DataFileError(f"{path.name} has {meta.num_rows:,} rows; the lab reads up to "
                                f"{MAX_ROWS:,}.", "Keep a sample of it.")
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataFileError(f"{path.name} cannot be read as Parquet: {exc}.",
                            "Write it again with pandas' to_parquet or pyarrow.") from None
    return SourceData(str(path), {"all": check_rows(rows, path.name)})


def _as_splits(dataset: Any, name: str) -> dict[str, list[dict[str, Any]]]:
    """A ``datasets`` Dataset ({"all": rows}) or DatasetDict (its splits, named as ours)."""
    if not hasattr(dataset, "keys"):
        return {"all": check_rows(_rows_of(dataset, name), name)}
    splits: dict[str, list[dict[str, Any]]] = {}
    for key in dataset.keys():
        ours = SPLIT_NAMES.get(key.lower())
        if ours is None or ours in splits:
            raise DataFileError(f"{name} has a split {key!r} the lab cannot place.",
                                f"Name its splits {', '.join(SPLITS)} (or keep only one and let "
                                "the lab split it).")
        splits[ours] = check_rows(_rows_of(dataset[key], f"{name} ({key})"), f"{name} ({key})")
    if len(splits) == 1:
        return {"all": next(iter(splits.values()))}
    if sum(len(r) for r in splits.values()) > MAX_ROWS:
        raise DataFileError(f"{name} has more than {MAX_ROWS:,} rows in all.", "Keep a sample.")
    return splits


def _rows_of(dataset: Any, name: str) -> list[dict[str, Any]]:
    if dataset.num_rows > MAX_ROWS:
        raise DataFileError(f"{name} has {dataset.num_rows:,} rows; the lab reads up to "
                            f"{MAX_ROWS:,}.", "Keep a sample of it (dataset.select(range(n))).")
    return dataset.to_list()


def read_saved_dataset(path: Path, name: str) -> SourceData:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    markers = ("dataset_info.json", "state.json", "dataset_dict.json")
    if not any((path / m).is_file() for m in markers) and not any(
            (sub / "state.json").is_file() for sub in path.iterdir() if sub.is_dir()):
        raise DataFileError(f"{name} is a folder, but neither a task folder (no task.json) nor "
                            "a data set saved with save_to_disk.",
                            "Point at a task folder, a save_to_disk folder, or a data file.")
    import datasets

    try:
        return SourceData(name, _as_splits(datasets.load_from_disk(str(path)), name))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataFileError(f"{name} cannot be read as a saved data set: {exc}.",
                            "Save it again with dataset.save_to_disk(folder).") from None


# -- task folders and zips of them -----------------------------------------------------------------


def read_task_folder(path: Path, name: str) -> SourceData:
    """A task folder: its task.json (schema file read in) and its split files."""
    try:
        task = json.loads((path / "task.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(f"{name}/task.json cannot be read: {exc}.",
                            "Fix task.json, or make the task from its data files instead.") \
            from None
    if not isinstance(task, dict):
        raise DataFileError(f"{name}/task.json is not a JSON object.", "Fix task.json.")
    files = task.pop("splits", None) or {}
    if task.get("schema"):
        task["schema"] = _inside(path, task["schema"], name).read_text(encoding="utf-8")
    splits = {}
    for split in SPLITS:
        file = _inside(path, files.get(split, f"{split}.jsonl"), name)
        if file.is_file():
            splits[split] = read_examples(_file_bytes(file), file.name)
    if not splits:
        raise DataFileError(f"{name} has no split files ({', '.join(f'{s}.jsonl' for s in SPLITS)}).",
                            "Put the examples in train.jsonl and test.jsonl beside task.json.")
    if "train" not in splits or "test" not in splits:
        splits = {"all": [row for rows in splits.values() for row in rows]}
    return SourceData(name, splits, task)


def _inside(folder: Path, file: Any, name: str) -> Path:
    path = folder / str(file)
    if not path.resolve().is_relative_to(folder.resolve()):
        raise DataFileError(f"{name}/task.json points at {file!r}, outside the task folder.",
                            "Copy that file into the task folder and name it there.")
    return path


def check_zip(path: Path) -> list[zipfile.ZipInfo]:
    """The zip's entries, refused before anything is unpacked when one would land outside the
    folder (absolute, '..', a link) or when they add up to far more than the zip (a bomb)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFileError(f"{path.name} is not a readable zip file ({exc}).",
                            "Make the zip again (python -m core tasks export NAME --zip).") from None
    with archive:
        entries = archive.infolist()
    for info in entries:
        parts = Path(info.filename.replace("\\", "/")).parts
        link = (info.external_attr >> 16) & 0o170000 == 0o120000
        if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename or link:
            raise DataFileError(f"{path.name} holds {info.filename!r}, which would be unpacked "
                                "outside the task folder.",
                                "Use a zip of one task folder, made by python -m core tasks "
                                "export NAME --zip.")
    total = sum(info.file_size for info in entries)
    if len(entries) > ZIP_MAX_FILES or total > MAX_BYTES * 3 or \
            total > ZIP_MAX_RATIO * max(path.stat().st_size, 1):
        raise DataFileError(f"{path.name} would unpack to {total / 2**20:,.1f} MB in "
                            f"{len(entries)} files from {path.stat().st_size:,} bytes: far more "
                            "than a task holds (a zip bomb?).",
                            "Use a zip of one task folder, made by python -m core tasks export.")
    return entries


def read_task_zip(path: Path) -> SourceData:
    """A .zip of a task folder (the folder itself, or its files at the top)."""
    entries = check_zip(path)
    with tempfile.TemporaryDirectory(prefix="prompttune-task-") as tmp:
        with zipfile.ZipFile(path) as archive:
            for info in entries:
                target = Path(tmp) / info.filename
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                # read at most the size the directory declared: a lying directory stops here
                with archive.open(info) as src:
                    data = src.read(info.file_size + 1)
                if len(data) > info.file_size:
                    raise DataFileError(f"{path.name}: {info.filename} is larger than its zip "
                                        "entry says.", "Make the zip again.")
                target.write_bytes(data)
        found = [p.parent for p in Path(tmp).rglob("task.json")]
        if len(found) != 1:
            raise DataFileError(f"{path.name} holds {len(found)} task.json files; a task zip "
                                "holds one task folder.",
                                "Zip one folder made by python -m core tasks export.")
        source = read_task_folder(found[0], path.name)
    return SourceData(str(path), source.splits, source.task, source.notes)


# -- the Hugging Face Hub ------------------------------------------------------------------------


def _hub_unreachable(name: str, why: str) -> ConfigError:
    return ConfigError(f"The data set {name!r} is not in the local cache and the Hub cannot be "
                       f"reached ({why}).",
                       "Connect to the internet and unset HF_HUB_OFFLINE, or download the data "
                       "set elsewhere, save it with save_to_disk (or as Parquet) and give that "
                       "folder or file.")


def _hub_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get("HF_DATASETS_OFFLINE", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether huggingface.co answers on its port within ``timeout`` (seconds), so an
    unreachable Hub fails in seconds instead of after the library's retries."""
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def read_hub(name: str, config: str | None = None, split: str | None = None) -> SourceData:
    """A data set on the Hugging Face Hub (or in the local ``datasets`` cache when offline)."""
    if not HUB_NAME.match(name or ""):
        raise ConfigError(f"{name!r} is not a Hub data set name.",
                          "Write hub:OWNER/NAME, e.g. hub:stanfordnlp/imdb.")
    import datasets

    offline = _hub_offline()
    if not offline and not _hub_reachable():
        raise _hub_unreachable(name, "no connection to huggingface.co")
    try:
        data = datasets.load_dataset(name, config, split=split)
    except ConnectionError as exc:
        raise _hub_unreachable(name, "HF_HUB_OFFLINE is set" if offline else str(exc)) from None
    except (FileNotFoundError, OSError, ValueError) as exc:
        if offline:
            raise _hub_unreachable(name, "HF_HUB_OFFLINE is set") from None
        raise ConfigError(f"The Hub data set {name!r} cannot be loaded: {exc}",
                          "Check its name, config and split on huggingface.co.") from None
    return SourceData(f"{HUB_PREFIX}{name}", _as_splits(data, f"{HUB_PREFIX}{name}"))
