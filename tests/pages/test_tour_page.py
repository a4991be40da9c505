"""The Tour page under AppTest: every step listed, and its buttons doing the real thing on the
tiny model (scoring, the few-shot set, a short training run, the comparison and its report)."""

from __future__ import annotations

import time

import pytest

from core import runs, tour
from core.compare_runs import get_comparison
from core.config import ModelSpec
from core.fewshot import list_sets, load_set
from core.train_config import preset
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

TOUR = "pages/0_Tour.py"
WAIT_S = 300  # a guard against hanging, not a timing assertion


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32", engine="transformers")


@pytest.fixture
def tiny_tour(monkeypatch, tiny_long_model_dir):
    """The tour's run on the tiny model: 2 steps on 16 examples instead of Gemma's 60 steps."""
    config = preset("live-demo", task=tour.TASK, model=str(tiny_long_model_dir), max_steps=2,
                    batch_size=2, max_train_examples=16, max_eval_examples=4)
    monkeypatch.setattr(tour, "tour_train_config", lambda: config)
    return config


def _wait(read, done, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = read()
        if done(value):
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} did not finish: {read()}")


def _progress(at) -> str:
    """The overview's progress text ("2 of 5 steps done · ...")."""
    return " ".join(p.proto.text for p in at.get("progress"))


def test_the_tour_lists_its_five_steps_with_times_and_nothing_done(tiny):
    at = _page(TOUR, tiny)
    assert not at.exception, at.exception
    titles = [h.value for h in at.subheader]
    assert [t.split(" · ")[0] for t in titles] == ["1", "2", "3", "4", "5"]
    assert "Zero-shot" in titles[0] and "LoRA" in titles[2] and "report" in titles[4]
    expected = [c.value for c in at.caption if c.value.startswith("Expected:")]
    here = "on this machine's CPU."
    assert expected[:2] == [f"Expected: ~1 min {here}"] * 2
    assert expected[3:] == [f"Expected: ~2.5 min {here}", f"Expected: ~1.5 min {here}"]
    # the training step: the Train page's estimate of the same config, written as it writes it
    from core.train_model import estimate
    from ui.training import duration

    seconds = estimate(tour.tour_train_config())[0]
    assert expected[2] == f"Expected: about {duration(seconds)} (m:ss) here, the Train page's " \
                          "estimate for this run from this machine's measured training speed."
    assert sum(s.seconds for s in tour.STEPS) <= 600  # the lesson fits 10 minutes
    text = _text(at)  # what to say sits in the presenter's notes, collapsed
    notes = [e for e in at.expander if e.label == "Presenter's notes: what to say"]
    assert len(notes) == 5 and "**Say:**" not in text
    assert "POSITIVE to almost everything" in " ".join(m.value for m in notes[0].markdown)
    script = [e for e in at.expander if e.label.startswith("Presenter's script")]
    assert script and "# The 10-minute lesson: presenter's script" in script[0].markdown[0].value
    assert at.button(key="tour_compare").disabled  # nothing to compare before the run
    assert not at.button(key="tour_zero_run").disabled


def test_step_1_scores_12_reviews_and_opens_one_it_got_wrong_in_the_playground(tiny):
    at = _page(TOUR, tiny)
    at.button(key="tour_zero_run").click().run()
    assert not at.exception, at.exception
    check = tour.saved_checks()["zero"]
    assert len(check.rows) == 12 and sum(check.answers.values()) == 12
    assert f"{check.correct} of 12 right" in _text(at)
    assert "1 of 5 steps done" in _progress(at)
    at.button(key="tour_zero_play").click().run()
    assert not at.exception, at.exception
    assert at.radio(key="play_mode").value == "Zero-shot"
    assert at.text_area(key="play_input").value == tour.playground_review(check)
    assert "Classify the sentiment" in at.text_area(key="play_instruction").value


def test_step_2_saves_the_set_scores_the_same_12_reviews_and_opens_a_test_review(tiny):
    at = _page(TOUR, tiny)
    at.button(key="tour_shots_run").click().run()
    assert not at.exception, at.exception
    assert list_sets() == ["tour-4-shot"]
    saved = load_set("tour-4-shot")
    assert len(saved.examples) == 4 and set(saved.labels) == {"POSITIVE", "NEGATIVE", "MIXED"}
    assert {e.label for e in saved.examples} == set(saved.labels)  # every label shown
    # step 2 shows its own score on the same 12 reviews against zero-shot (measured too,
    # since step 1 was skipped), and both steps are done with their tables
    checks = tour.saved_checks()
    zero, shots = checks["zero"], checks["shots"]
    assert [r["review"] for r in zero.rows] == [r["review"] for r in shots.rows]
    assert f"With 4 examples: {shots.correct} of 12 right, against {zero.correct} of 12 " \
           "zero-shot (step 1)" in _text(at)
    assert "2 of 5 steps done" in _progress(at)
    # the Playground, on the few-shot technique with the set and a TEST review, not a shot
    at.button(key="tour_shots_play").click().run()
    assert not at.exception, at.exception
    assert at.radio(key="play_mode").value == "Few-shot"
    assert at.selectbox(key="play_set").value == "tour-4-shot" and at.slider(key="play_k").value == 4
    query = at.text_area(key="play_input").value
    assert query in [r["review"] for r in shots.rows]
    assert query not in [e.input for e in saved.examples]
    assert saved.examples[0].input in _text(at)  # the exact text the model sees


