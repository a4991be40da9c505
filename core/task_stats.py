"""The figures and clean-ups behind a new task: duplicates, leaks, labels, splits, lengths.

Pure functions over rows (dicts), fast enough for 100,000 rows: every row is looked at
once per step, with sets and dicts, never pairwise. ``core.task_builder`` calls them in
order and shows their counts to the user before anything is written.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from core.errors import ConfigError
from core.prompting import normal_text

MAX_LABELS = 50  # more than this is not a classification a few-shot prompt can show
FREE_TEXT_RATIO = 0.5  # distinct labels over rows above this: the column is text, not a class


def value_text(value: Any) -> str:
    """A cell as text: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def is_empty(value: Any) -> bool:
    """Whether a cell counts as missing: absent, None, NaN, or blank text."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    return isinstance(value, str) and not value.strip()


def drop_duplicates(rows: list[dict[str, Any]], column: str,
                    seen: dict[str, int] | None = None) -> tuple[list[dict], int, int]:
    """Rows whose ``column`` text was not seen before: (kept, exact duplicates, duplicates
    only once case and spacing are ignored). ``seen`` (normal text -> 1) carries over between
    calls, so a later split can be checked against an earlier one."""
    seen = {} if seen is None else seen
    exact_seen: set[str] = set()
    kept, exact, normal = [], 0, 0
    for row in rows:
        text = value_text(row[column])
        key = normal_text(text)
        if key in seen:
            if text in exact_seen:
                exact += 1
            else:
                normal += 1
            continue
        seen[key] = 1
        exact_seen.add(text)
        kept.append(row)
    return kept, exact, normal


def remove_seen(rows: list[dict[str, Any]], column: str, seen: dict[str, int]) -> tuple[list[dict], int]:
    """Rows whose ``column`` (normalised) is not in ``seen``, and how many were removed."""
    kept = [row for row in rows if normal_text(value_text(row[column])) not in seen]
    return kept, len(rows) - len(kept)


def check_labels(counts: Counter, rows: int, column: str) -> None:
    """Refuse a label column a classification cannot use: one label, or too many (most often
    a free-text column picked by mistake)."""
    if len(counts) < 2:
        only = next(iter(counts), "")
        raise ConfigError(f"The label column {column!r} holds one label only ({only!r}): there "
                          "is nothing to classify.",
                          "Pick the column that holds the classes, or add examples of the other "
                          "labels.")
    if len(counts) > 20 and len(counts) > FREE_TEXT_RATIO * rows:
        raise ConfigError(f"The label column {column!r} has {len(counts):,} different values in "
                          f"{rows:,} rows: it looks like a free-text column, not labels.",
                          "Pick the column that holds the classes, or choose the kind 'text' "
                          "(free text with reference outputs).")
    if len(counts) > MAX_LABELS:
        raise ConfigError(f"The label column {column!r} has {len(counts):,} different labels; a "
                          f"classification task has at most {MAX_LABELS}.",
                          "Merge rare labels into fewer classes, or choose the kind 'text'.")


def _size(size: float, total: int, what: str) -> int:
    """A split size given as a fraction (0 < size < 1) or a count (a whole number)."""
    count = round(size * total) if 0 < size < 1 else int(size)
    if count < 0 or count >= total:
        raise ConfigError(f"The {what} size {size:g} does not fit {total:,} rows.",
                          f"Use a fraction between 0 and 1 (e.g. 0.2) or a count below {total:,}.")
    return count


def stratified_split(rows: list[dict[str, Any]], group: Callable[[dict], str] | None,
                     test_size: float, validation_size: float,
                     seed: int) -> dict[str, list[dict[str, Any]]]:
    """Train, validation and test rows, each with about the same share of every group (label):
    rows are shuffled within their group with ``seed`` and ordered by their relative rank in
    it, so the first N rows hold every group in proportion."""
    total = len(rows)
    n_test = _size(test_size, total, "test")
    n_val = _size(validation_size, total, "validation")
    if total - n_test - n_val < 1 or n_test < 1:
        raise ConfigError(f"{total:,} rows cannot give a test split of {n_test} and a "
                          f"validation split of {n_val} with rows left to train on.",
                          "Lower the test and validation sizes, or add rows.")
    rng = random.Random(seed)
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(group(row) if group else "", []).append(index)
    ranked = []
    for members in groups.values():
        rng.shuffle(members)
        ranked.extend(((i + rng.random()) / len(members), index)
                      for i, index in enumerate(members))
    order = [index for _, index in sorted(ranked)]
    test, val = sorted(order[:n_test]), sorted(order[n_test:n_test + n_val])
    train = sorted(order[n_test + n_val:])
    return {"train": [rows[i] for i in train], "validation": [rows[i] for i in val],
            "test": [rows[i] for i in test]}


def length_figures(texts: list[str], count: Callable[[str], int] | None = None,
                   bins: int = 10) -> dict[str, Any]:
    """Lengths of ``texts`` (whitespace words, or ``count``'s tokens): min, median, 95th
    percentile, max and a histogram of ``bins`` equal-width bins."""
    counter = count or (lambda text: len(text.split()))
    lengths = sorted(counter(t) for t in texts)
    if not lengths:
        return {"unit": "words" if count is None else "tokens", "count": 0}
    top = lengths[-1]
    width = max(1, -(-(top + 1) // bins))
    histogram = Counter(n // width for n in lengths)
    return {"unit": "words" if count is None else "tokens", "count": len(lengths),
            "min": lengths[0], "median": lengths[len(lengths) // 2],
            "p95": lengths[min(len(lengths) - 1, int(0.95 * len(lengths)))], "max": top,
            "histogram": [{"from": b * width, "to": (b + 1) * width - 1, "rows": histogram[b]}
                          for b in range(-(-(top + 1) // width))]}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object",
            type(None): "null"}.get(type(value), "string")


def infer_schema(values: list[Any]) -> dict[str, Any]:
    """A JSON Schema that the answers ``values`` (JSON objects) all pass: each key's observed
    types, and the keys every answer has as required."""
    objects = [v for v in values if isinstance(v, dict)]
    if not objects:
        raise ConfigError("The answers of this JSON task are not JSON objects.",
                          'Each answer must be an object such as {"city": "Derby"}; or choose '
                          "the kind 'text'.")
    types: dict[str, set[str]] = {}
    for obj in objects:
        for key, value in obj.items():
            types.setdefault(key, set()).add(_type_of(value))
    props = {}
    for key, found in types.items():
        if found == {"integer", "number"} or found == {"integer", "number", "null"}:
            found = found - {"integer"}
        props[key] = {"type": sorted(found)[0] if len(found) == 1 else sorted(found)}
    required = [k for k in types if all(k in obj for obj in objects)]
    return {"type": "object", "properties": props, "required": required}
