"""Bad-input catalogue cases (issue 16): making, exporting, renaming and deleting tasks.

Registered into tests/test_bad_inputs.py's CASES with its @case decorator, and checked by its one
test with the same two assertions: the message names the problem and the fix, and the lab's data
is byte for byte what it was (no task folder, no staging folder left behind).
"""

from __future__ import annotations

import json
import os
import zipfile

from tests.test_bad_inputs import FIX, case

GOOD = "".join(f"ticket {i} about {lab},{lab}\n" for i, lab in
               zip(range(30), ["billing", "delivery", "returns"] * 10))


def _create(lab, source: str, *extra: str, name: str = "tickets") -> str:
    return lab.cli("tasks", "create", name, "--from", source, *extra)


def _csv(lab, body: str, header: str = "text,label", name: str = "t.csv") -> str:
    return lab.file(name, f"{header}\n{body}")


def _classify(lab, source: str, *extra: str, name: str = "tickets") -> str:
    return _create(lab, source, "--kind", "classification", "--input", "text", "--label", "label",
                   *extra, name=name)


def _task_folder(lab, task: dict, files: dict[str, str]) -> str:
    folder = lab.tmp / "a-task"
    folder.mkdir()
    (folder / "task.json").write_text(json.dumps(task), encoding="utf-8")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return str(folder)


TASK_JSON = {"name": "x", "title": "x", "kind": "classification", "input_field": "text",
             "label_field": "label", "labels": ["billing", "delivery", "returns"],
             "instruction": "Route the ticket.", "template": "Ticket: {text}\nTeam:", "source": "t"}


def _jsonl(text: str) -> str:
    return "".join(json.dumps({"text": line.rsplit(",", 1)[0], "label": line.rsplit(",", 1)[1]}) +
                   "\n" for line in text.splitlines())


# -- the data ---------------------------------------------------------------------------------------


@case("tasks-empty-file")
def _(lab):
    return _classify(lab, lab.file("t.csv", b"")), ["t.csv is empty", *FIX]


@case("tasks-one-label")
def _(lab):
    return _classify(lab, _csv(lab, "".join(f"ticket {i},billing\n" for i in range(20)))), \
        ["holds one label only ('billing')", "nothing to classify", "fix: Pick the column"]


@case("tasks-hundreds-of-labels")
def _(lab):
    body = "".join(f"ticket {i},team{i % 300}\n" for i in range(1200))
    return _classify(lab, _csv(lab, body)), ["has 300 different labels", "at most 50",
                                             "fix: Merge rare labels"]


@case("tasks-free-text-as-label")
def _(lab):
    body = "".join(f"ticket {i},the parcel {i} came late and wet\n" for i in range(100))
    return _classify(lab, _csv(lab, body)), ["looks like a free-text column",
                                             "choose the kind 'text'"]


@case("tasks-missing-column")
def _(lab):
    return _create(lab, _csv(lab, GOOD), "--kind", "classification", "--input", "review",
                   "--label", "label"), ["has no column 'review' for the input",
                                         "Its columns are: text, label"]


@case("tasks-not-utf8")
def _(lab):
    data = ("text,label\n" + GOOD.replace("ticket 3", "crème brûlée")).encode("latin-1")
    return _classify(lab, lab.file("t.csv", data)), ["t.csv is not UTF-8", "fix: Save the file"]


@case("tasks-only-duplicated-rows")
def _(lab):
    body = "Parcel late,delivery\nparcel   LATE,delivery\nCharged twice,billing\n" * 40
    return _classify(lab, _csv(lab, body)), ["leaves 2 usable rows", "at least 3",
                                             "fix: Check the columns"]


@case("tasks-test-rows-all-in-train")
def _(lab):
    rows = _jsonl(GOOD)
    folder = _task_folder(lab, TASK_JSON, {"train.jsonl": rows, "test.jsonl": rows})
    return _create(lab, folder), ["test split is empty once duplicates and leaks are removed",
                                  *FIX]


@case("tasks-file-over-upload-limit")
def _(lab):
    row = b"a long but otherwise fine ticket about a parcel,delivery\n"
    return _classify(lab, lab.file("huge.csv", b"text,label\n" + row * (51 * 2**20 // len(row)
                                                                        + 1))), \
        ["huge.csv is 51 MB", "up to 50 MB", "fix: Split the file"]


@case("tasks-unknown-format")
def _(lab):
    return _classify(lab, lab.file("tickets.xlsx", b"PK\x03\x04")), \
        ["the lab makes tasks from", "fix: Export the examples"]


@case("tasks-path-does-not-exist")
def _(lab):
    return _classify(lab, str(lab.tmp / "no-such.csv")), ["no-such.csv does not exist",
                                                          "fix: Check the path"]


@case("tasks-folder-neither-task-nor-dataset")
def _(lab):
    return _classify(lab, str(lab.seed["empty_dir"])), ["neither a task folder", "save_to_disk",
                                                        *FIX]


@case("tasks-parquet-damaged")
def _(lab):
    return _classify(lab, lab.file("t.parquet", b"PAR1 not really parquet PAR1")), \
        ["cannot be read as Parquet", "fix: Write it again"]


# -- the choices --------------------------------------------------------------------------------------


@case("tasks-no-kind-given")
def _(lab):
    return _create(lab, _csv(lab, GOOD), "--input", "text", "--label", "label"), \
        ["No kind is given", "fix: Give it (--kind)"]


@case("tasks-input-is-the-label")
def _(lab):
    return _create(lab, _csv(lab, GOOD), "--kind", "classification", "--input", "label",
                   "--label", "label"), ["the same column", "fix: Pick a different column"]


