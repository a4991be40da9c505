"""Issue 15: a name a user typed (a run's, an upload's, a model folder's) shows on the Train page,
in its errors and in the sidebar as typed: its Markdown is escaped (the body holds ``\\!\\[``),
so ``![v](http://...)`` is text and makes the browser fetch nothing."""

from __future__ import annotations

from core import runs
from core.config import ModelSpec
from core.train_config import TrainConfig
from tests.pages.test_pages import _page, fresh_caches  # noqa: F401 - fixture
from ui.controls import plain

TRAIN = "pages/5_Train.py"
IMAGE = "![v](http://127.0.0.1:8699/x.png)"


def _bodies(at) -> str:
    groups = (at.success, at.error, at.warning, at.info, at.caption, at.markdown,
              at.sidebar.caption, at.sidebar.error, at.subheader)
    return "\n".join(str(e.value) for group in groups for e in group)


def test_a_run_named_with_a_markdown_image_shows_as_typed_on_the_train_page(tiny_model_dir):
    run_dir = runs.create_run(TrainConfig(name=IMAGE, task="review-sentiment"))
    at = _page(TRAIN, ModelSpec(source=str(tiny_model_dir), dtype="float32"))
    at.session_state["train_started_run"] = run_dir.name
    at.run()
    assert not at.exception, at.exception
    said = [s.value for s in at.success]
    assert any(f"Run **{plain(IMAGE)}** is" in s for s in said), said
    assert IMAGE not in _bodies(at)  # nowhere as live Markdown


def test_an_upload_named_with_a_markdown_image_shows_escaped_in_its_caption_and_its_error(
        tiny_model_dir):
    at = _page(TRAIN, ModelSpec(source=str(tiny_model_dir), dtype="float32"))
    at.radio(key="train_source").set_value(at.radio(key="train_source").options[1]).run()
    name = IMAGE + ".csv"
    at.file_uploader(key="train_upload").set_value(
        (name, b"text,label\nGreat,POSITIVE\nBad,NEGATIVE\n", "text/csv")).run()
    assert not at.exception, at.exception
    assert any(f"Using **{plain(name)}**" in c.value for c in at.caption), \
        [c.value for c in at.caption]
    # the same name in an error (a bad file): problem text escaped, the lab's bold kept
    at.file_uploader(key="train_upload").set_value((name, b"", "text/csv")).run()
    errors = [e.value for e in at.error]
    assert any(e.startswith("**") and plain(name, keep_format=True) + " is empty" in e
               for e in errors), errors
    assert IMAGE not in _bodies(at)


def test_a_model_folder_named_with_markdown_shows_as_typed_in_the_sidebar(tiny_model_dir,
                                                                         tmp_path):
    folder = tmp_path / "![v](x.png)"
    folder.symlink_to(tiny_model_dir, target_is_directory=True)
    at = _page("app.py", ModelSpec(source=str(folder), dtype="float32"))
    assert not at.exception, at.exception
    shown = _bodies(at) + "\n".join(str(i.value) for i in at.info)
    assert plain("![v](x.png)", keep_format=True) in shown, shown
    assert "![v](x.png)" not in shown
