"""Task versions on the pages (issue 16): the Compare page picks a task of the user's, warns
before Run of a tuned run trained on test rows, shows the task's version and the warning in a
finished comparison's results; the Runs page says what a run trained on."""

from __future__ import annotations

import pytest

from core.config import ModelSpec
from core.task_versions import NOT_RECORDED
from core.train_config import TrainConfig
from tests.core.test_task_versions import TEMPLATE, finished_run, overlapping_file
from tests.core.test_user_tasks import make, ticket_rows, write_csv
from tests.pages.test_compare_page import save_finished
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

CMP = "pages/7_Compare.py"


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32", engine="transformers")


@pytest.fixture
def tickets(tmp_path):
    return make("tickets", write_csv(tmp_path / "tickets.csv", ticket_rows(60)))


def test_compare_warns_before_run_of_a_tuned_run_that_saw_test_rows(tiny, tickets, tmp_path):
    run_id = finished_run(TrainConfig(model=tiny.source, data_path=str(
        overlapping_file(tmp_path, "tickets", shared=3)), validation_fraction=0.0))
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    picker = at.selectbox(key="cmp_task")
    assert "tickets (yours)" in picker.options
    picker.set_value("tickets").run()
    assert not at.exception, at.exception
    assert not at.warning  # no tuned run chosen yet: nothing to warn of
    assert any(f"version {tickets.fingerprint[:8]}" in c.value for c in at.caption)
    at.number_input(key="cmp_n").set_value(12)
    at.multiselect(key="cmp_runs").set_value([run_id]).run()
    assert not at.exception, at.exception
    [warning] = [w.value for w in at.warning]
    assert "trained on 3 of the 12 test rows" in warning and "Fix:" in warning


def test_a_damaged_task_of_yours_reads_damaged_in_the_picker_and_breaks_nothing(tiny, tickets):
    from core.tasks import task_folder

    (task_folder("tickets") / "task.json").write_text("{ not json", encoding="utf-8")
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    assert any("damaged" in o for o in at.selectbox(key="cmp_task").options)
    at.selectbox(key="cmp_task").set_value("tickets").run()
    assert not at.exception, at.exception
    assert any("tickets" in e.value and "damaged" in e.value for e in at.error)


def test_results_show_the_task_version_and_the_warning_and_old_ones_still_open(tiny):
    from tests.core.test_report import results as results_fixture

    old = results_fixture.__wrapped__()  # from before versions: none recorded
    save_finished(old)
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    assert NOT_RECORDED in _text(at)

    new = {**results_fixture.__wrapped__(), "id": "20260101-000000-abcdef",
           "warnings": ["Run r1 trained on 4 of the 60 test rows this comparison scores."]}
    new["task"] = {**new["task"], "fingerprint": "0123456789ab", "test_rows": 60,
                   "fewshot_pool": 300}
    save_finished(new)
    at = _page(CMP, tiny)
    at.selectbox(key="cmp_selected").set_value(new["id"]).run()
    assert not at.exception, at.exception
    assert any("version 01234567, 60 test rows" in c.value for c in at.caption)
    assert any("trained on 4 of the 60 test rows" in w.value for w in at.warning)


def test_the_runs_page_says_the_task_version_and_rows_a_run_used(tiny, tickets):
    finished_run(TrainConfig(model=tiny.source, task="tickets", template=TEMPLATE))
    at = _page("pages/6_Runs.py", tiny)
    assert not at.exception, at.exception
    text = _text(at)
    assert f"task tickets, version {tickets.fingerprint[:8]}: 42 training rows, 6 validation" \
        in text
