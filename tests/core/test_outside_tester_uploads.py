"""Issue 15, outside tester: uploaded example files, upload names and training config files.

Each of these ended in a raw exception (csv.Error, RecursionError, ValueError, OSError) or, for
the empty YAML config, in a full training run nobody asked for. Each must now be a LabError that
names the problem and the fix, and leave nothing behind.
"""

from __future__ import annotations

import json

import pytest

from core.datafiles import MAX_COLUMNS, MAX_DEPTH, DataFileError, read_examples
from core.errors import ConfigError, LabError

BIG_CELL = b"text,label\n" + b'"' + b"x" * (130 * 1024) + b'",POSITIVE\n'
DEEP = "[" * 200_000 + "]" * 200_000
HUGE_INT = "9" * 5000


@pytest.mark.parametrize("name, data, expected", [
    ("big.csv", BIG_CELL, ["a cell in row 1 is over 128 KiB", "Shorten"]),
    ("big.tsv", BIG_CELL.replace(b",", b"\t"), ["a cell in row 1 is over 128 KiB", "Shorten"]),
    ("deep.jsonl", ('{"text": "ok", "label": "A"}\n{"text": ' + DEEP + ', "label": "B"}\n')
     .encode(), ["line 2", f"nested more than {MAX_DEPTH} levels", "Flatten"]),
    ("deep.json", ('[{"text": ' + DEEP + ', "label": "B"}]').encode(),
     [f"nested more than {MAX_DEPTH} levels", "Flatten"]),
    ("shallow-but-deep.json", ('[{"text": ' + "[" * 300 + "]" * 300 + ', "label": "B"}]')
     .encode(), [f"nested more than {MAX_DEPTH} levels"]),
    ("int.jsonl", ('{"text": ' + HUGE_INT + ', "label": "A"}\n').encode(),
     ["line 1", "a number of more than", "digits", "quotes"]),
    ("int.json", ('[{"text": ' + HUGE_INT + ', "label": "A"}]').encode(),
     ["a number of more than", "digits", "quotes"]),
    ("wide.csv", (",".join(f"c{i}" for i in range(1_000_000)) + "\n" + "x," * 999_999 + "x\n")
     .encode(), ["has 1,000,000 columns", f"at most {MAX_COLUMNS}", "Keep only"]),
    ("wide.jsonl", (json.dumps({f"c{i}": i for i in range(5000)}) + "\n").encode(),
     ["has 5,000 columns", f"at most {MAX_COLUMNS}"]),
])
def test_a_hostile_example_file_is_a_named_error(name, data, expected):
    with pytest.raises(DataFileError) as caught:
        read_examples(data, name)
    said = f"{caught.value.problem} {caught.value.fix}"
    assert name in said
    for phrase in expected:
        assert phrase in said, said


def test_a_csv_error_other_than_size_is_named_too():
    # a NUL-free file whose quoting the csv module refuses in strict mode is fine; an unclosed
    # quote at the end of the file is read as one long cell, which the size check names
    data = b"text,label\n\"" + b"y" * (140 * 1024) + b"\n"
    with pytest.raises(DataFileError, match="over 128 KiB"):
        read_examples(data, "open.csv")


def test_ordinary_files_still_read():
    rows = read_examples(b"text,label\n" + b'"' + b"x" * 100_000 + b'",A\n', "ok.csv")
    assert len(rows[0]["text"]) == 100_000
    rows = read_examples(('[{"text": ' + "[" * 20 + "1" + "]" * 20 + ', "label": 123456}]')
                         .encode(), "ok.json")
    assert rows[0]["label"] == 123456


# -- the Train page's kept copy of an upload ---------------------------------------------------


def test_an_upload_with_a_300_character_name_is_kept_under_a_short_name(lab_home):
    from core.training_data import save_upload, shown_name

    name = "r" * 296 + ".csv"
    path = save_upload(b"text,label\nGreat,POSITIVE\n", name)
    assert path.is_file() and len(path.name.encode()) <= 255
    assert read_examples(path.read_bytes(), path.name)[0]["label"] == "POSITIVE"
    assert shown_name(path).startswith("The uploaded file rrrr")


def test_an_upload_with_multibyte_letters_is_kept_under_255_bytes(lab_home):
    from core.training_data import save_upload

    path = save_upload(b"text,label\nGreat,POSITIVE\n", "é" * 200 + ".jsonl".replace("jsonl", "csv"))
    assert path.is_file() and len(path.name.encode()) <= 255 and path.suffix == ".csv"


def test_an_upload_name_with_a_nul_byte_is_refused_by_name_and_nothing_is_kept(lab_home):
    from core.training_data import save_upload, uploads_dir

    with pytest.raises(DataFileError) as caught:
        save_upload(b"text,label\nGreat,POSITIVE\n", "rev\x00iews.csv")
    assert "control character" in caught.value.problem and caught.value.fix
    assert not any(uploads_dir().iterdir())


def test_a_full_disk_while_keeping_an_upload_is_a_lab_error_and_leaves_no_staging_file(
        lab_home, monkeypatch):
    import errno
    from pathlib import Path

    from core.training_data import save_upload, uploads_dir

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(LabError) as caught:
        save_upload(b"text,label\nGreat,POSITIVE\n", "reviews.csv")
    assert "disk is full" in caught.value.problem
    assert not any(uploads_dir().iterdir())


# -- training config files -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "null\n", "~\n", "{}\n"])
def test_an_empty_yaml_training_config_is_refused_like_an_empty_json_one(tmp_path, text):
    from core.train_config import load_config

    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "empty.yaml" in caught.value.problem and "no settings" in caught.value.problem
    assert caught.value.fix


@pytest.mark.parametrize("text, kind", [("- lora_r: 8\n", "list"), ("just words\n", "str"),
                                        ("42\n", "int")])
def test_a_yaml_training_config_that_is_not_a_mapping_is_refused(tmp_path, text, kind):
    from core.train_config import load_config

    path = tmp_path / "train.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "train.yml" in caught.value.problem and kind in caught.value.problem


def test_an_empty_json_training_config_is_still_refused(tmp_path):
    from core.train_config import load_config

    path = tmp_path / "empty.json"
    path.write_text("")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(path)


def test_a_deeply_nested_training_config_is_a_named_error(tmp_path):
    from core.train_config import load_config

    for suffix in ("json", "yaml"):
        path = tmp_path / f"deep.{suffix}"
        path.write_text('{"columns": ' + "[" * 100_000 + "]" * 100_000 + "}")
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert "deep" in caught.value.problem and caught.value.fix


def test_check_ready_names_a_missing_task_and_creates_nothing(lab_home):
    from core.train_config import TrainConfig
    from core.training_data import check_ready

    before = sorted(p.relative_to(lab_home) for p in lab_home.rglob("*"))
    with pytest.raises(ConfigError) as caught:
        check_ready(TrainConfig(task="no-such-task"))
    assert "no-such-task" in caught.value.problem and "review-sentiment" in caught.value.fix
    assert sorted(p.relative_to(lab_home) for p in lab_home.rglob("*")) == before


def test_check_ready_names_a_missing_data_file(tmp_path, lab_home):
    from core.train_config import TrainConfig
    from core.training_data import check_ready

    with pytest.raises(LabError, match="does not exist"):
        check_ready(TrainConfig(data_path=str(tmp_path / "nothing.csv")))
    check_ready(TrainConfig(task="review-sentiment"))  # a good config passes quietly
