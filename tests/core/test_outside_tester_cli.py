"""Issue 15 (outside tester), the CLI and the lab database: regression tests that failed before the
fix.

- a damaged lab.db (truncated, or garbage): ``runs`` ended in a sqlite3 traceback; now it lists
  the runs from their folders (the truth) and says the index is damaged, what is lost and the fix;
- ``generate`` on a damaged or read-only database lost the answer: now it prints it, says it was
  not saved, and exits 0;
- a training config naming a task that does not exist left a failed run folder behind; an empty
  YAML config started a run of every default;
- a 50 MB prompt was tokenized before being refused.

A read-only folder is simulated with patches (tests/test_faults_storage.py says why: root).
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from core.cli import main
from core.paths import history_db_path
from tests.test_faults_storage import read_only, snapshot


def _damage(db, how: str) -> None:
    data = db.read_bytes()
    db.write_bytes(data[:3000] if how == "truncated" else b"not a database at all\n" * 300)
    for extra in ("-wal", "-shm"):
        db.with_name(db.name + extra).unlink(missing_ok=True)


@pytest.fixture
def a_run(lab_home, tiny_model_dir):
    from core import runs
    from core.train_config import TrainConfig

    run_dir = runs.create_run(TrainConfig(model=str(tiny_model_dir), task="review-sentiment",
                                          name="kept run"))
    runs.write_status(run_dir, status="succeeded", finished_at="2025-01-01T00:00:00+00:00")
    return run_dir


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_runs_are_listed_from_their_folders_when_lab_db_is_damaged(a_run, how, capsys):
    db = history_db_path()
    _damage(db, how)
    damaged = db.read_bytes()
    assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    assert a_run.name in out and "kept run" in out
    assert "damaged" in err and "lab.db" in err and "history" in err
    assert "fix:" in err and "move" in err.lower()
    assert main(["runs", "--json"]) == 0
    out, _ = capsys.readouterr()
    assert [r["id"] for r in json.loads(out)] == [a_run.name]
    assert db.read_bytes() == damaged, "the damaged index was changed without being asked"


def test_moving_a_damaged_lab_db_aside_keeps_every_run_listed(a_run, capsys):
    db = history_db_path()
    _damage(db, "garbage")
    db.rename(db.with_name("lab.db.damaged"))  # the fix the warning gives
    assert main(["runs", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [r["id"] for r in json.loads(out)] == [a_run.name]
    assert "warning" not in err


def test_a_damaged_lab_db_still_lets_a_run_be_read_and_created(a_run, tiny_model_dir):
    from core import runs
    from core.train_config import TrainConfig

    _damage(history_db_path(), "garbage")
    assert runs.get_run(a_run.name).status == "succeeded"
    second = runs.create_run(TrainConfig(model=str(tiny_model_dir), task="review-sentiment"))
    assert {r.id for r in runs.list_runs()} == {a_run.name, second.name}
    assert runs.index_problem() is not None


@pytest.mark.parametrize("fault", ["damaged", "read-only"])
def test_generate_prints_the_answer_it_could_not_save(lab_home, tiny_model_dir, capsys, fault):
    main(["generate", "The quick", "--model", str(tiny_model_dir), "--max-new-tokens", "3"])
    expected = capsys.readouterr().out
    if fault == "damaged":
        _damage(history_db_path(), "garbage")
    before = snapshot(lab_home)
    with pytest.MonkeyPatch.context() as patch:
        if fault == "read-only":
            read_only(patch, lab_home)
        code = main(["generate", "The quick", "--model", str(tiny_model_dir),
                     "--max-new-tokens", "3"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == expected, "the answer was not printed"
    assert "not saved" in err and "fix:" in err
    assert snapshot(lab_home) == before


def test_training_config_for_an_unknown_task_leaves_no_run_folder(lab_home, tmp_path, capsys):
    config = tmp_path / "train.json"
    config.write_text(json.dumps({"task": "no-such-task"}))
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "There is no sample task named 'no-such-task'" in err and "fix:" in err
    assert not (lab_home / "runs").exists() or not any((lab_home / "runs").iterdir())
    with sqlite3.connect(history_db_path()) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "runs" not in tables or not conn.execute("SELECT * FROM runs").fetchall()


@pytest.mark.parametrize("text", ["", "# nothing set yet\n", "- lora_r: 8\n", "just words\n"])
def test_an_empty_or_non_mapping_yaml_config_starts_nothing(lab_home, tmp_path, capsys, text):
    config = tmp_path / "train.yaml"
    config.write_text(text)
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "train.yaml" in err and "fix:" in err
    assert not (lab_home / "runs").exists() or not any((lab_home / "runs").iterdir())


@pytest.mark.parametrize("limit", ["99999999999999999999999", "0", "-1"])
def test_history_limit_out_of_range_is_named(lab_home, capsys, limit):
    with pytest.raises(SystemExit) as code:
        main(["history", "--limit", limit])
    assert code.value.code == 2
    err = capsys.readouterr().err
    assert "argument --limit" in err and "whole number from 1 to" in err


def test_a_huge_prompt_is_refused_before_it_is_tokenized(lab_home, tiny_model_dir, monkeypatch,
                                                         capsys):
    from transformers import PreTrainedTokenizerBase

    def never(*args, **kwargs):
        raise AssertionError("the huge prompt was tokenized")

    monkeypatch.setattr(PreTrainedTokenizerBase, "__call__", never)
    code = main(["generate", "word " * 2_000_000, "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert "10,000,000 characters" in err and "256 tokens" in err and "fix:" in err


def test_every_few_shot_set_field_refuses_wrong_types_and_out_of_range_values_by_name():
    from core.fewshot import FewShotSet
    from core.prompting import Example
    from tests.config_properties import check_every_field

    check_every_field(FewShotSet, {"name": "keep", "examples": (Example("Great!", "POSITIVE"),),
                                   "labels": ("POSITIVE", "NEGATIVE")})


def test_a_damaged_saved_few_shot_set_is_named_and_the_others_still_load(lab_home):
    from core.errors import ConfigError
    from core.fewshot import FewShotSet, list_sets, load_set, save_set
    from core.prompting import Example

    save_set(FewShotSet("good", (Example("Great!", "POSITIVE"),)))
    (lab_home / "fewshot" / "torn.json").write_text('{"name": "torn", "examples": [{"inp')
    (lab_home / "fewshot" / "odd.json").write_text('{"name": "odd", "examples": [{"x": 1}]}')
    assert list_sets() == ["good", "odd", "torn"]
    for name in ("torn", "odd"):
        with pytest.raises(ConfigError, match=f"saved few-shot set '{name}'.*damaged") as caught:
            load_set(name)
        assert "Delete it" in caught.value.fix
    assert load_set("good").examples == (Example("Great!", "POSITIVE"),)
