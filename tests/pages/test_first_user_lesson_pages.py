"""What a first-time user hit on the Few-shot builder and the lesson, under AppTest on the tiny
model: the preview's query is never one of its shots and says where it came from; a small
upload's validation slice shrinks with a message; the shots curve shows 95% intervals; the
lesson's presenter's notes and script open in the app."""

from __future__ import annotations

import pandas as pd
import pytest

from core.config import ModelSpec
from core.fewshot import list_sets, load_set
from core.tasks import load_task
from tests.pages.test_pages import _page, _text, fresh_caches  # noqa: F401 - fixture

BUILDER = "pages/3_Few-shot_builder.py"
TOUR = "pages/0_Tour.py"


@pytest.fixture
def tiny(tiny_long_model_dir):
    return ModelSpec(source=str(tiny_long_model_dir), dtype="float32")


def _preview(at) -> str:
    return next(c.value for c in at.code if c.value.count("Sentiment:") >= 2)


def _query_of(preview: str) -> str:
    return preview.rsplit("Review:", 1)[1].rsplit("Sentiment:", 1)[0].strip()


def _shots_of(preview: str) -> list[str]:
    parts = preview.split("Review:")[1:-1]
    return [p.rsplit("Sentiment:", 1)[0].strip() for p in parts]


def _loaded(tiny, n: int = 12):
    at = _page(BUILDER, tiny)
    at.number_input(key="fs_n").set_value(n)
    at.button(key="fs_load_task").click().run()
    assert not at.exception, at.exception
    return at


def test_an_empty_query_box_asks_a_test_review_not_row_1(tiny):
    at = _loaded(tiny)
    table_inputs = list(at.session_state["fs_table"]["input"])
    first_test = load_task("review-sentiment").examples("test")[0].input
    for strategy in ("manual", "random", "balanced"):
        at.selectbox(key="fs_strategy").set_value(strategy).run()
        assert not at.exception, at.exception
        preview = _preview(at)
        query, shots = _query_of(preview), _shots_of(preview)
        assert query == first_test and query not in shots and query not in table_inputs
        assert len(shots) == 4, (strategy, shots)
        assert any("Query (the box is empty): test example 1 of Review sentiment" in c.value
                   for c in at.caption), strategy


def test_a_typed_query_that_is_row_1_is_left_out_of_the_manual_shots(tiny):
    at = _loaded(tiny)
    row_1 = at.session_state["fs_table"]["input"][0]
    at.selectbox(key="fs_strategy").set_value("manual").run()
    at.text_area(key="fs_query").set_value(f"  {row_1.upper()} ").run()
    preview = _preview(at)
    assert row_1 not in _shots_of(preview) and len(_shots_of(preview)) == 3
    assert "**Preview** · 3 examples" in _text(at)
    assert any("also an example in the table: it is left out of the shots" in c.value
               for c in at.caption)
    at.text_input(key="fs_name").set_value("no-leak").run()
    at.button(key="fs_save").click().run()
    assert list_sets() == ["no-leak"]
    assert row_1 not in [e.input for e in load_set("no-leak").examples]


def test_without_a_task_the_query_is_a_table_row_that_is_no_shot(tiny):
    at = _page(BUILDER, tiny)
    rows = [{"use": i < 4, "order": i + 1, "input": f"review number {i} was {'good' if i % 2 else 'bad'}",
             "label": "POSITIVE" if i % 2 else "NEGATIVE"} for i in range(6)]
    at.session_state["fs_table"] = pd.DataFrame(rows)
    at.session_state["fs_table_version"] = 77
    at.session_state["fs_template"] = "Review: {input}\nSentiment:"
    at.selectbox(key="fs_strategy").set_value("manual").run()
    preview = _preview(at)
    assert _query_of(preview) == rows[-1]["input"] and len(_shots_of(preview)) == 4
    assert _query_of(preview) not in _shots_of(preview)
    assert any("the table's last example that is not one of the shots" in c.value
               for c in at.caption)


def _thirty_rows(at) -> None:
    rows = [{"use": False, "order": i + 1, "input": f"review {i}: {'fine' if i % 2 else 'awful'}",
             "label": "POSITIVE" if i % 2 else "NEGATIVE"} for i in range(30)]
    at.session_state["fs_table"] = pd.DataFrame(rows)
    at.session_state["fs_table_version"] = 88
    at.session_state["fs_source_task"] = None


