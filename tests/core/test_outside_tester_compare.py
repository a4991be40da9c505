"""Comparisons as the outside tester broke them (issue 15): two CLI comparisons in one second,
one damaged folder or database, a read-only or full data folder, and configs that ended in
tracebacks. The evaluation itself is replaced by a stand-in: what is tested is where a
comparison's files go, what the lab reads back, and what the user is told."""

from __future__ import annotations

import errno
import json
import math
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from unittest import mock

import pytest

from core import compare_runs
from core.compare import CompareConfig, Prices, VariantSpec
from core.db import COMPARISONS as COMPARISONS_TABLE
from core.errors import ConfigError, LabError, StorageError
from core.paths import history_db_path
from tests.config_properties import check_every_field

ZERO = {"name": "zero-shot", "kind": "zero-shot"}


def _config(tmp_path: Path, name: str, **extra) -> Path:
    data = {"task": "review-sentiment", "n_examples": 5, "variants": [{"name": name, "kind": "zero-shot"}],
            **extra}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def _fake_evaluate(config, progress=None, should_stop=lambda: False, threads=None) -> dict:
    """What evaluate returns, without a model: the variants by name."""
    if progress:
        progress(0, len(config.variants), config.variants[0].name)
        progress(len(config.variants), len(config.variants), "done")
    return {"config": config.to_dict(), "variants": [{"name": v.name, "kind": v.kind, "metrics": {},
                                                      "error": None} for v in config.variants],
            "examples": []}


@pytest.fixture
def no_model(monkeypatch):
    monkeypatch.setattr(compare_runs, "evaluate", _fake_evaluate)


class _Frozen(datetime):
    """Every clock reading in one second: the two CLI jobs of the tester's `&`."""

    @classmethod
    def now(cls, tz=None):
        return cls(2025, 1, 2, 3, 4, 5, tzinfo=tz)


def _indexed() -> dict[str, tuple[str, str]]:
    with closing(sqlite3.connect(history_db_path())) as conn:
        return {row[0]: (row[1], row[2]) for row in
                conn.execute("SELECT id, status, folder FROM comparisons")}


# -- 1. two CLI comparisons in the same second -----------------------------------------------------


def test_two_cli_comparisons_in_one_second_keep_their_own_folders_and_are_listed(
        tmp_path, no_model, monkeypatch):
    monkeypatch.setattr(compare_runs, "datetime", _Frozen)
    first, first_folder = compare_runs.run_config_file(_config(tmp_path, "alpha"))
    second, second_folder = compare_runs.run_config_file(_config(tmp_path, "beta"))
    assert first_folder != second_folder
    for folder, name in ((first_folder, "alpha"), (second_folder, "beta")):
        saved = json.loads((folder / "results.json").read_text())
        assert [v["name"] for v in saved["variants"]] == [name]
        progress = (folder / "progress.jsonl").read_text()
        assert name in progress and ({"alpha", "beta"} - {name}).pop() not in progress
    listed = {c.id: c for c in compare_runs.list_comparisons()}
    assert {first["id"], second["id"]} == set(listed)
    assert listed[first["id"]].variants == ("alpha",) and listed[second["id"]].status == "succeeded"
    index = _indexed()  # the page's index knows them too
    assert index[first["id"]] == ("succeeded", str(first_folder))
    assert index[second["id"]] == ("succeeded", str(second_folder))


def test_an_out_folder_is_listed_and_never_holds_two_comparisons(tmp_path, no_model):
    out = tmp_path / "mine"
    results, folder = compare_runs.run_config_file(_config(tmp_path, "alpha"), out)
    assert folder == out and (out / "results.json").is_file()
    listed = compare_runs.list_comparisons()
    assert [(c.id, c.folder, c.variants) for c in listed] == [(results["id"], out, ("alpha",))]
    assert compare_runs.load_results(results["id"])["variants"][0]["name"] == "alpha"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ConfigError) as refused:
        compare_runs.run_config_file(_config(tmp_path, "beta"), out)
    assert str(out) in refused.value.problem and "another comparison" in refused.value.problem
    assert "--out" in refused.value.fix
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_page_s_own_folder_is_run_by_the_background_process(tmp_path, no_model, monkeypatch):
    """start_comparison prepares the folder, then runs `compare FOLDER/config.json --out FOLDER`:
    that folder is this comparison's own, not another's."""
    from core import jobs  # the one place a job is spawned

    monkeypatch.setattr(jobs.subprocess, "Popen", lambda *a, **k: type("P", (), {"pid": 0})())
    config = CompareConfig.from_dict(json.loads(_config(tmp_path, "alpha").read_text()))
    comparison_id = compare_runs.start_comparison(config)
    folder = compare_runs.comparisons_dir() / comparison_id
    results, ran = compare_runs.run_config_file(folder / "config.json", folder)
    assert ran == folder and results["id"] == comparison_id
    assert [c.id for c in compare_runs.list_comparisons()] == [comparison_id]
    assert _indexed()[comparison_id][0] == "succeeded"


