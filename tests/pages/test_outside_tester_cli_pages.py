"""Issue 15 (outside tester) on the pages of the CLI's stores: a damaged lab.db on the Runs, Train
and History pages, a damaged saved few-shot set and a read-only data folder on the Few-shot
builder. Each shows a message with its fix, never an exception box, and loses nothing.

A read-only folder is simulated with patches (see tests/test_faults_storage.py: we run as root).
"""

from __future__ import annotations

import pytest

from core import runs
from core.config import ModelSpec
from core.paths import history_db_path
from core.train_config import TrainConfig
from tests.core.test_outside_tester_cli import _damage
from tests.pages.test_pages import _page, fresh_caches  # noqa: F401 - fixture
from tests.test_faults_storage import read_only, snapshot

TRAIN, RUNS, HIST, FS = ("pages/5_Train.py", "pages/6_Runs.py", "pages/2_History.py",
                         "pages/3_Few-shot_builder.py")


@pytest.fixture
def tiny(tiny_model_dir):
    return ModelSpec(source=str(tiny_model_dir), dtype="float32")


@pytest.fixture
def damaged_db_with_a_run(lab_home, tiny_model_dir):
    run_dir = runs.create_run(TrainConfig(model=str(tiny_model_dir), task="review-sentiment",
                                          name="kept run"))
    runs.write_status(run_dir, status="succeeded", finished_at="2025-01-01T00:00:00+00:00")
    _damage(history_db_path(), "garbage")
    return run_dir


def _messages(at, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def test_runs_page_lists_the_runs_and_says_the_index_is_damaged(damaged_db_with_a_run, tiny):
    at = _page(RUNS, tiny)
    assert not at.exception, [e.value for e in at.exception]
    assert damaged_db_with_a_run.name in list(at.dataframe[0].value["run"])
    warning = _messages(at, "warning")
    assert "is damaged" in warning and "Move" in warning and "history" in warning


def test_train_page_starts_a_run_with_a_damaged_index(damaged_db_with_a_run, tiny, monkeypatch):
    monkeypatch.setattr(runs, "_spawn", lambda run_dir, resume=False: 0)  # no training needed
    at = _page(TRAIN, tiny)
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, _messages(at, "error")
    started = at.session_state["train_started_run"]
    assert {r.id for r in runs.list_runs()} == {started, damaged_db_with_a_run.name}


def test_history_page_names_a_damaged_database_and_its_fix(damaged_db_with_a_run, tiny):
    at = _page(HIST, tiny)
    assert not at.exception, [e.value for e in at.exception]
    error = _messages(at, "error")
    assert "history database" in error and "Fix:" in error and "move it aside" in error


def test_few_shot_builder_shows_a_damaged_set_and_keeps_the_others(lab_home, tiny):
    from core.fewshot import FewShotSet, save_set
    from core.prompting import Example

    save_set(FewShotSet("good", (Example("Great!", "POSITIVE"),)))
    (lab_home / "fewshot" / "torn.json").write_text('{"name": "torn", "exam')
    at = _page(FS, tiny)
    assert not at.exception, [e.value for e in at.exception]
    assert "torn" in _messages(at, "warning") and "damaged" in _messages(at, "warning")
    assert any("**good** · 1 examples" in m.value for m in at.markdown)


def test_few_shot_builder_save_on_a_read_only_folder_is_named_and_writes_nothing(
        lab_home, tiny_long_model_dir):
    # four real reviews overflow the tiny model's 256 tokens: the long one takes them
    at = _page(FS, ModelSpec(source=str(tiny_long_model_dir), dtype="float32"))
    at.number_input(key="fs_n").set_value(6)
    at.button(key="fs_load_task").click().run()
    at.text_input(key="fs_name").set_value("kept").run()
    lab_home.mkdir(parents=True, exist_ok=True)
    before = snapshot(lab_home)
    with pytest.MonkeyPatch.context() as patch:
        read_only(patch, lab_home)
        at.button(key="fs_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    error = _messages(at, "error")
    assert "Could not save the few-shot set 'kept'" in error and "read-only" in error
    assert "Fix:" in error
    assert not at.success
    assert snapshot(lab_home) == before