def test_a_30_row_table_keeps_a_pool_and_the_curve_shows_intervals(tiny):
    at = _page(BUILDER, tiny)
    _thirty_rows(at)
    at.run()
    assert at.number_input(key="fs_val_n").value == 30  # the default, too many for 30 rows
    at.button(key="fs_curve").click().run()
    assert not at.exception, at.exception
    notes = " ".join(str(w.value) for w in at.warning)
    assert "The table has 30 examples: too few to keep 30 for validation" in notes
    assert "last 22 rows for validation and the other 8 as the pool" in notes
    frame = at.dataframe[-1].value
    assert list(frame["k"]) == [0, 1, 2, 4, 8] and set(frame["correct"].str[-3:]) == {"/22"}
    assert list(frame["examples used"]) == [0, 1, 2, 4, 8]
    for text in frame["95% interval"]:
        low, high = (float(x) for x in text.split(" – "))
        assert 0 <= low < high <= 1 and high - low > 0.1  # 22 examples: wide (0/22 still 0-0.15)
    chart = next(c.proto.spec for c in at.get("plotly_chart") if "How many shots?" in c.proto.spec)
    assert "95% intervals" in chart and '"error_y"' in chart


def test_a_small_upload_gets_a_validation_count_that_fits(tiny):
    at = _page(BUILDER, tiny)
    data = "text,label\n" + "".join(f"item {i} is {'ok' if i % 2 else 'bad'},{'POS' if i % 2 else 'NEG'}\n"
                                    for i in range(20))
    at.file_uploader(key="fs_upload").set_value(("tiny.csv", data.encode(), "text/csv")).run()
    at.button(key="fs_use_upload").click().run()
    assert not at.exception, at.exception
    assert at.number_input(key="fs_val_n").value == 12  # 20 rows, 8 kept to draw shots from
    assert any("The last 12 rows of the table are the validation slice; the other 8 are the pool"
               in c.value for c in at.caption)
    at.number_input(key="fs_val_n").set_value(30).run()  # asked for more: said before measuring
    assert any("The table has 20 examples: too few to keep 30 for validation" in c.value
               for c in at.caption)


def test_the_lesson_serves_its_presenter_script_and_notes(tiny):
    at = _page(TOUR, tiny)
    assert not at.exception, at.exception
    labels = [e.label for e in at.expander]
    assert labels.count("Presenter's notes: what to say") == 5
    script = [b for b in at.get("download_button") if b.proto.label == "Download the script (Markdown)"]
    assert script, [b.proto.label for b in at.get("download_button")]
    assert "docs/demo.md" not in " ".join(c.value for c in at.caption if "Each step" in c.value)


def _lesson_results(tuned_acc: tuple[float, float, float]) -> dict:
    def variant(name, kind, acc, tokens, **extra):
        value, low, high = acc
        return {"name": name, "kind": kind, "prompt_tokens_mean": tokens,
                "completion_tokens_mean": 1.0, "error": None,
                "metrics": {"accuracy": {"value": value, "low": low, "high": high}}, **extra}

    from core import tour

    return {"id": "c1", "prices": {"input_per_million": 0.1, "output_per_million": 0.4},
            "variants": [variant("zero-shot", "zero-shot", (0.4, 0.3, 0.5), 49),
                         variant("few-shot 4", "few-shot", (0.9, 0.85, 0.95), 190),
                         variant(tour.TUNED, "fine-tuned", tuned_acc, 30,
                                 training_cost=0.001, train_seconds=70.0)]}


def test_the_lessons_closing_talk_gives_no_break_even_for_a_clearly_worse_tuned_model():
    from core import tour
    from ui.tour import stakeholder_text

    worse = tour.takeaways(_lesson_results((0.73, 0.66, 0.8)))
    assert worse.break_even is None and round(worse.worse_by, 2) == 0.17
    text = stakeholder_text(worse)
    assert "0.17 lower than four examples" in text and "paid back" not in text
    level = tour.takeaways(_lesson_results((0.91, 0.86, 0.96)))
    assert level.worse_by is None and level.break_even and level.break_even > 0
    assert "paid back" in stakeholder_text(level)
