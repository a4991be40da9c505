"""A comparison's results read back typed (``core.results``): every results.json the lab has
written (the 2026-12-01 lab's and a fresh one) reads into ``Results`` and gives the same dict
back; a figure a file does not hold reads None; a file that holds no results is a named error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import compare_runs
from core.compare import CompareConfig, evaluate
from core.results import Interval, Results, ResultsError, SetupResult
from core.setups import ModelChoice, PromptChoice, Setup

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lab_2026_12_01" / "comparisons"
OLD = sorted(FIXTURES.glob("*/results.json"))


def test_the_old_lab_has_results_to_read():
    assert OLD, f"no results.json under {FIXTURES}"


@pytest.mark.parametrize("path", OLD, ids=lambda p: p.parent.name)
def test_every_old_results_file_reads_typed_and_back_to_the_same_dict(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    results = Results.from_dict(json.loads(path.read_text(encoding="utf-8")))
    assert results.to_dict() == data
    assert results.id == data["id"] and results.task.name == data["task"]["name"]
    assert results.task.labels == tuple(data["task"]["labels"])
    assert results.config is not None and results.config.task == results.task.name
    assert [row.name for row in results.rows] == [v["name"] for v in data["variants"]]
    for row, raw in zip(results.rows, data["variants"]):
        for name, figure in raw["metrics"].items():
            assert row.metrics[name] == Interval(figure["value"], figure["low"], figure["high"])
        assert row.prompt_tokens_mean == raw["prompt_tokens_mean"]
    # written before setups: no setup, parts or calibration, and no KeyError for them
    first = results.rows[0]
    assert (first.setup, first.parts, first.description, first.calibrated) == (None, None, None, None)
    assert len(results.examples) == len(data["examples"])


def test_the_old_lab_comparison_loads_typed_by_its_id(lab_home):
    import shutil

    shutil.copytree(FIXTURES.parent, lab_home, dirs_exist_ok=True)
    finished = OLD[0].parent.name
    results = compare_runs.load_comparison(finished)
    assert results.id == finished and results.rows
    assert compare_runs.load_results(finished) == results.to_dict()


def test_a_missing_field_reads_none_not_a_key_error():
    results = Results.from_dict({"variants": [{"name": "zero-shot"}]})
    row = results.rows[0]
    assert (row.kind, row.engine, row.error, row.tokens_per_s, row.metric("accuracy")) == \
        (None, None, None, None, None)
    assert row.metrics == {} and not row.failed
    assert (results.id, results.created_at, results.config, results.warnings) == (None, None, None, ())
    assert results.task.name == "?" and results.task.version is None


def test_a_figure_of_the_wrong_type_reads_none():
    row = SetupResult.from_dict({"name": "x", "tokens_per_s": "fast", "calibrated": "yes",
                                 "metrics": {"accuracy": {"value": True, "low": 0.1}}}, "test")
    assert row.tokens_per_s is None and row.calibrated is None
    assert row.metrics["accuracy"] == Interval(None, 0.1, None)


@pytest.mark.parametrize("data, said", [
    ([1, 2], "not a JSON object"),
    ({"variants": {"name": "zero-shot"}}, "no list of setups"),
    ({"config": {}}, "no list of setups"),
    ({"variants": ["zero-shot"]}, "no setup name"),
])
def test_a_damaged_results_file_is_a_named_error(data, said):
    with pytest.raises(ResultsError, match=said) as caught:
        Results.from_dict(data)
    assert caught.value.fix and "Run the comparison again" in caught.value.fix


def test_a_damaged_results_file_of_a_comparison_names_its_folder(lab_home):
    import shutil

    shutil.copytree(FIXTURES.parent, lab_home, dirs_exist_ok=True)
    finished = OLD[0].parent.name
    (lab_home / "comparisons" / finished / "results.json").write_text('{"variants": 3}')
    with pytest.raises(ResultsError, match=f"Comparison {finished} is damaged") as caught:
        compare_runs.load_comparison(finished)
    assert str(lab_home / "comparisons" / finished) in caught.value.problem
    assert "Delete the folder" in caught.value.fix


def test_a_fresh_tiny_model_comparison_reads_typed_and_back(tiny_long_model_dir):
    model = dict(source=str(tiny_long_model_dir), engine="transformers", dtype="float32",
                 threads=1)
    setups = (Setup("two shots calibrated", ModelChoice(**model),
                    PromptChoice("few-shot", shots=2, calibrate=True)),)
    config = CompareConfig("review-sentiment", setups, 5, model=str(tiny_long_model_dir),
                           engine="transformers")
    data = json.loads(json.dumps(evaluate(config)))  # as results.json holds it
    results = Results.from_dict(data)
    assert results.to_dict() == data and results.config == config
    row = results.row("two shots calibrated")
    assert row.error is None and row.calibrated is True
    assert row.parts["prompt"] == "2-shot calibrated" and row.setup["name"] == "two shots calibrated"
    assert row.description and row.metric("accuracy") is not None
    assert isinstance(row.label_counts, dict) and results.task.version
    with pytest.raises(ResultsError, match="Pick one of: two shots calibrated"):
        results.row("zero-shot")