# -- 2. one damaged folder ------------------------------------------------------------------------


def _finished(tmp_path, name: str) -> compare_runs.Comparison:
    results, folder = compare_runs.run_config_file(_config(tmp_path, name))
    return compare_runs.get_comparison(results["id"])


DAMAGE = {
    "empty status.json": ("status.json", "", "status.json"),
    "status.json not JSON": ("status.json", "{\"status\": \"runn", "status.json"),
    "config.json without variants": ("config.json", json.dumps({"task": "review-sentiment"}),
                                     "config.json"),
    "config.json not JSON": ("config.json", "\x00\x01garbage", "config.json"),
    "config.json of wrong types": ("config.json", json.dumps({"task": 3, "variants": "x"}),
                                   "config.json"),
    "status.json without a status": ("status.json", "[]", "status.json"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_one_damaged_comparison_is_shown_as_damaged_and_the_others_as_before(
        damage, tmp_path, no_model):
    good = _finished(tmp_path, "good")
    bad = _finished(tmp_path, "bad")
    file, text, named = DAMAGE[damage]
    (bad.folder / file).write_text(text)
    listed = {c.id: c for c in compare_runs.list_comparisons()}
    assert listed[good.id].status == "succeeded" and listed[good.id].variants == ("good",)
    broken = listed[bad.id]
    assert broken.status == "damaged" and not broken.live
    assert named in broken.problem and str(bad.folder) in broken.fix and "delete" in broken.fix.lower()
    with pytest.raises(LabError) as refused:
        compare_runs.load_results(bad.id)
    assert named in refused.value.problem
    assert compare_runs.load_results(good.id)["variants"][0]["name"] == "good"


def test_a_torn_last_progress_line_is_an_interrupted_append_not_damage(tmp_path, no_model):
    comparison = _finished(tmp_path, "good")
    progress = comparison.folder / "progress.jsonl"
    progress.write_text('{"done": 0, "total": 1, "current": "good"}\n{"done": 1, "tot')
    again = compare_runs.get_comparison(comparison.id)
    assert again.status == "succeeded" and again.current == "good" and again.problem is None


def test_progress_appends_start_on_a_new_line_after_a_torn_one(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "progress.jsonl").write_text('{"done": 0, "tot')  # a kill mid-append
    compare_runs.append_progress(folder, {"done": 1, "total": 2, "current": "b"})
    last = (folder / "progress.jsonl").read_text().splitlines()[-1]
    assert json.loads(last) == {"done": 1, "total": 2, "current": "b"}


# -- 3. a damaged database, a read-only folder -----------------------------------------------------


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_lab_db_does_not_stop_a_comparison(damage, tmp_path, no_model):
    db = history_db_path()
    if damage == "garbage":
        db.write_bytes(b"this is not a database\x00" * 200)
    else:
        with closing(sqlite3.connect(db)) as conn, conn:
            conn.executescript(COMPARISONS_TABLE)
            conn.executemany("INSERT INTO comparisons VALUES (?, ?, ?, ?, ?, ?)",
                             [(str(i), "t", "x" * 500, "[]", "succeeded", "/nowhere")
                              for i in range(200)])
        db.write_bytes(db.read_bytes()[:5000])
    damaged = db.read_bytes()
    results, folder = compare_runs.run_config_file(_config(tmp_path, "alpha"))
    assert (folder / "results.json").is_file()
    assert [c.id for c in compare_runs.list_comparisons()] == [results["id"]]
    assert db.read_bytes() == damaged  # the lab does not "repair" what the user may want back


def test_a_read_only_data_folder_is_a_named_error_before_anything_is_written(tmp_path, no_model):
    # the tests run as root, where chmod does not stop writes: the file system is simulated
    def read_only(self, mode=0o777, parents=False, exist_ok=False):
        if exist_ok and self.is_dir():  # as on a read-only mount: what exists, exists
            return
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    before = sorted(compare_runs.comparisons_dir().iterdir())
    config = _config(tmp_path, "alpha")
    with mock.patch.object(Path, "mkdir", read_only), pytest.raises(StorageError) as refused:
        compare_runs.run_config_file(config)
    assert "read-only" in refused.value.problem and "PROMPTTUNE_HOME" in refused.value.fix
    assert sorted(compare_runs.comparisons_dir().iterdir()) == before


def test_a_full_disk_while_saving_a_comparison_leaves_no_stray_files(tmp_path, no_model):
    good = _finished(tmp_path, "good")
    kept = {p: p.read_bytes() for p in good.folder.iterdir()}
    real_write = Path.write_text

    def full(self, *args, **kwargs):
        if self.name.startswith("config.json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, *args, **kwargs)

    config = _config(tmp_path, "alpha")
    with mock.patch.object(Path, "write_text", full), pytest.raises(StorageError) as refused:
        compare_runs.run_config_file(config)
    assert "disk is full" in refused.value.problem and "Free some disk space" in refused.value.fix
    assert [p.name for p in compare_runs.comparisons_dir().iterdir()] == [good.folder.name]
    assert {p: p.read_bytes() for p in good.folder.iterdir()} == kept


def test_a_full_disk_when_the_results_are_saved_is_named_and_leaves_no_staging_file(
        tmp_path, no_model):
    real_replace = Path.replace

    def full(self, target):
        if Path(target).name == "results.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return real_replace(self, target)

    config = _config(tmp_path, "alpha")
    with mock.patch.object(Path, "replace", full), pytest.raises(StorageError, match="disk is full"):
        compare_runs.run_config_file(config)
    [folder] = compare_runs.comparisons_dir().iterdir()
    assert not list(folder.glob("*.tmp"))
    [comparison] = compare_runs.list_comparisons()
    assert comparison.status == "failed" and "disk is full" in comparison.problem


# -- 4. configs that ended in tracebacks -----------------------------------------------------------


BAD_CONFIGS = {
    "not UTF-8": ("not UTF-8", '{"task": "review-sentiment", "variants": []}'.encode("utf-16")),
    "deeply nested": ("nested too deeply", b'{"task": "review-sentiment", "variants": '
                      + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "negative seed": ("seed", {"seed": -1}),
    "string seed": ("seed", {"seed": "abc"}),
    "fractional shots": ("shots", {"variants": [{"name": "f", "kind": "few-shot", "shots": 2.5}]}),
    "NaN price": ("input_per_million", b'{"task": "review-sentiment", "variants": [{"name": "z", '
                  b'"kind": "zero-shot"}], "prices": {"input_per_million": NaN}}'),
    "Infinity price": ("gpu_hour", b'{"task": "review-sentiment", "variants": [{"name": "z", '
                       b'"kind": "zero-shot"}], "prices": {"gpu_hour": Infinity}}'),
    "RAG top_k 0": ("top_k", {"variants": [{"name": "r", "kind": "rag", "top_k": 0}]}),
    "RAG top_k text": ("top_k", {"variants": [{"name": "r", "kind": "rag", "top_k": "3"}]}),
    "a list, not an object": ("JSON object", b"[1, 2]"),
}


@pytest.mark.parametrize("bad", BAD_CONFIGS)
def test_a_bad_config_is_a_named_error_and_leaves_no_folder(bad, tmp_path, no_model):
    named, content = BAD_CONFIGS[bad]
    path = tmp_path / "compare.json"
    if isinstance(content, dict):
        content = json.dumps({"task": "review-sentiment", "variants": [ZERO], **content}).encode()
    path.write_bytes(content)
    with pytest.raises(ConfigError) as refused:
        compare_runs.run_config_file(path)
    assert named in refused.value.problem and refused.value.fix
    assert not list(compare_runs.comparisons_dir().iterdir())


@pytest.mark.parametrize("cls, valid", [
    (CompareConfig, {"task": "review-sentiment", "variants": (VariantSpec("z", "zero-shot"),)}),
    (VariantSpec, {"name": "z", "kind": "few-shot"}),
    (Prices, {"input_per_million": 0.1}),
])
def test_every_comparison_setting_refuses_a_wrong_type_or_range_by_name(cls, valid):
    check_every_field(cls, valid)


def test_rag_top_k_and_seed_ranges():
    with pytest.raises(ConfigError, match="top_k"):
        VariantSpec("r", "rag", top_k=10_000)
    with pytest.raises(ConfigError, match="seed"):
        CompareConfig("review-sentiment", (VariantSpec("z", "zero-shot"),), seed=2**40)
    assert CompareConfig("review-sentiment", (VariantSpec("z", "zero-shot"),), seed=7).seed == 7
    assert not math.isnan(Prices(0.5).input_per_million)