@case("tasks-template-without-input")
def _(lab):
    return _classify(lab, _csv(lab, GOOD), "--template", "Ticket:\nTeam:"), \
        ["The template has no {input}", "fix: Put {input}"]


@case("tasks-labels-repeat")
def _(lab):
    return _classify(lab, _csv(lab, GOOD), "--labels", "billing,billing"), \
        ["labels repeat", "fix: List each label once"]


@case("tasks-test-size-too-big")
def _(lab):
    return _classify(lab, _csv(lab, GOOD), "--test-size", "500"), \
        ["test size 500 does not fit 30 rows", "fix: Use a fraction"]


@case("tasks-invalid-json-schema")
def _(lab):
    schema = lab.file("schema.json", '{"type": "object", "properties": {"city": {"type": 5}}}')
    data = lab.file("e.jsonl", "".join(json.dumps({"text": f"m{i}", "out": {"city": "x"}}) + "\n"
                                       for i in range(10)))
    return _create(lab, data, "--kind", "json", "--input", "text", "--label", "out", "--schema",
                   schema), ["not a valid JSON Schema at properties/city/type",
                             "fix: Correct the schema"]


@case("tasks-json-answers-not-objects")
def _(lab):
    return _create(lab, _csv(lab, GOOD), "--kind", "json", "--input", "text", "--label", "label"), \
        ["answers of this JSON task are not JSON objects", "choose the kind 'text'"]


# -- names -------------------------------------------------------------------------------------------


@case("tasks-name-path-separator")
def _(lab):
    return _classify(lab, _csv(lab, GOOD), name="../escaped"), \
        ["contains a path separator or '..'", "fix: Use 1-64 letters"]


@case("tasks-name-absolute-path")
def _(lab):
    return _classify(lab, _csv(lab, GOOD), name="/tmp/escaped"), ["path separator", *FIX]


@case("tasks-name-of-a-shipped-task")
def _(lab):
    return _classify(lab, _csv(lab, GOOD), name="review-sentiment"), \
        ["is the name of a sample task", "fix: Choose another name"]


@case("tasks-name-staging-folder")
def _(lab):
    return _classify(lab, _csv(lab, GOOD), name=".staging"), ["starts with a dot", *FIX]


@case("tasks-name-too-long")
def _(lab):
    return _classify(lab, _csv(lab, GOOD), name="t" * 300), ["has 300 characters; at most 64",
                                                           *FIX]


@case("tasks-name-control-character")
def _(lab):
    return _classify(lab, _csv(lab, GOOD), name="tick\x1bets"), ["control character", *FIX]


@case("tasks-rename-shipped-task")
def _(lab):
    return lab.cli("tasks", "rename", "shop-math", "mine"), \
        ["'shop-math' is a sample task the lab ships; it cannot be renamed", "fix: Export it"]


@case("tasks-delete-shipped-task")
def _(lab):
    return lab.cli("tasks", "delete", "review-sentiment"), ["cannot be deleted", *FIX]


@case("tasks-delete-unknown-task")
def _(lab):
    return lab.cli("tasks", "delete", "no-such-task"), ["no sample task named 'no-such-task'",
                                                        "fix: Pick one of:"]


@case("tasks-export-over-existing-folder")
def _(lab):
    return lab.cli("tasks", "export", "review-sentiment", str(lab.seed["empty_dir"])), \
        ["already exists", "fix: Give a new path"]


# -- zips, folders and the Hub ---------------------------------------------------------------------------


def _zip(lab, entries: dict[str, bytes]) -> str:
    path = lab.tmp / "task.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return str(path)


@case("tasks-zip-slip")
def _(lab):
    source = _zip(lab, {"t/task.json": json.dumps(TASK_JSON).encode(),
                        "../../outside/train.jsonl": _jsonl(GOOD).encode()})
    shown = _create(lab, source)
    assert not (lab.tmp.parent / "outside").exists()
    return shown, ["would be unpacked outside the task folder", *FIX]


@case("tasks-zip-bomb")
def _(lab):
    source = _zip(lab, {"t/task.json": json.dumps(TASK_JSON).encode(),
                        "t/train.jsonl": b"\0" * (40 * 2**20)})
    return _create(lab, source), ["would unpack to 40.0 MB", "zip bomb", *FIX]


@case("tasks-task-folder-points-outside")
def _(lab):
    folder = _task_folder(lab, {**TASK_JSON, "splits": {"train": "../../../etc/passwd"}},
                          {"test.jsonl": _jsonl(GOOD)})
    return _create(lab, folder), ["points at '../../../etc/passwd', outside the task folder",
                                  "fix: Copy that file"]


@case("tasks-hub-unreachable")
def _(lab):
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        return _classify(lab, "hub:someone/support-tickets"), \
            ["'someone/support-tickets' is not in the local cache and the Hub cannot be reached",
             "fix: Connect to the internet", "save_to_disk"]
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE")
        else:
            os.environ["HF_HUB_OFFLINE"] = old


@case("tasks-hub-name-malformed")
def _(lab):
    return _classify(lab, "hub:../../etc"), ["is not a Hub data set name", "fix: Write hub:OWNER"]


@case("tasks-qa-unknown-collection")
def _(lab):
    body = "".join(f"What is {i}?,{i}\n" for i in range(30))
    source = _csv(lab, body, header="question,answer")
    said = _create(lab, source, "--kind", "qa", "--input", "question", "--label", "answer",
                   "--collection", "no-such-notes")
    return said, ["There is no document collection named 'no-such-notes'", *FIX]
