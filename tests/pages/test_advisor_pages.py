"""The Advisor page under AppTest: the plan before Start, a bad budget, Start, a live sweep's
finished points, a crashed one's Resume, and a finished advice. No model loads: the planner and
the sweep's process are stood in for; the advice folders are the ones core.advice_job makes."""

from __future__ import annotations

import json

import pytest

import ui.advisor
from core import advice_job, jobs
from core.advice_plan import AdviceConfig, Plan, PlannedPoint, Point
from core.compare import EXAMPLE_PRICES, Prices
from core.errors import LabError
from streamlit.testing.v1 import AppTest

from tests.pages.test_pages import ROOT, TIMEOUT, _page, _text, fresh_caches  # noqa: F401

ADVISOR = "pages/9_Advisor.py"


def _plan(config: AdviceConfig) -> Plan:
    """What the planner would say for a quick advice: two points, one left out."""
    return Plan(points=(PlannedPoint(Point("prompt", shots=0), 20.0, "k-zero"),
                        PlannedPoint(Point("tuned", rows=50), 95.0, "k-lora50")),
                left_out=((Point("prompt", shots=8), "8 shots do not fit the 2048-token context"),),
                budget_s=config.budget_s)


@pytest.fixture
def planner(monkeypatch):
    """The planner stood in for (it measures this machine's speed); the configs it was asked."""
    asked: list[AdviceConfig] = []

    def fake(config, engines=None):
        asked.append(config)
        return _plan(config)
    monkeypatch.setattr(ui.advisor, "plan", fake)
    return asked


@pytest.fixture
def spawned(monkeypatch):
    """start_advice makes the advice's folder as core does, without starting its process."""
    started: list[AdviceConfig] = []

    def fake(config):
        started.append(config)
        return advice_job.create_advice(config)[0]
    monkeypatch.setattr(advice_job, "start_advice", fake)
    return started


def _errors(at) -> str:
    return "\n".join(e.value for e in at.error)


def test_the_plan_shows_before_start_with_each_estimate_and_the_total(planner):
    at = _page(ADVISOR)
    assert not at.exception, at.exception
    text = _text(at)
    assert "The plan: 2 points, about 1:55 in all" in text and "a budget of 10:00" in text
    assert "speed measured on this machine" in text
    plan_rows = at.table[0].value
    assert list(plan_rows["point"]) == ["zero-shot", "LoRA 50 rows"]
    assert list(plan_rows["estimate"]) == ["0:20", "1:35"]
    assert "8-shot: 8 shots do not fit the 2048-token context" in text  # left out, and why
    assert planner[-1].task == "review-sentiment" and planner[-1].budget == "quick"


def test_the_advanced_choices_reach_the_plan(planner):
    at = _page(ADVISOR)
    at.text_input(key="adv_shots").set_value("0, 2")
    at.text_input(key="adv_rows").set_value("25, all")
    at.number_input(key="adv_n").set_value(20)
    at.toggle(key="adv_hybrids").set_value(False)
    at.radio(key="adv_budget").set_value("Thorough (about an hour)").run()
    assert not at.exception, at.exception
    config = planner[-1]
    assert (config.shots, config.rows, config.n_examples, config.hybrids, config.budget) == \
        ((0, 2), (25, 0), 20, False, "thorough")


def test_a_bad_custom_budget_says_how_to_write_it_and_keeps_what_was_typed(planner, spawned):
    at = _page(ADVISOR)
    at.radio(key="adv_budget").set_value("Custom").run()
    at.text_input(key="adv_custom").set_value("three weeks").run()
    assert "The custom budget 'three weeks' cannot be used" in _errors(at)
    assert "Write minutes (45)" in _errors(at)
    assert not [b for b in at.button if b.key == "adv_start"]  # nothing to start
    assert at.text_input(key="adv_custom").value == "three weeks"
    at.text_input(key="adv_custom").set_value("45").run()  # a bare number is minutes
    assert not at.error and planner[-1].budget == "45m"
    assert "a budget of 45:00" in _text(at)


def test_a_list_that_cannot_be_read_names_the_field(planner):
    at = _page(ADVISOR)
    at.text_input(key="adv_rows").set_value("25, lots").run()
    assert "Training rows: 'lots' is not a whole number." in _errors(at)
    assert at.text_input(key="adv_rows").value == "25, lots"


