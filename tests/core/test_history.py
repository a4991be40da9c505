"""History: every generation saved, kept across restarts, deletable and exportable."""

import csv
import io
import json

import pytest

from core.config import GenerationParams
from core.generation import Completion
from core.history import (count_generations, delete_generation, export_history, get_generation,
                          list_generations, record_generation)


def _completion(text="answer"):
    return Completion(text, 5, 3, 0.5, "length", "transformers", "embedded:gemma-3-270m", 0.1)


def test_a_generation_is_saved_with_everything_needed_to_redo_it(lab_home):
    params = GenerationParams(max_new_tokens=3, temperature=0.5, stop=("\n",), seed=3)
    entry_id = record_generation("The prompt", params, _completion())
    entry = get_generation(entry_id)
    assert entry.prompt == "The prompt" and entry.output == "answer"
    assert entry.generation_params == params
    assert (entry.prompt_tokens, entry.completion_tokens, entry.finish_reason) == (5, 3, "length")
    assert entry.tokens_per_s == 6.0
    assert (lab_home / "lab.db").exists()


def test_history_survives_a_restart(lab_home):
    record_generation("p1", GenerationParams(), _completion("a1"))
    # a new process opens the same file: nothing is held in memory between calls
    import importlib

    import core.history

    importlib.reload(core.history)
    assert [e.output for e in core.history.list_generations()] == ["a1"]


def test_newest_first_search_and_delete():
    ids = [record_generation(f"prompt {i}", GenerationParams(), _completion(f"out {i}"))
           for i in range(3)]
    assert [e.id for e in list_generations()] == ids[::-1]
    assert [e.id for e in list_generations(search="out 1")] == [ids[1]]
    assert delete_generation(ids[1]) and not delete_generation(ids[1])
    assert count_generations() == 2 and get_generation(ids[1]) is None


def test_export_json_and_csv():
    record_generation("p, with comma", GenerationParams(stop=("END",)), _completion('say "hi"'))
    entries = list_generations()
    records = json.loads(export_history(entries, "json"))
    assert records[0]["prompt"] == "p, with comma" and records[0]["params"]["stop"] == ["END"]
    rows = list(csv.DictReader(io.StringIO(export_history(entries, "csv"))))
    assert rows[0]["output"] == 'say "hi"' and json.loads(rows[0]["params"])["stop"] == ["END"]


def test_search_takes_percent_and_underscore_literally():
    ids = [record_generation(p, GenerationParams(), _completion(o)) for p, o in
           [("100% sure", "yes"), ("100 sure", "no"), ("snake_case name", "a"),
            ("snakeXcase name", "b"), ("back\\slash", "c")]]
    assert [e.id for e in list_generations(search="100%")] == [ids[0]]
    assert [e.id for e in list_generations(search="snake_case")] == [ids[2]]
    assert [e.id for e in list_generations(search="back\\s")] == [ids[4]]
    assert [e.id for e in list_generations(search="SNAKE_")] == [ids[2]]  # any case, as before


def _full_disk_connect(real_connect):
    """A connection to the real database that may not grow by a single page, as on a full disk."""
    def connect(path=None):
        conn = real_connect(path)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count={pages}")
        return conn
    return connect


def test_a_full_disk_gives_a_lab_error_with_a_fix(monkeypatch):
    import core.history
    from core.errors import LabError

    record_generation("p", GenerationParams(), _completion())  # creates the tables
    monkeypatch.setattr(core.history, "_connect", _full_disk_connect(core.history._connect))
    with pytest.raises(LabError) as info:
        record_generation("p", GenerationParams(), _completion("x" * 100_000))
    assert "Could not save the answer in the history database" in info.value.problem
    assert "Free some disk space" in info.value.fix


def test_an_unopenable_database_gives_a_lab_error(lab_home):
    from core.errors import LabError

    (lab_home / "lab.db").mkdir(parents=True)  # a folder where the database file should be
    with pytest.raises(LabError) as info:
        record_generation("p", GenerationParams(), _completion())
    assert "history database" in info.value.problem and str(lab_home / "lab.db") in info.value.fix
    with pytest.raises(LabError, match="Could not read"):
        list_generations()


def test_an_unseeded_sample_is_saved_with_the_seed_it_drew():
    params = GenerationParams(temperature=0.8, seed=None)
    drawn = Completion("answer", 5, 3, 0.5, "length", "llama.cpp", "m", 0.1, seed=123456)
    entry = get_generation(record_generation("p", params, drawn))
    assert entry.generation_params.seed == 123456
