"""The Tasks page under AppTest: a user's CSV becomes a task every picker offers, a one-label
file is refused with nothing written, delete asks first, a damaged task breaks no page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.config import ModelSpec
from core.tasks import clear_caches, list_tasks, load_split, user_tasks, user_tasks_dir
from ui.engine import SPEC_KEY

TIMEOUT = 120
ROOT = Path(__file__).resolve().parents[2]
TASKS = "pages/8_Tasks.py"
LABELS = ("bug", "feature", "question")


@pytest.fixture(autouse=True)
def fresh_caches():
    """Streamlit's caches and the task caches are process-global: start each test empty."""
    st.cache_data.clear()
    st.cache_resource.clear()
    clear_caches()
    yield
    st.cache_data.clear()
    clear_caches()


@pytest.fixture
def tiny(tiny_model_dir) -> ModelSpec:
    return ModelSpec(source=str(tiny_model_dir), dtype="float32")


def _page(path: str, spec: ModelSpec | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if spec is not None:
        at.session_state[SPEC_KEY] = spec
    at.switch_page(path)
    return at.run()


def _csv(rows: int = 60, labels: tuple[str, ...] = LABELS) -> bytes:
    """A three-label ticket file the lab does not ship, with one exact duplicate and one
    row whose label is empty (both must be counted, not dropped silently)."""
    lines = ["ticket,kind,priority,note"]
    for i in range(rows):
        label = labels[i % len(labels)]
        lines.append(f'"Ticket {i}: the {label} about screen {i * 7}",{label},{i % 3},note {i}')
    lines.append('"Ticket 0: the bug about screen 0",bug,0,note 0')  # exact duplicate
    lines.append('"A ticket with no kind",,1,note x')
    return ("\n".join(lines) + "\n").encode()


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    return at.file_uploader(key="tasks_upload").set_value((name, data, "text/csv")).run()


def _text(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.code] + [str(e.value) for e in at.error]
    parts += [str(e.value) for e in at.warning] + [str(e.value) for e in at.success]
    return "\n".join(parts)


def _make(at: AppTest) -> AppTest:
    """Upload the ticket file, map its columns, and check the figures before Create."""
    at = _upload(at, "tickets.csv", _csv())
    assert not at.exception
    assert at.text_input(key="tasks_name").value == "tickets"  # named after the file
    at.selectbox(key="tasks_input").set_value("ticket")
    at.selectbox(key="tasks_label").set_value("kind").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def test_a_csv_becomes_a_task_that_every_picker_offers(tiny, lab_home):
    at = _make(_page(TASKS, tiny))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows read"] == "62" and metrics["Rows kept"] == "60"
    text = _text(at)
    assert "exact duplicates: **1**" in text and "rows with an empty answer: **1**" in text
    assert "bug **20**, feature **20**, question **20**" in text
    prompt = at.code[0].value
    assert "bug, feature, question" in prompt and "Ticket" in prompt  # the live preview
    at.text_area(key="tasks_instruction").set_value("Sort the ticket: bug, feature or question.")
    at.run()
    assert at.code[0].value.startswith("Sort the ticket")
    assert not (lab_home / "tasks").exists()  # nothing written before Create
    at.button(key="tasks_create").click().run()
    assert not at.exception
    assert user_tasks() == ["tickets"]
    shown = _text(at).replace("\\", "")  # the folder is escaped for Markdown ("\\_")
    assert "Created **tickets (yours)**" in shown and str(lab_home / "tasks" / "tickets") in shown
    assert any("tickets** (yours)" in m.value for m in at.markdown)
    rows = sum(len(load_split("tickets", s)) for s in ("train", "validation", "test"))
    assert rows == 60
    for page, key in (("pages/1_Playground.py", "play_task"), ("pages/5_Train.py", "train_task"),
                      ("pages/3_Few-shot_builder.py", "fs_task")):
        if page == "pages/1_Playground.py":
            at.session_state["play_mode"] = "Zero-shot"
        at.switch_page(page).run()
        assert not at.exception, page
        picker = at.selectbox(key=key)
        assert "tickets" in picker.options or "tickets (yours)" in picker.options, picker.options
        assert picker.format_func("tickets") == "tickets (yours)"


def test_use_in_the_playground_opens_it_with_the_task_filled_in(tiny):
    at = _make(_page(TASKS, tiny))
    at.button(key="tasks_create").click().run()
    at.button(key="tasks_use_Playground").click().run()
    assert not at.exception
    assert at.session_state["play_task"] == "tickets"
    assert at.text_area(key="play_input").value.startswith("Ticket")
    assert "bug, feature, question" in at.text_area(key="play_instruction").value


def test_a_few_shot_curve_and_train_take_a_user_task(tiny_long_model_dir):
    # eight worked tickets overflow the tiny model's 256 tokens: the long one takes them
    at = _make(_page(TASKS, ModelSpec(source=str(tiny_long_model_dir), dtype="float32")))
    at.button(key="tasks_create").click().run()
    at.button(key="tasks_use_Few-shot builder").click().run()
    assert at.selectbox(key="fs_task").value == "tickets"
    at.switch_page("pages/3_Few-shot_builder.py").run()  # AppTest's next run: this page
    at.button(key="fs_load_task").click().run()
    assert not at.exception and at.session_state["fs_source_task"] == "tickets"
    at.number_input(key="fs_val_n").set_value(5).run()
    at.button(key="fs_curve").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [p.k for p in at.session_state["fs_points"]][:2] == [0, 1]
    at.switch_page(TASKS).run()
    at.button(key="tasks_use_Train").click().run()
    assert not at.exception and at.selectbox(key="train_task").value == "tickets"
    assert "{input}" in at.text_area(key="train_template").value
    at.switch_page("pages/5_Train.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_one_label_is_refused_with_the_message_and_nothing_written(tiny, lab_home):
    at = _upload(_page(TASKS, tiny), "same.csv", _csv(labels=("bug",)))
    at.selectbox(key="tasks_input").set_value("ticket")
    at.selectbox(key="tasks_label").set_value("kind").run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "holds one label only" in errors and "Fix:" in errors
    assert at.button(key="tasks_create").disabled
    assert not (lab_home / "tasks").exists()
    assert at.selectbox(key="tasks_label").value == "kind"  # the choices stay


def test_a_free_text_answer_column_is_refused(tiny):
    at = _upload(_page(TASKS, tiny), "tickets.csv", _csv())
    at.selectbox(key="tasks_input").set_value("ticket")
    at.selectbox(key="tasks_label").set_value("note").run()
    assert "looks like a free-text column" in " ".join(e.value for e in at.error)


def test_delete_asks_first_then_removes_the_task(tiny):
    at = _make(_page(TASKS, tiny))
    at.button(key="tasks_create").click().run()
    at.button(key="tasks_delete_tickets").click().run()
    assert "Delete your task" in " ".join(w.value for w in at.warning)
    assert user_tasks() == ["tickets"]  # not yet
    at.button(key="tasks_delete_no_tickets").click().run()
    assert user_tasks() == ["tickets"]
    at.button(key="tasks_delete_tickets").click().run()
    at.button(key="tasks_delete_yes_tickets").click().run()
    assert not at.exception and user_tasks() == []
    assert "Deleted tickets." in _text(at)


def test_rename_keeps_the_task_under_its_new_name(tiny):
    at = _make(_page(TASKS, tiny))
    at.button(key="tasks_create").click().run()
    at.text_input(key="tasks_rename_tickets").set_value("support tickets")
    at.button(key="tasks_do_rename_tickets").click().run()
    assert not at.exception and user_tasks() == ["support tickets"]


def test_a_rename_to_a_sample_task_name_is_refused_with_the_fix(tiny):
    at = _make(_page(TASKS, tiny))
    at.button(key="tasks_create").click().run()
    at.text_input(key="tasks_rename_tickets").set_value("review-sentiment")
    at.button(key="tasks_do_rename_tickets").click().run()
    assert "sample task the lab ships" in " ".join(e.value for e in at.error)
    assert user_tasks() == ["tickets"]


def _damaged(lab_home: Path) -> None:
    folder = lab_home / "tasks" / "broken"
    folder.mkdir(parents=True)
    (folder / "task.json").write_text("{not json", encoding="utf-8")


@pytest.mark.parametrize("page", [TASKS, "pages/1_Playground.py", "pages/3_Few-shot_builder.py",
                                  "pages/5_Train.py", "pages/7_Compare.py"])
def test_a_damaged_user_task_breaks_no_page(tiny, lab_home, page):
    _damaged(lab_home)
    assert "broken" in list_tasks()
    at = _page(page, tiny)
    assert not at.exception, page
    if page == TASKS:
        assert "broken** (yours) cannot be used" in " ".join(w.value for w in at.warning)
        at.button(key="tasks_delete_broken").click().run()
        at.button(key="tasks_delete_yes_broken").click().run()
        assert user_tasks() == []


def test_picking_a_damaged_task_shows_its_fix_not_a_traceback(tiny, lab_home):
    _damaged(lab_home)
    at = _page("pages/1_Playground.py", tiny)
    at.radio(key="play_mode").set_value("Zero-shot").run()
    at.selectbox(key="play_task").set_value("broken").run()
    assert not at.exception
    assert "is damaged" in _text(at)
    at = _page("pages/5_Train.py", tiny)
    at.selectbox(key="train_task").set_value("broken").run()
    assert not at.exception and "is damaged" in _text(at)


def test_a_file_name_that_looks_like_markdown_loads_nothing(tiny):
    at = _upload(_page(TASKS, tiny), "![x](http:__evil.example_a).csv", _csv())
    shown = " ".join(m.value for m in at.markdown)
    assert "![x](" not in shown and "\\!\\[x\\]" in shown


def test_a_task_folder_zip_reads_back_its_settings(tiny, lab_home, tmp_path):
    from core.task_builder import export_task

    at = _make(_page(TASKS, tiny))
    at.button(key="tasks_create").click().run()
    zipped = export_task("tickets", tmp_path / "tickets.zip", zip=True)
    at = _page(TASKS, tiny)
    at.file_uploader(key="tasks_upload").set_value(
        ("tickets.zip", zipped.read_bytes(), "application/zip")).run()
    assert not at.exception
    assert at.selectbox(key="tasks_input").value == "ticket"
    assert at.selectbox(key="tasks_label").value == "kind"
    # its name is taken: core says so and nothing changes
    assert "already have a task named" in " ".join(e.value for e in at.error)
    at.text_input(key="tasks_name").set_value("tickets copy").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows kept"] == "60"
    json.loads((lab_home / "tasks" / "tickets" / "task.json").read_text())


def test_an_unreachable_hub_is_said_plainly(tiny):
    at = _page(TASKS, tiny)
    at.radio(key="tasks_from").set_value("A data set on the Hugging Face Hub").run()
    at.text_input(key="tasks_hub").set_value("someone/tickets")
    at.button(key="tasks_fetch").click().run()
    assert not at.exception
    assert "Hub cannot be reached" in " ".join(e.value for e in at.error)


def test_the_home_page_points_to_the_tasks_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any(link.proto.page == "Tasks" and link.proto.label.startswith("**Tasks**")
               for link in at.get("page_link"))


def test_a_local_task_folder_is_read_from_its_path(tiny, tmp_path):
    from core.task_builder import export_task

    at = _make(_page(TASKS, tiny))
    at.button(key="tasks_create").click().run()
    folder = export_task("tickets", tmp_path / "exported")
    at.radio(key="tasks_from").set_value("A file or folder on this machine").run()
    at.text_input(key="tasks_path").set_value(str(folder))
    at.button(key="tasks_read").click().run()
    assert not at.exception
    assert at.selectbox(key="tasks_label").value == "kind"
    assert "train 4" in " ".join(m.value for m in at.markdown)  # its own splits, kept
    at.text_input(key="tasks_name").set_value("tickets again").run()
    at.button(key="tasks_create").click().run()
    from core.tasks import task_fingerprint
    assert task_fingerprint("tickets again") == task_fingerprint("tickets")


def test_a_free_text_task_is_made_without_labels(tiny):
    at = _upload(_page(TASKS, tiny), "notes.csv", _csv())
    at.selectbox(key="tasks_input").set_value("ticket")
    at.selectbox(key="tasks_label").set_value("note")
    at.selectbox(key="tasks_kind").set_value("text").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Labels found" not in _text(at)
    at.button(key="tasks_create").click().run()
    assert user_tasks() == ["notes"]


def test_the_length_chart_counts_the_models_tokens_without_loading_the_model(tiny):
    at = _make(_page(TASKS, tiny))
    titles = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "Input length in tokens" in titles, titles[:300]  # the tokenizer alone, not words
    assert not any("Lengths in words" in c.value for c in at.caption)
