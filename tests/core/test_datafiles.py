"""Uploaded example files: read what is readable, explain what is not."""

from __future__ import annotations

import pytest

from core.datafiles import DataFileError, map_columns, read_examples


def test_csv_jsonl_json_and_tsv_are_read():
    assert read_examples(b"text,label\nhi,POSITIVE\n", "a.csv") == [{"text": "hi", "label": "POSITIVE"}]
    assert read_examples(b'{"t": "hi", "l": 1}\n\n{"t": "yo", "l": 2}\n', "a.jsonl")[1] == {"t": "yo", "l": 2}
    assert read_examples(b'[{"t": "hi"}]', "a.json") == [{"t": "hi"}]
    assert read_examples(b"t\tl\nhi\tx\n", "a.tsv") == [{"t": "hi", "l": "x"}]
    assert read_examples("text,label\ncafé,ok\n".encode("utf-8-sig"), "b.csv")[0]["text"] == "café"


@pytest.mark.parametrize("data, name, message", [
    (b"", "e.csv", "is empty"),
    (b"   \n", "e.jsonl", "is empty"),
    (b"\x00\x01\x02binary", "b.csv", "looks binary"),
    ("text,label\ncaf\u00e9,x\n".encode("latin-1"), "l.csv", "not UTF-8"),
    (b'{"a": 1}\n{"a": 2\n', "t.jsonl", "line 2 is not valid JSON"),
    (b'[1, 2]\n', "t.jsonl", "line 1 is a JSON list"),
    (b"text,label\n", "h.csv", "no examples"),
    (b",label\nx,y\n", "h.csv", "column without a name"),
    (b"a,b\n1,2,3\n", "x.csv", "more fields than the header"),
    (b"text", "notes.txt", "reads .csv"),
    (b'{"a": 1', "x.json", "not valid JSON"),
])
def test_bad_files_are_explained(data, name, message):
    with pytest.raises(DataFileError, match=message):
        read_examples(data, name)


def test_column_mapping_names_the_missing_column_and_what_exists():
    rows = [{"review": "nice", "stars": "5"}]
    assert map_columns(rows, "review", "stars") == [{"input": "nice", "label": "5"}]
    with pytest.raises(DataFileError, match=r"no column 'text' for the input.*review, stars"):
        map_columns(rows, "text", "stars", "my.csv")
    with pytest.raises(DataFileError, match="example 1 has an empty"):
        map_columns([{"review": "", "stars": "5"}], "review", "stars")
