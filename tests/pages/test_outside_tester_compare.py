"""The Compare page and the lesson with one damaged comparison beside a good one (issue 15):
the good one opens as before, the damaged one is named with its reason; and names a user wrote
show as typed, never as Markdown."""

from __future__ import annotations

import copy
import json

import pytest

from core import runs, tour
from core.compare_runs import comparisons_dir
from core.config import ModelSpec
from tests.pages.test_compare_page import CMP, save_finished
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture
from ui.controls import plain

TOUR = "pages/0_Tour.py"
IMAGE = "![v](http://127.0.0.1:9/x.png)"
LINK = "[link](http://127.0.0.1:9/y)"


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32", engine="transformers")


def _results(comparison_id: str) -> dict:
    from tests.core.test_report import results as results_fixture

    results = copy.deepcopy(results_fixture.__wrapped__())
    results["id"] = comparison_id
    return results


def _damaged(comparison_id: str, config: dict) -> str:
    """A comparison folder whose status.json is empty (a kill mid-write on an old lab)."""
    folder = comparisons_dir() / comparison_id
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "status.json").write_text("")
    return str(folder)


def test_the_compare_page_lists_a_damaged_comparison_with_its_reason_and_opens_the_good_one(tiny):
    good = _results("20250101-000000-good")
    save_finished(good)
    where = _damaged("20990101-000000-bad", good["config"])  # the newest: selected first
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    labels = at.selectbox(key="cmp_selected").options
    assert any("20990101-000000-bad" in o and "damaged" in o for o in labels)
    shown = " ".join(e.value for e in at.error)
    assert "status.json is empty" in shown and "Delete the folder" in shown
    assert where.replace("_", "\\_") in shown or where in shown

    at.selectbox(key="cmp_selected").set_value("20250101-000000-good").run()
    assert not at.exception, at.exception
    assert any(s.value == "Verdict" for s in at.subheader)
    assert len(at.dataframe) >= 2 and not [e.value for e in at.error]


def named(results: dict, renames: dict[str, str]) -> dict:
    """The results with variants renamed everywhere a name is kept."""
    for variant in results["variants"] + results["config"]["variants"]:
        variant["name"] = renames.get(variant["name"], variant["name"])
    for example in results["examples"]:
        example["outputs"] = {renames.get(k, k): v for k, v in example["outputs"].items()}
    return results


def test_a_variant_named_like_an_image_shows_as_typed_on_the_compare_page(tiny):
    save_finished(named(_results("20250101-000000-named"),
                        {"lora-live-demo": f"lora {IMAGE}", "lora-smollm": f"smollm {LINK}"}))
    at = _page(CMP, tiny)
    assert not at.exception, at.exception
    verdict = at.info[0].value
    assert "lora " + plain(IMAGE) in verdict  # shows as typed
    assert "smollm " + plain(LINK) in verdict
    said = [e.value for group in (at.info, at.caption, at.success, at.warning, at.error)
            for e in group] + [str(c) for c in at.table[0].value.to_numpy().ravel()]
    assert not [text for text in said if IMAGE in text or LINK in text]


def _tour_run() -> str:
    run_dir = runs.create_run(tour.tour_train_config())
    runs.write_status(run_dir, status="succeeded", finished_at="2025-01-01T00:00:00+00:00")
    return run_dir.name


def test_the_lesson_names_its_damaged_comparison_and_lets_a_new_one_start(tiny, monkeypatch):
    run_id = _tour_run()
    monkeypatch.setattr(runs.Run, "has_outputs", property(lambda self: True))
    save_finished(_results("20250101-000000-other"))  # another comparison, whole
    config = tour.tour_compare_config(run_id).to_dict()
    where = _damaged("20990101-000000-tour", config)
    at = _page(TOUR, tiny)
    assert not at.exception, at.exception
    shown = " ".join(e.value for e in at.error)
    assert "The comparison damaged" in shown and "status.json is empty" in shown
    assert "Delete the folder" in shown and where.split("/")[-1] in shown
    assert not at.button(key="tour_compare").disabled  # the lesson can run a new one
