"""Thin pages under AppTest (issue 17): the Playground saves what it shows as a setup (a bad
name said, nothing typed lost); History and Runs open the Playground through
``ui.navigate`` and it lands with the right state; the Tour's Runs button selects its run;
Knowledge adds documents through core; the Few-shot builder measures on its hold-out."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import runs
from core.config import ModelSpec
from core.fewshot import FewShotSet, save_set
from core.history import list_generations
from core.prompting import Example
from core.setups import list_setups, load_setup
from tests.pages.test_compare_setups_pages import _finished_run
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture
from ui.navigate import REQUESTS

PLAY, HISTORY, RUNS = "pages/1_Playground.py", "pages/2_History.py", "pages/6_Runs.py"


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32", engine="transformers")


def _technique(at, name):
    at.radio(key="play_mode").set_value(name).run()
    assert not at.exception, at.exception
    return at


def _save_setup(at, name: str):
    at.text_input(key="play_setup_name").set_value(name)
    at.button(key="play_setup_save").click().run()
    assert not at.exception, at.exception
    return at


# -- the Playground saves what it shows -----------------------------------------------------------

def test_the_playground_saves_its_few_shot_view_as_a_setup_that_reproduces_it(tiny):
    save_set(FewShotSet("two", (Example("good", "POSITIVE"), Example("bad", "NEGATIVE")),
                        "Classify.", "Review: {input}\nSentiment:", ("POSITIVE", "NEGATIVE")))
    at = _technique(_page(PLAY, tiny), "Few-shot")
    at.slider(key="play_k").set_value(2)
    at.number_input(key="sidebar_threads").set_value(1).run()
    _save_setup(at, "two shots")
    assert not at.error, [e.value for e in at.error]
    assert any("Saved setup" in s.value and "two shots" in s.value for s in at.success)
    setup = load_setup("two shots")
    assert setup.prompt.technique == "few-shot" and setup.prompt.fewshot_set == "two"
    assert setup.prompt.shots == 2
    assert setup.model.source == tiny.source and setup.model.engine == "transformers"
    assert setup.model.dtype == "float32" and setup.model.threads == 1
    assert setup.generation.max_new_tokens == at.number_input(key="play_max_new").value


def test_a_bad_or_taken_setup_name_is_said_and_nothing_typed_is_lost(tiny):
    at = _technique(_page(PLAY, tiny), "System prompt")
    at.text_area(key="play_system").set_value("Answer in one word, in capitals.")
    at.text_area(key="play_input").set_value("my own careful input").run()
    _save_setup(at, "a/b")
    assert any("not a usable setup name" in e.value for e in at.error)
    assert at.text_input(key="play_setup_name").value == "a/b"  # to correct, not to retype
    assert at.text_area(key="play_input").value == "my own careful input"
    assert at.text_area(key="play_system").value == "Answer in one word, in capitals."
    assert list_setups() == []
    _save_setup(at, "one word")
    assert load_setup("one word").prompt.system == "Answer in one word, in capitals."
    _save_setup(at, "one word")
    assert any("is saved already" in e.value for e in at.error)


def test_free_text_offers_no_setup_to_save(tiny):
    at = _page(PLAY, tiny)
    assert at.session_state["play_mode"] == "Free text"
    assert not [b for b in at.button if b.key == "play_setup_save"]


def test_a_tuned_run_in_the_playground_saves_as_a_setup_of_that_run(tiny, tiny_long_model_dir):
    run_id = _finished_run(tiny_long_model_dir)
    at = _page(RUNS, tiny)
    at.button(key="runs_use").click().run()  # Runs -> Playground, through ui.navigate
    assert not at.exception, at.exception
    run_dir = runs.get_run(run_id).run_dir
    assert at.session_state["lab_model_spec"].adapter == str(run_dir / "adapter")
    assert at.text_input(key="sidebar_adapter").value == str(run_dir / "adapter")
    assert at.session_state["play_mode"] == "Free text"
    assert at.text_area(key="play_prompt").value.startswith("Review: ")
    assert not at.session_state[REQUESTS]  # read once, where it landed
    at.switch_page(PLAY).run()  # AppTest's next run goes back to Runs otherwise
    assert at.session_state["lab_model_spec"].adapter == str(run_dir / "adapter")  # kept
    _technique(at, "Zero-shot")
    _save_setup(at, "tuned zero")
    setup = load_setup("tuned zero")
    assert setup.model.run_id == run_id and setup.model.source == str(tiny_long_model_dir)
    assert setup.describe().startswith(f"run {run_id} (LoRA)")


# -- pages open each other through ui.navigate ---------------------------------------------------

def test_history_opens_an_answer_in_the_playground_with_its_technique_and_model(tiny,
                                                                              tiny_model_dir):
    at = _technique(_page(PLAY, tiny), "Zero-shot")
    at.text_area(key="play_input").set_value("A fine kettle.")
    at.number_input(key="play_max_new").set_value(2)
    at.button(key="play_run").click().run()
    assert not at.exception, at.exception
    [entry] = list_generations()
    # another model and technique meanwhile: the reopen switches both back
    at.text_input(key="sidebar_model_source").set_value(str(tiny_model_dir)).run()
    assert at.session_state["lab_model_spec"].source == str(tiny_model_dir)
    _technique(at, "Free text")
    at.switch_page(HISTORY).run()
    at.button(key="hist_reload").click().run()
    assert not at.exception, at.exception
    state = at.session_state
    assert state["play_mode"] == "Zero-shot" and state["play_input"] == "A fine kettle."
    assert state["lab_model_spec"].source == tiny.source
    assert at.text_input(key="sidebar_model_source").value == tiny.source
    assert any(f"Reopened History entry #{entry.id}" in i.value for i in at.info)
    assert any("switched back" in w.value for w in at.warning)
    assert not state[REQUESTS]


def test_a_deleted_entry_asked_for_says_so_and_the_playground_stays_as_it_was(tiny):
    at = _technique(_page(PLAY, tiny), "Zero-shot")
    at.text_area(key="play_input").set_value("kept as typed").run()
    at.session_state[REQUESTS] = {"playground": {"history_entry": 4242}}
    at.run()
    assert not at.exception, at.exception
    assert any("#4242 was deleted" in w.value for w in at.warning)
    assert at.text_area(key="play_input").value == "kept as typed"


def test_the_tasks_request_opens_the_playground_on_the_task_with_its_first_input(tiny):
    at = _page(PLAY, tiny)
    at.session_state[REQUESTS] = {"playground": {"task": "event-extraction"}}
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["play_mode"] == "Structured output"  # the task has a schema
    assert at.session_state["play_task"] == "event-extraction"
    assert at.text_area(key="play_schema").value


# -- Knowledge and the Few-shot builder ------------------------------------------------------------

@pytest.mark.integration
def test_knowledge_adds_documents_says_what_was_skipped_and_opens_the_collection(tiny):
    at = _page("pages/4_Knowledge.py", tiny)
    at.text_input(key="kb_new").set_value("notes").run()
    at.file_uploader[0].set_value([
        ("tents.md", b"# Tents\nThe Karsk tent weighs 2 kg.", "text/markdown"),
        ("broken.pdf", b"not a pdf", "application/pdf")]).run()
    at.button(key="kb_add").click().run()
    assert not at.exception, at.exception
    assert any("notes" in s.value and "1 document" in s.value and "skipped" in s.value
               for s in at.success), [s.value for s in at.success]
    assert any("broken.pdf" in e.value for e in at.error)
    assert at.session_state["kb_collection"] == "notes" and at.text_input(key="kb_new").value == ""


def test_the_builder_measures_on_the_tasks_validation_split_held_out(tiny):
    at = _page("pages/3_Few-shot_builder.py", tiny)
    at.number_input(key="fs_n").set_value(12)
    at.button(key="fs_load_task").click().run()
    at.number_input(key="fs_val_n").set_value(5).run()
    at.button(key="fs_curve").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    points = at.session_state["fs_points"]
    assert [p.k for p in points] == [0, 1, 2, 4, 8] and all(p.n == 5 for p in points)


# -- no page writes another page's widget keys -----------------------------------------------------

# each widget-key prefix and the files of the page that owns it (a page's ui pieces included)
OWNERS = {"play": ("pages/1_Playground.py", "ui/playground.py", "ui/play_editor.py",
                   "ui/play_answer.py", "ui/play_open.py"),
          "hist": ("pages/2_History.py",),
          "fs": ("pages/3_Few-shot_builder.py", "ui/fewshot.py"),
          "kb": ("pages/4_Knowledge.py", "ui/knowledge.py"),
          "train": ("pages/5_Train.py", "ui/training.py", "ui/train_sections.py"),
          "runs": ("pages/6_Runs.py", "ui/training.py"),
          "cmp": ("pages/7_Compare.py", "ui/compare.py", "ui/setup_builder.py", "ui/review.py",
                  "ui/review_judge.py"),
          "tasks": ("pages/8_Tasks.py", "ui/tasks.py"),
          "adv": ("pages/9_Advisor.py", "ui/advisor.py"),
          "tour": ("pages/0_Tour.py", "ui/tour.py", "ui/tour_task.py"),
          "sidebar": ("ui/sidebar.py", "ui/model_picker.py")}


def _written_keys(path: Path):
    """(line, key) of every literal session-state key a file assigns, updates or defaults."""
    import ast

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                    yield node.lineno, target.slice.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("update", "setdefault"):
            for arg in node.args:
                keys = arg.keys if isinstance(arg, ast.Dict) else \
                    [arg] if node.func.attr == "setdefault" else []
                yield from ((node.lineno, k.value) for k in keys if isinstance(k, ast.Constant))
            yield from ((node.lineno, kw.arg) for kw in node.keywords if kw.arg)


def test_no_page_writes_the_widget_keys_of_another_page():
    root = Path(__file__).resolve().parents[2]
    foreign = []
    for path in sorted([*root.glob("pages/*.py"), *root.glob("ui/*.py"), root / "app.py"]):
        name = str(path.relative_to(root))
        for line, key in _written_keys(path):
            owner = OWNERS.get(str(key).split("_")[0]) if "_" in str(key) else None
            if owner is not None and name not in owner:
                foreign.append(f"{name}:{line} writes {key}")
    assert not foreign, "open the page through ui.navigate instead: " + "; ".join(foreign)


def test_a_saved_setup_opens_in_the_playground_with_its_technique_and_settings(tiny):
    save_set(FewShotSet("two", (Example("good", "POSITIVE"), Example("bad", "NEGATIVE")),
                        "Classify.", "Review: {input}\nSentiment:", ("POSITIVE", "NEGATIVE")))
    at = _technique(_page(PLAY, tiny), "Few-shot")
    at.slider(key="play_k").set_value(2)
    at.number_input(key="play_max_new").set_value(7).run()
    _save_setup(at, "two shots")
    _technique(at, "Free text")
    at.number_input(key="play_max_new").set_value(30).run()
    at.session_state[REQUESTS] = {"playground": {"setup": "two shots"}}
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["play_mode"] == "Few-shot" and at.session_state["play_set"] == "two"
    assert at.slider(key="play_k").value == 2
    assert at.number_input(key="play_max_new").value == 7
    assert any("Opened setup two shots" in i.value for i in at.info)


def test_a_new_task_opens_in_compare_and_in_train_through_their_requests(tiny):
    from tests.pages.test_tasks_page import TASKS, _make

    at = _make(_page(TASKS, tiny))
    at.button(key="tasks_create").click().run()
    at.button(key="tasks_use_Compare").click().run()
    assert not at.exception, at.exception
    assert at.session_state["cmp_task"] == "tickets"  # Compare read its request
    assert "compare" not in at.session_state[REQUESTS]
    at.switch_page(TASKS).run()
    at.button(key="tasks_use_Train").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_task").value == "tickets"
    assert "train" not in at.session_state[REQUESTS]
