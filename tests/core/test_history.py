"""History: every generation saved, kept across restarts, deletable and exportable."""

import csv
import io
import json

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