def test_a_plan_that_cannot_be_made_says_why_and_how_to_fix_it(monkeypatch):
    def refuse(config, engines=None):
        raise LabError("The task has no train split.", "Add training rows on the Tasks page.")
    monkeypatch.setattr(ui.advisor, "plan", refuse)
    at = _page(ADVISOR)
    assert "The task has no train split." in _errors(at) and "Tasks page" in _errors(at)


def test_start_starts_the_advice_and_shows_it_queued(planner, spawned):
    at = _page(ADVISOR)
    at.text_input(key="adv_shots").set_value("0, 2").run()
    at.button(key="adv_start").click().run()
    assert not at.exception, at.exception
    assert [c.shots for c in spawned] == [(0, 2)]
    [job] = advice_job.list_advice()
    assert at.session_state["adv_selected"] == job.id
    assert at.query_params["advice"] == job.id  # a reload reopens it
    assert any(p.proto.text.startswith("Queued") for p in at.get("progress")), _text(at)


PRICE_KEYS = ("adv_price_in", "adv_price_out", "adv_gpu_hour", "adv_cpu_hour")


def test_the_price_fields_start_at_the_example_prices_under_the_compare_pages_labels(planner):
    at = _page(ADVISOR)
    assert not at.exception, at.exception
    fields = [at.number_input(key=key) for key in PRICE_KEYS]
    assert [f.value for f in fields] == [0.10, 0.40, 1.20, 0.05]  # core.compare.EXAMPLE_PRICES
    assert [f.label for f in fields] == ["$ per 1M prompt tokens", "$ per 1M answer tokens",
                                         "$ per GPU-hour (training)", "$ per CPU-hour (training)"]
    assert planner[-1].prices == EXAMPLE_PRICES


def test_a_changed_price_reaches_the_advice_started_and_an_emptied_one_is_unknown(planner,
                                                                                   spawned):
    at = _page(ADVISOR)
    planned_before = len(planner)
    at.number_input(key="adv_price_in").set_value(2.5)
    at.number_input(key="adv_gpu_hour").set_value(None).run()  # emptied: unknown, not $0
    assert not at.exception and not at.error, (at.exception, _errors(at))
    assert len(planner) == planned_before  # prices change no point: nothing planned again
    at.button(key="adv_start").click().run()
    assert not at.exception, at.exception
    [config] = spawned
    assert config.prices == Prices(input_per_million=2.5, output_per_million=0.40,
                                   gpu_hour=None, cpu_hour=0.05)
    assert AdviceConfig.from_dict(json.loads(json.dumps(config.to_dict()))).prices == \
        config.prices  # as the advice's folder keeps it for the sweep's process


def _record(name: str, family: str, labelled: int, value: float) -> dict:
    return {"key": f"k-{name}", "name": name, "family": family, "labelled": labelled,
            "row": {"name": name, "metrics": {"accuracy": {"value": value, "low": value - 0.1,
                                                           "high": value + 0.05}}},
            "seconds": 12.5, "reused": family == "prompted"}


def test_a_live_advice_shows_its_finished_points_as_they_come(monkeypatch, spawned, planner):
    config = AdviceConfig(task="review-sentiment")
    advice_id, folder = advice_job.create_advice(config)
    (folder / "plan.json").write_text(json.dumps(_plan(config).to_dict()))  # as the sweep does
    monkeypatch.setattr(ui.advisor, "cached_records", lambda config, plan, since=None: [
        _record("zero-shot", "prompted", 0, 0.61), _record("LoRA 50 rows", "tuned", 50, 0.8)])

    def too_few(*args, **kwargs):
        raise LabError("Too few points for a curve.")
    monkeypatch.setattr(ui.advisor, "build_advice", too_few)
    at = _page(ADVISOR)
    assert not at.exception, at.exception
    assert at.session_state["adv_selected"] == advice_id  # a live one opens by itself
    assert "Finished points (2)" in _text(at)
    table = at.dataframe[-1].value
    assert list(table["point"]) == ["zero-shot", "LoRA 50 rows"]
    assert list(table["accuracy"]) == [0.61, 0.8] and list(table["reused"]) == ["yes", ""]
    assert [b for b in at.button if b.key == "adv_cancel"]


def test_a_live_advice_draws_its_finished_points_on_the_curve(monkeypatch, planner):
    from tests.core.test_advice_result import _record as finished

    config = AdviceConfig(task="review-sentiment")
    advice_id, folder = advice_job.create_advice(config)
    (folder / "plan.json").write_text(json.dumps(_plan(config).to_dict()))
    records = [finished("zero-shot", "prompted", 0.5),
               finished("LoRA 50 rows", "tuned", 0.7, rows=50, train_seconds=40.0)]
    monkeypatch.setattr(ui.advisor, "cached_records", lambda config, plan, since=None: records)
    at = _page(ADVISOR)
    assert not at.exception, at.exception
    assert "Finished points (2)" in _text(at)
    assert "Quality against labelled examples" in at.get("plotly_chart")[0].proto.spec
    assert list(at.dataframe[-1].value["Point"]) == ["zero-shot", "LoRA 50 rows"]


