"""Bad-input catalogue cases (issue 15, outside tester): uploads.

Registered into tests/test_bad_inputs.py's CASES with its @case decorator, and checked by its one
test with the same two assertions: the message names the problem and the fix, and the lab's data
is byte for byte what it was.
"""

from __future__ import annotations

from tests.test_bad_inputs import FIX, case, seen, upload  # noqa: F401
from tests.test_bad_inputs import FS, TRAIN  # noqa: E402

BIG_CELL = b'text,label\nGreat,POSITIVE\n"' + b"x" * (130 * 1024) + b'",NEGATIVE\n'
DEEP_JSON = b'[{"text": ' + b"[" * 200_000 + b"]" * 200_000 + b', "label": "A"}]'
HUGE_INT_JSONL = b'{"text": "Great", "label": "A"}\n{"text": ' + b"9" * 5000 + b', "label": "B"}\n'
WIDE_CSV = (",".join(f"c{i}" for i in range(1_000_000)) + "\nx" + ",x" * 999_999 + "\n").encode()
HOSTILE = {  # name: (file name, content, what the user must read)
    "cell-over-128kib": ("big.csv", BIG_CELL, ["big.csv: a cell in row 2 is over 128 KiB",
                                              "Shorten that cell"]),
    "json-nested-200000-deep": ("deep.json", DEEP_JSON, ["deep.json holds JSON nested more than",
                                                         "Flatten the examples"]),
    "jsonl-5000-digit-number": ("num.jsonl", HUGE_INT_JSONL,
                                ["num.jsonl, line 2 holds a number of more than 4,300 digits",
                                 "Put such long numbers in quotes"]),
    "csv-million-columns": ("wide.csv", WIDE_CSV, ["wide.csv has 1,000,000 columns; at most 200",
                                                   "Keep only the columns"]),
}
# a name with a NUL byte never reaches the lab from a page: Streamlit's uploader refuses it
# first; core.datafiles refuses it by name for other callers (tests/core/test_outside_tester_uploads)


def _train_upload(lab, name: str, data: bytes) -> str:
    at = lab.page(TRAIN)
    at.radio(key="train_source").set_value(at.radio(key="train_source").options[1]).run()
    return seen(upload(at, "train_upload", name, data))


def _register(kind: str, file: str, data: bytes, expected: list[str]) -> None:
    @case(f"upload-fewshot-{kind}")
    def _(lab):
        return seen(upload(lab.page(FS), "fs_upload", file, data)), expected

    @case(f"upload-train-{kind}")
    def _(lab):
        return _train_upload(lab, file, data), expected


for _kind, (_file, _data, _expected) in HOSTILE.items():
    _register(_kind, _file, _data, _expected)