def test_a_new_session_shows_every_done_step_with_its_result(tiny):
    first = _page(TOUR, tiny)
    first.button(key="tour_zero_run").click().run()
    first.button(key="tour_shots_run").click().run()
    checks = tour.saved_checks()
    back = _page(TOUR, tiny)  # a reload, a new tab: nothing in this session's state
    assert not back.exception, back.exception
    assert "2 of 5 steps done" in _progress(back)
    text = _text(back)
    assert f"Zero-shot** on the first 12 test reviews: **{checks['zero'].correct} of 12" in text
    assert f"With 4 examples: {checks['shots'].correct} of 12 right" in text
    assert len(back.dataframe) >= 3  # step 1's table, step 2's examples and its table
    assert not back.button(key="tour_zero_play").disabled
    assert not back.button(key="tour_shots_play").disabled


def test_steps_3_to_5_train_compare_and_report_then_a_restart_finds_them(tiny, tiny_tour):
    at = _page(TOUR, tiny)
    at.button(key="tour_train").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["tour_run"]
    run = _wait(lambda: runs.get_run(run_id), lambda r: r.status in runs.FINAL, "the tour run")
    assert run.status == "succeeded", (run.run_dir / "log.txt").read_text()[-2000:]
    assert run.config["max_steps"] == 2 and run.config["model"] == tiny_tour.model

    at = _page(TOUR, tiny)  # a new session: the run is found by its config
    assert at.session_state["tour_run"] == run_id
    assert at.button(key="tour_train").label == "Train again (a new run)"
    at.number_input(key="tour_n").set_value(30)
    at.button(key="tour_compare").click().run()
    assert not at.exception, at.exception
    comparison = _wait(lambda: get_comparison(at.session_state["tour_cmp"]),
                       lambda c: c.status not in ("queued", "running"), "the comparison")
    assert comparison.status == "succeeded", (comparison.folder / "log.txt").read_text()[-2000:]
    assert comparison.variants == tour.VARIANT_NAMES

    again = _page(TOUR, tiny)  # an app restart: both are found again
    assert not again.exception, again.exception
    assert again.session_state["tour_cmp"] == comparison.id
    text = _text(again) + " ".join(str(e.value) for e in again.success)
    assert "on 30 test reviews took" in text
    assert "Break-even" in text and "Where prompting is enough" in text
    table = again.get("table")[0].proto.arrow_data.data if again.get("table") else b""
    assert b"LoRA live demo (tour)" in table and b"few-shot 8" in table
    assert len(again.get("plotly_chart")) >= 3  # the loss curve, accuracy bars, quality vs cost
    assert [b for b in again.get("download_button") if b.proto.label.startswith("Download the report")]
    assert "2 of 5 steps done" in _progress(again)  # 3 and 4: steps 1 and 2 were not done
    report = [b for b in again.get("download_button") if b.proto.label.startswith("Download the report")]
    assert not tour.report_downloaded(comparison.id)
    tour.mark_report_downloaded(comparison.id)  # what the download button's click records
    assert "3 of 5 steps done" in _progress(_page(TOUR, tiny)) and report


def test_start_over_forgets_the_tour_but_keeps_the_lab(tiny, tiny_tour):
    run_dir = runs.create_run(tiny_tour)
    runs.write_status(run_dir, status="succeeded")
    tour.save_tour_set()
    at = _page(TOUR, tiny)
    at.button(key="tour_zero_run").click().run()
    assert "zero" in tour.saved_checks()
    assert at.session_state["tour_run"] == run_dir.name
    at.button(key="tour_reset").click().run()
    assert not at.exception, at.exception
    assert at.session_state["tour_run"] is None and list_sets() == []
    assert tour.saved_checks() == {} and "0 of 5 steps done" in _progress(at)
    assert [r.id for r in runs.list_runs()] == [run_dir.name]  # the run itself stays
    assert tour.find_tour_run() is None