def _ended(status: str) -> str:
    advice_id, folder = advice_job.create_advice(AdviceConfig(task="review-sentiment"))
    jobs.write_status(folder, status=status, problem="It stopped unexpectedly: its process "
                      "ended.", fix="Press Resume.")
    return advice_id


def test_a_crashed_advice_offers_resume_which_reuses_its_finished_points(monkeypatch, planner):
    advice_id = _ended("crashed")
    resumed: list[str] = []
    monkeypatch.setattr(ui.advisor, "resume_advice", lambda i: resumed.append(i))
    monkeypatch.setattr(ui.advisor, "cached_records", lambda config, plan, since=None: [])
    at = _page(ADVISOR)
    assert not at.exception, at.exception
    assert "crashed" in _errors(at) and "Press Resume." in _errors(at)
    assert "the points it finished are reused" in _text(at)
    at.button(key="adv_resume").click().run()
    assert resumed == [advice_id]


def test_an_address_with_an_advice_opens_that_one(planner):
    older = _ended("cancelled")
    advice_job.create_advice(AdviceConfig(task="review-sentiment"))  # newer, and live
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page(ADVISOR)
    at.query_params["advice"] = older  # a reload, a bookmark
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["adv_selected"] == older
    assert any("This advice cancelled after 0 of" in w.value for w in at.warning)


def _finished(advice: dict) -> str:
    """A succeeded advice's folder, as the sweep's process leaves it."""
    advice_id, folder = advice_job.create_advice(AdviceConfig(task="review-sentiment"))
    (folder / "advice.json").write_text(json.dumps(advice))
    jobs.write_status(folder, status="succeeded", started_s=100.0, ended_s=592.0)
    return advice_id


def _hand_made_advice() -> dict:
    from tests.core.test_advice_report import advice

    made = advice.__wrapped__()
    made["points"][-2]["run_id"] = "20261201-100000-lora-ab12"  # LoRA 100 rows, the best tuned
    return made


def test_a_finished_advice_shows_the_recommendation_first_then_chart_tables_and_downloads(planner):
    made = _hand_made_advice()
    advice_id = _finished(made)
    at = _page(ADVISOR)
    assert not at.exception, at.exception
    assert at.session_state["adv_selected"] == advice_id
    assert "Finished in 8:12: 9 points (1 reused from earlier sweeps)." in _text(at)
    assert "Recommendation: Prompting" in [h.value for h in at.subheader]
    said = [i.value for i in at.info]
    assert any("Prompting is enough: 4-shot is level with LoRA." in s and
               "No tuned point beat it on the paired test." in s for s in said), said
    assert "Quality against labelled examples" in at.get("plotly_chart")[0].proto.spec
    text = _text(at)
    assert [m.label for m in at.metric] == ["Best prompted", "Best fine-tuned", "Best hybrid"]
    assert [m.value for m in at.metric] == ["0.72", "0.70", "0.74"]
    assert "4-shot · 95% interval 0.60–0.82" in text
    assert "Rows needed to beat the best prompt:** About 140 training rows" in text
    assert "inverse power law" in text  # the curve's model is named
    assert "Not run: LoRA 200 rows: the budget ran out" in text
    assert list(at.table[-1].value.columns) == ["Factor", "Prompting", "Fine-tuning"]
    assert "Costs and break-even are figured at $0.10 per million prompt tokens" in \
        text.replace("\\", "")  # beside the factors table: which prices, and whose
    tables = [d.value for d in at.dataframe]
    assert any("What it means" in t.columns for t in tables)  # the paired differences
    assert any(list(t.get("Point", [])) == [p["name"] for p in made["points"]] for t in tables)
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download the report (HTML, works offline)", "Download the config (JSON)"]
    assert any("python -m core advise review-sentiment --budget quick" in c.value for c in at.code)


def test_the_best_tuned_run_opens_on_the_runs_page(planner):
    _finished(_hand_made_advice())
    at = _page(ADVISOR)
    at.button(key="adv_to_runs").click().run()
    assert not at.exception, at.exception
    assert "Runs" in at.title[0].value
