"""Reading the user's example files (CSV, JSONL, JSON) with messages a person can act on.

Uploads arrive as bytes with a file name. Everything that can be wrong with
them (empty, binary, not UTF-8, a broken JSONL line, no header, too big) is a
``DataFileError`` naming the file, the line and the fix. ``map_columns`` then
picks the input and label columns the user chose.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

from core.errors import LabError

MAX_BYTES = 50 * 2**20
MAX_ROWS = 100_000
MAX_COLUMNS = 200  # more would make every column picker a list nobody can read
MAX_DEPTH = 64  # JSON values nested deeper are no examples (and would exhaust the stack)
CELL_KIB = csv.field_size_limit() // 1024  # the csv module's own limit: 128 KiB
FORMATS = (".csv", ".jsonl", ".json", ".tsv")


class DataFileError(LabError):
    """An example file the lab cannot read."""


def _decode(data: bytes, name: str) -> str:
    if not data.strip():
        raise DataFileError(f"{name} is empty.", "Choose a file that holds examples.")
    if len(data) > MAX_BYTES:
        raise DataFileError(f"{name} is {len(data) / 2**20:.0f} MB; the lab reads up to "
                            f"{MAX_BYTES // 2**20} MB of examples.",
                            "Split the file or keep a sample of it.")
    if b"\x00" in data[:8192]:
        raise DataFileError(f"{name} looks binary (it contains NUL bytes), not text.",
                            "Export the examples as CSV or JSON Lines (UTF-8 text).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataFileError(f"{name} is not UTF-8 text (byte {exc.start}, line {line}).",
                            "Save the file as UTF-8 (in a spreadsheet: 'CSV UTF-8').") from None


def _too_deep(where: str) -> DataFileError:
    return DataFileError(f"{where} holds JSON nested more than {MAX_DEPTH} levels deep.",
                         "Flatten the examples: each one an object of text (or number) values.")


def _load_json(text: str, where: str) -> Any:
    """json.loads, with the two failures it has besides bad syntax named for a person: a value
    nested too deep to read (RecursionError) and a number too long to read (ValueError)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(where) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # Python's limit on the digits of an int read from text
        if "digits" not in str(exc):
            raise
        raise DataFileError(f"{where} holds a number of more than "
                            f"{sys.get_int_max_str_digits():,} digits.",
                            "Put such long numbers in quotes (as text), or shorten them.") from None
    _check_depth(value, where)
    return value


def _check_depth(value: Any, where: str) -> None:
    """Refuse values nested deeper than MAX_DEPTH (walked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(where)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _rows_from_jsonl(text: str, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = _load_json(line, f"{name}, line {number}")
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{name}, line {number} is not valid JSON: {exc.msg} "
                                f"(column {exc.colno}).",
                                "Each line of a .jsonl file must be one JSON object; fix or "
                                "remove that line.") from None
        if not isinstance(row, dict):
            raise DataFileError(f"{name}, line {number} is a JSON {type(row).__name__}, not "
                                "an object.", 'Write each example as {"column": value, ...}.')
        rows.append(row)
    return rows


def _rows_from_json(text: str, name: str) -> list[dict[str, Any]]:
    try:
        data = _load_json(text, name)
    except json.JSONDecodeError as exc:
        if "\n{" in text:
            return _rows_from_jsonl(text, name)
        raise DataFileError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}.",
                            "Fix the JSON, or save one object per line as .jsonl.") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataFileError(f"{name} must hold a JSON list of objects.",
                            'Write [{"text": ..., "label": ...}, ...] or use JSON Lines.')
    return data


def _rows_from_csv(text: str, name: str, delimiter: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows: list[dict[str, Any]] = []
    header = False  # read (a failed read of the header must not read the next line instead)
    try:
        if not reader.fieldnames or any(not (h or "").strip() for h in reader.fieldnames):
            raise DataFileError(f"{name} has no header row, or a column without a name.",
                                "Put the column names on the first line, e.g. text,label.")
        header = True
        _check_width(len(reader.fieldnames), name)
        for row in reader:
            if None in row:
                raise DataFileError(f"{name}, line {reader.line_num} has more fields than the "
                                    "header.", "Quote fields that contain the delimiter.")
            rows.append({k.strip(): v for k, v in row.items()})
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            where = f"row {len(rows) + 1}" if header else "the header row"
            raise DataFileError(f"{name}: a cell in {where} is over {CELL_KIB} KiB (perhaps a "
                                "quote that is never closed).",
                                f"Shorten that cell to under {CELL_KIB} KiB, or close its "
                                "quote.") from None
        raise DataFileError(f"{name}, line {reader.line_num} cannot be read as "
                            f"{'TSV' if delimiter == chr(9) else 'CSV'}: {exc}.",
                            "Export the file again from the spreadsheet as CSV UTF-8.") from None
    return rows


def _check_width(count: int, name: str) -> None:
    if count > MAX_COLUMNS:
        raise DataFileError(f"{name} has {count:,} columns; at most {MAX_COLUMNS} are read.",
                            "Keep only the columns the examples need (e.g. text and label).")


def read_examples(data: bytes, name: str) -> list[dict[str, Any]]:
    """Rows of an uploaded CSV/TSV/JSONL/JSON file as dicts; DataFileError says what is wrong."""
    if any(not ch.isprintable() for ch in name):
        raise DataFileError(f"The file name {name!r} contains a control character (such as a "
                            "NUL byte or a line break).",
                            "Rename the file with letters, digits, spaces and punctuation only, "
                            "then upload it again.")
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in FORMATS:
        raise DataFileError(f"{name}: the lab reads {', '.join(FORMATS)} files.",
                            "Export the examples in one of those formats.")
    text = _decode(data, name)
    if suffix == ".jsonl":
        rows = _rows_from_jsonl(text, name)
    elif suffix == ".json":
        rows = _rows_from_json(text, name)
    else:
        rows = _rows_from_csv(text, name, "\t" if suffix == ".tsv" else ",")
    if not rows:
        raise DataFileError(f"{name} holds a header but no examples.", "Add example rows.")
    if len(rows) > MAX_ROWS:
        raise DataFileError(f"{name} has {len(rows):,} rows; the lab reads up to {MAX_ROWS:,}.",
                            "Keep a sample of the file.")
    _check_width(len(columns_of(rows)), name)
    return rows


def columns_of(rows: list[dict[str, Any]]) -> list[str]:
    """Every column name that occurs, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def map_columns(rows: list[dict[str, Any]], input_column: str, label_column: str,
                name: str = "the file") -> list[dict[str, str]]:
    """``{"input", "label"}`` pairs from the chosen columns; rows missing either are an error."""
    available = columns_of(rows)
    for role, column in (("input", input_column), ("label", label_column)):
        if column not in available:
            raise DataFileError(f"{name} has no column {column!r} for the {role}.",
                                f"Its columns are: {', '.join(available)}. Map the {role} to "
                                "one of them.")
    pairs = []
    for number, row in enumerate(rows, 1):
        text, label = row.get(input_column), row.get(label_column)
        if text in (None, "") or label in (None, ""):
            raise DataFileError(f"{name}, example {number} has an empty {input_column!r} or "
                                f"{label_column!r}.", "Fill in or remove that example.")
        pairs.append({"input": _as_text(text), "label": _as_text(label)})
    return pairs
