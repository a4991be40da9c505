"""The user's own tasks (issue 16): one registry with the samples, made from the user's data.

Every test runs in its own PROMPTTUNE_HOME (conftest's autouse ``lab_home``).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.errors import ConfigError, LabError
from core.task_builder import TaskRequest, create_task, export_task, plan_task, task_request
from core.task_sources import read_source
from core.tasks import (TASKS_DIR, available_splits, check_task_name, delete_task, is_user_task,
                        list_tasks, load_split, load_task, rename_task, sample_tasks,
                        task_fingerprint, task_folder, task_title, user_tasks,
                        user_tasks_dir)

ROOT = Path(__file__).resolve().parents[2]
LABELS = ("billing", "delivery", "returns")


def ticket_rows(n: int = 60, seed: int = 1) -> list[dict]:
    """Support tickets of three labels (a task the repository does not ship)."""
    rng = random.Random(seed)
    words = {"billing": "charged twice invoice refund card", "delivery": "parcel late courier "
             "tracking box", "returns": "send back exchange wrong size label"}
    rows = []
    for i in range(n):
        label = LABELS[i % 3]
        text = " ".join(rng.choice(words[label].split()) for _ in range(6)) + f" (ticket {i})"
        rows.append({"text": text, "label": label, "agent": f"a{i % 4}"})
    return rows


def write_csv(path: Path, rows: list[dict]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def make(name: str, source, **choices) -> object:
    data = read_source(source)
    choices = {"kind": "classification", "input_column": "text", "label_column": "label",
               **choices}
    return create_task(plan_task(task_request(name, data, **choices), data))


def tree_hash(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_registry_lists_samples_first_then_the_users_and_sees_new_tasks_at_once(tmp_path):
    assert user_tasks() == [] and list_tasks() == sample_tasks()
    task = make("tickets", write_csv(tmp_path / "t.csv", ticket_rows()))
    assert task.origin == "yours" and task.labels == LABELS
    assert list_tasks() == sample_tasks() + ["tickets"] and is_user_task("tickets")
    assert not is_user_task("review-sentiment") and load_task("review-sentiment").origin == "sample"
    assert task_folder("tickets") == user_tasks_dir() / "tickets"
    assert task.fingerprint == task_fingerprint("tickets")
    assert sum(len(load_split("tickets", s)) for s in available_splits("tickets")) == 60
    make("another", write_csv(tmp_path / "u.csv", ticket_rows(seed=2)))
    assert user_tasks() == ["another", "tickets"]  # no restart, no cache to clear


def test_plan_writes_nothing_and_reports_what_it_removed(tmp_path, lab_home):
    rows = ticket_rows(30)
    rows += [dict(rows[0]), {**rows[1], "text": "  " + rows[1]["text"].upper() + " "},
             {"text": "", "label": "billing"}, {"text": "no label here", "label": " "}]
    before = tree_hash(lab_home)
    draft = plan_task(TaskRequest("t", "classification", "text", "label"),
                      read_source(write_csv(tmp_path / "t.csv", rows)))
    assert tree_hash(lab_home) == before and not (lab_home / "tasks").exists()
    assert draft.counts["exact_duplicates"] == 1 and draft.counts["normalised_duplicates"] == 1
    assert draft.counts["missing_input"] == 1 and draft.counts["missing_label"] == 1
    assert draft.counts["kept"] == 30 and draft.label_counts == {label: 10 for label in LABELS}
    assert {len(r) for r in draft.splits.values()} == {21, 3, 6}  # 0.7 / 0.1 / 0.2, stratified
    assert sorted(r["label"] for r in draft.splits["test"]) == sorted(LABELS * 2)
    assert draft.preview_prompt().endswith(f"Input: {draft.splits['train'][0]['text']}\nAnswer:")
    assert "billing, delivery, returns" in draft.preview_prompt()


def test_source_splits_are_kept_and_test_rows_leaking_from_train_removed(tmp_path):
    import datasets

    rows = ticket_rows(45)
    train, test = rows[:30], rows[30:] + [rows[0], rows[1]]  # two test rows are train rows
    datasets.DatasetDict({"train": datasets.Dataset.from_list(train),
                          "test": datasets.Dataset.from_list(test)}).save_to_disk(tmp_path / "ds")
    data = read_source(tmp_path / "ds")
    assert data.has_splits
    draft = plan_task(TaskRequest("t", "classification", "text", "label", validation_size=0),
                      data)
    assert draft.split_origin == "source" and draft.counts["test_rows_also_in_train"] == 2
    assert len(draft.splits["train"]) == 30 and len(draft.splits["test"]) == 15


@pytest.mark.parametrize("form", ["jsonl", "parquet", "saved-dataset"])
def test_a_task_is_made_from_every_kind_of_file(tmp_path, form):
    import datasets
    import pandas as pd

    rows = ticket_rows()
    if form == "jsonl":
        source = tmp_path / "t.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif form == "parquet":
        source = tmp_path / "t.parquet"
        pd.DataFrame(rows).to_parquet(source)
    else:
        source = tmp_path / "saved"
        datasets.Dataset.from_list(rows).save_to_disk(source)
    task = make("tickets", source)
    assert task.labels == LABELS and sum(len(load_split("tickets", s)) for s in
                                         ("train", "validation", "test")) == 60


def test_json_text_and_numeric_kinds(tmp_path):
    rows = [{"msg": f"Meet in city{i} at {i} pm", "out": {"city": f"city{i}", "hour": i}}
            for i in range(12)]
    task = make("events", _jsonl(tmp_path / "e.jsonl", rows), kind="json", input_column="msg",
                label_column="out")
    schema = json.loads(task.schema)
    assert schema["required"] == ["city", "hour"] and schema["properties"]["hour"] == {"type": "integer"}
    text = make("summaries", _jsonl(tmp_path / "s.jsonl", [{"q": f"q{i}", "a": f"answer {i}"}
                                                         for i in range(10)]),
                kind="text", input_column="q", label_column="a")
    assert text.kind == "text" and text.labels == ()
    numbers = [{"q": f"{i} + 1?", "a": str(i + 1)} for i in range(10)] + [{"q": "x?", "a": "ten"}]
    data = read_source(_jsonl(tmp_path / "n.jsonl", numbers))
    draft = plan_task(TaskRequest("sums", "numeric", "q", "a"), data)
    assert draft.counts["not_a_number"] == 1 and draft.counts["kept"] == 10


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("as_zip", [False, True])
def test_export_then_create_from_gives_the_same_fingerprint(tmp_path, as_zip):
    task = make("tickets", write_csv(tmp_path / "t.csv", ticket_rows()))
    out = export_task("tickets", tmp_path / "exported", zip=as_zip)
    assert out.exists() and (zipfile.is_zipfile(out) if as_zip else (out / "task.json").is_file())
    data = read_source(out)
    copy = create_task(plan_task(task_request("tickets-copy", data), data))
    assert copy.fingerprint == task.fingerprint and copy.labels == task.labels
    assert [len(load_split("tickets-copy", s)) for s in ("train", "validation", "test")] == \
        [len(load_split("tickets", s)) for s in ("train", "validation", "test")]


def test_a_shipped_task_exports_and_comes_back_identical_and_is_never_touched(tmp_path):
    before = tree_hash(TASKS_DIR)
    for name in ("review-sentiment", "event-extraction"):
        data = read_source(export_task(name, tmp_path / name))
        copy = create_task(plan_task(task_request(f"my-{name}", data), data))
        assert copy.fingerprint == task_fingerprint(name)
    with pytest.raises(ConfigError, match="sample task the lab ships"):
        rename_task("review-sentiment", "mine")
    with pytest.raises(ConfigError, match="sample task the lab ships"):
        delete_task("review-sentiment")
    with pytest.raises(ConfigError, match="name of a sample task"):
        check_task_name("review-sentiment")
    assert tree_hash(TASKS_DIR) == before


def test_rename_keeps_the_fingerprint_and_delete_removes_the_task(tmp_path):
    print_before = make("tickets", write_csv(tmp_path / "t.csv", ticket_rows())).fingerprint
    rename_task("tickets", "support tickets")
    assert user_tasks() == ["support tickets"] and load_task("support tickets").fingerprint == print_before
    assert json.loads((user_tasks_dir() / "support tickets" / "task.json").read_text())["name"] == \
        "support tickets"
    with pytest.raises(ConfigError, match="no sample task named 'tickets'"):
        load_task("tickets")
    delete_task("support tickets")
    assert user_tasks() == [] and list(user_tasks_dir().iterdir()) == []


def test_a_damaged_user_task_is_named_and_the_others_still_list(tmp_path):
    make("tickets", write_csv(tmp_path / "t.csv", ticket_rows()))
    broken = user_tasks_dir() / "broken"
    broken.mkdir()
    (broken / "task.json").write_text('{"kind": "classification", ', encoding="utf-8")
    escaping = user_tasks_dir() / "escaping"
    escaping.mkdir()
    (escaping / "task.json").write_text(json.dumps(
        {**json.loads((user_tasks_dir() / "tickets" / "task.json").read_text()),
         "splits": {"test": "../../../etc/passwd"}}), encoding="utf-8")
    assert list_tasks() == sample_tasks() + ["broken", "escaping", "tickets"]
    with pytest.raises(ConfigError, match="Your task 'broken' is damaged") as caught:
        load_task("broken")
    assert "tasks delete" in caught.value.fix
    with pytest.raises(ConfigError, match="outside the task's folder"):
        load_task("escaping")
    assert load_task("tickets").origin == "yours"
    assert task_title("broken").startswith("broken (yours, damaged")
    assert task_title("tickets") == "tickets (yours)"
    assert task_title("review-sentiment") == "Review sentiment (3 labels)"


def test_a_failed_creation_leaves_nothing(tmp_path, monkeypatch):
    from core import task_builder

    data = read_source(write_csv(tmp_path / "t.csv", ticket_rows()))
    draft = plan_task(TaskRequest("tickets", "classification", "text", "label"), data)

    def full_disk(draft, folder):
        (folder / "task.json").write_text("{}")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(task_builder, "_write_folder", full_disk)
    with pytest.raises(LabError, match="disk is full"):
        create_task(draft)
    assert list(user_tasks_dir().iterdir()) == [] and user_tasks() == []


def test_a_100000_row_csv_becomes_a_task(tmp_path):
    rows = [{"text": f"ticket number {i} about {LABELS[i % 3]}", "label": LABELS[i % 3]}
            for i in range(100_000)]
    task = make("big", write_csv(tmp_path / "big.csv", rows))
    assert [len(load_split("big", s)) for s in ("train", "validation", "test")] == \
        [70_000, 10_000, 20_000]
    assert task.labels == LABELS


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=os.environ.copy())


def test_cli_round_trip(tmp_path):
    source = write_csv(tmp_path / "t.csv", ticket_rows())
    dry = cli("tasks", "create", "tickets", "--from", str(source), "--kind", "classification",
              "--input", "text", "--label", "label", "--dry-run")
    assert dry.returncode == 0 and "nothing was written" in dry.stdout and user_tasks() == []
    made = cli("tasks", "create", "tickets", "--from", str(source), "--kind", "classification",
               "--input", "text", "--label", "label", "--template", "Ticket: {text}\nTeam:",
               "--test-size", "12", "--seed", "3")
    assert made.returncode == 0, made.stderr
    shown = json.loads(cli("tasks", "show", "tickets", "--json").stdout)
    assert shown["origin"] == "yours" and shown["splits"]["test"] == 12
    assert shown["preview_prompt"].endswith("\nTeam:") and shown["fingerprint"] in made.stdout
    assert cli("tasks", "export", "tickets", str(tmp_path / "t"), "--zip").returncode == 0
    again = cli("tasks", "create", "copy", "--from", str(tmp_path / "t.zip"))
    assert again.returncode == 0, again.stderr
    assert json.loads(cli("tasks", "show", "copy", "--json").stdout)["fingerprint"] == \
        shown["fingerprint"]
    assert cli("tasks", "rename", "copy", "copy2").returncode == 0
    assert cli("tasks", "delete", "copy2").returncode == 0
    listed = json.loads(cli("tasks", "list", "--json").stdout)
    assert [t["name"] for t in listed] == sample_tasks() + ["tickets"]
    refused = cli("tasks", "delete", "shop-math")
    assert refused.returncode == 2 and "error:" in refused.stderr and "fix:" in refused.stderr


def test_an_edited_task_json_shows_without_clearing_any_cache(tmp_path):
    before = make("tickets", write_csv(tmp_path / "t.csv", ticket_rows())).fingerprint
    path = user_tasks_dir() / "tickets" / "task.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "instruction": "Route the support ticket to a team."}))
    assert load_task("tickets").instruction == "Route the support ticket to a team."
    assert load_task("tickets").fingerprint != before  # the instruction is content
