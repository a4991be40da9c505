"""The advisor's report: the learning-curve chart, its tables and the offline HTML page.

The advice dict is built by hand in the shape of ``advice.json`` (spec: core.advice_result):
zero-shot, k-shot points (4-shot drawn twice), LoRA at 25, 50 (two seeds) and 100 rows, a
hybrid, a fitted curve with an extrapolated part and a rows-needed estimate.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.parse

import pytest

from core import advice_report
from core.compare import Prices
from core.config import DEFAULT_MODEL
from core.advice_report import (advice_html, curve_figure, factors_table, pairs_table,
                                points_table, reproduce_command)


def _point(name, family, labelled, value, low, high, **extra):
    point = {"name": name, "family": family, "kind": "tuned" if family == "tuned" else "prompt",
             "labelled": labelled, "shots": 0, "rows": 0, "seed": 0, "value": value, "low": low,
             "high": high, "seconds": 12.0, "train_seconds": None, "reused": False,
             "run_id": None, "prompt_tokens_mean": 80.0}
    point.update(extra)
    return point


POINTS = [
    _point("zero-shot", "prompted", 0, 0.55, 0.42, 0.67),
    _point("1-shot", "prompted", 1, 0.60, 0.47, 0.72, shots=1, prompt_tokens_mean=120.0),
    _point("4-shot", "prompted", 4, 0.72, 0.60, 0.82, shots=4, prompt_tokens_mean=240.0),
    _point("4-shot (draw 2)", "prompted", 4, 0.66, 0.53, 0.77, shots=4, seed=1),
    _point("LoRA 25 rows", "tuned", 25, 0.50, 0.37, 0.62, rows=25, train_seconds=30.2),
    _point("LoRA 50 rows", "tuned", 50, 0.62, 0.49, 0.73, rows=50, train_seconds=41.0,
           reused=True),
    _point("LoRA 50 rows (seed 1)", "tuned", 50, 0.58, 0.45, 0.70, rows=50, seed=1,
           train_seconds=40.0),
    _point("LoRA 100 rows", "tuned", 100, 0.70, 0.57, 0.80, rows=100, train_seconds=64.5),
    _point("LoRA 100 rows + 4-shot", "hybrid", 104, 0.74, 0.62, 0.84, rows=100, shots=4),
]


@pytest.fixture
def advice() -> dict:
    examples = [{"id": f"t-{i}", "input": "x", "reference": "A", "outputs": {}}
                for i in range(40)]
    return {
        "version": 1, "created_at": "2026-12-01T10:00:00+00:00", "duration_s": 492.0,
        "config": {"task": "review-sentiment", "budget": "quick", "model": "embedded:gemma-3-270m",
                   "engine": "auto", "n_examples": None, "shots": [0, 1, 2, 4, 8],
                   "rows": [25, 50, 100, 200, 0], "seeds": None, "hybrids": True, "seed": 0,
                   "prices": {"input_per_million": 0.1, "output_per_million": 0.4,
                              "gpu_hour": 1.2, "cpu_hour": 0.05}, "train": {}},
        "task": {"name": "review-sentiment", "title": "Review sentiment",
                 "kind": "classification"},
        "metric": "accuracy",
        "results": {"task": {"name": "review-sentiment", "kind": "classification"},
                    "config": {"n_examples": 40}, "examples": examples,
                    "variants": [{"name": p["name"], "engine": "llama.cpp",
                                  "train_device": "cpu" if p["family"] == "tuned" else None}
                                 for p in POINTS]},
        "points": copy.deepcopy(POINTS),
        "curve": {"model": "inverse power law q(n) = a - b·n^-c",
                  "params": {"a": 0.8, "b": 1.5, "c": 0.5},
                  "fitted": [[25, 0.52], [50, 0.61], [100, 0.69]],
                  "extension": [[100, 0.69], [150, 0.72], [200, 0.74]],
                  "target": {"name": "4-shot", "value": 0.72},
                  "n_needed": {"estimate": 140.0, "low": 90.0, "high": 260.0, "measured": None,
                               "reached": True, "extrapolated": True,
                               "words": "About 140 training rows (95% interval 90 to 260), "
                                        "extrapolated past the 100 rows measured."}},
        "best": {"prompted": "4-shot", "tuned": "LoRA 100 rows",
                 "hybrid": "LoRA 100 rows + 4-shot", "retrieval": None},
        "pairs": [{"leader": "4-shot", "other": "LoRA 100 rows", "metric": "accuracy", "n": 40,
                   "difference": 0.025, "low": -0.1, "high": 0.15, "b01": 3, "b10": 4,
                   "p": 1.0, "tie": False, "real": False},
                  {"leader": "LoRA 100 rows + 4-shot", "other": "LoRA 100 rows",
                   "metric": "accuracy", "n": 40, "difference": 0.1, "low": 0.025,
                   "high": 0.2, "b01": 0, "b10": 4, "p": 0.0125, "tie": False, "real": True}],
        "factors": [{"factor": "Setup time", "prompting": "minutes", "fine-tuning": "65 s",
                     "retrieval": ""},
                    {"factor": "Data needed", "prompting": "4 examples",
                     "fine-tuning": "about 140 rows", "retrieval": ""}],
        "recommendation": {"choice": "prompting",
                           "sentences": ["Prompting is enough: 4-shot is level with LoRA.",
                                         "No tuned point beat it on the paired test."]},
        "skipped": [{"name": "LoRA 200 rows", "reason": "the budget ran out"},
                    {"name": "8-shot", "reason": "8 shots do not fit the 2048-token context"}]}


def _trace(fig, start):
    found = [t for t in fig.data if (t.name or "").startswith(start) and t.showlegend is not False]
    assert found, f"no trace named {start!r}: {[t.name for t in fig.data]}"
    return found[0]


# --- the chart ---------------------------------------------------------------------------------

def test_chart_shows_prompted_and_tuned_points_with_every_seed_and_intervals(advice):
    fig = curve_figure(advice)
    assert fig.layout.title.text == "Quality against labelled examples"
    prompted = _trace(fig, "prompted")
    # zero-shot is a level line, not a point at 0
    assert list(prompted.x) == pytest.approx([1, 4 / 1.05 ** 0.5, 4 * 1.05 ** 0.5])
    tuned = _trace(fig, "fine-tuned")
    # the two seeds at 50 rows sit a little apart, so their intervals read one by one
    assert list(tuned.x) == pytest.approx([25, 50 / 1.05 ** 0.5, 50 * 1.05 ** 0.5, 100])
    assert list(tuned.y) == [0.50, 0.62, 0.58, 0.70]
    assert [c[2] for c in tuned.customdata] == [25, 50, 50, 100]
    assert list(tuned.error_y.array) == pytest.approx([0.12, 0.11, 0.12, 0.10])
    assert list(tuned.error_y.arrayminus) == pytest.approx([0.13, 0.13, 0.13, 0.13])
    mean = [t for t in fig.data if t.name == f"{tuned.name} (mean)"][0]
    assert list(mean.x) == [25, 50, 100] and mean.y[1] == pytest.approx(0.60)
    hybrid = _trace(fig, "hybrid")
    assert list(hybrid.x) == [104] and "LoRA 100 rows + 4-shot" in hybrid.customdata[0]


def test_chart_draws_zero_shot_and_the_best_prompt_as_level_lines(advice):
    fig = curve_figure(advice)
    zero = _trace(fig, "zero-shot (0 examples): 0.55")
    best = _trace(fig, "best prompt, 4-shot: 0.72")
    assert set(zero.y) == {0.55} and set(best.y) == {0.72}
    assert zero.line.dash == best.line.dash == "dash"
    # they span the axis: from its left end to its right end
    low, high = fig.layout.xaxis.range
    assert best.x[0] == pytest.approx(10 ** low) and best.x[1] == pytest.approx(10 ** high)


def test_chart_marks_the_fitted_curve_its_extrapolation_and_the_rows_needed(advice):
    fig = curve_figure(advice)
    fitted = [t for t in fig.data if t.name == "fitted curve"][0]
    assert fitted.line.dash == "dot" and list(fitted.x) == [25, 50, 100]
    extension = _trace(fig, "fitted curve, extrapolated")
    assert list(extension.x) == [100, 150, 200] and extension.opacity < 1
    line = _trace(fig, "rows needed to match the best prompt: about 140, extrapolated")
    assert set(line.x) == {140.0}
    band = _trace(fig, "95% interval of the rows needed: 90 to 260")
    assert band.fill == "toself" and min(band.x) == 90 and max(band.x) == 260


def test_chart_band_reaches_the_edge_when_the_interval_has_no_top(advice):
    advice["curve"]["n_needed"]["high"] = None
    fig = curve_figure(advice)
    band = _trace(fig, "95% interval of the rows needed: 90 or more")
    assert max(band.x) == pytest.approx(10 ** fig.layout.xaxis.range[1])


def test_chart_without_an_estimate_says_not_reached_and_draws_no_band(advice):
    advice["curve"]["n_needed"].update(estimate=None, low=None, high=None)
    fig = curve_figure(advice)
    assert not [t for t in fig.data if "interval of the rows" in t.name]
    said = _trace(fig, "rows needed to match the best prompt: not reached")
    assert list(said.x) == [None]  # a legend entry, nothing drawn


def test_chart_without_an_estimate_draws_the_measured_crossing(advice):
    advice["curve"]["n_needed"].update(estimate=None, low=None, high=None, measured=100)
    line = _trace(curve_figure(advice), "rows that beat the best prompt (measured")
    assert set(line.x) == {100}


def test_chart_without_tuned_points_says_nothing_of_rows(advice):
    advice["curve"].update(fitted=[], extension=[])
    advice["curve"]["n_needed"].update(estimate=None, low=None, high=None)
    assert not [t for t in curve_figure(advice).data if "rows" in t.name and "LoRA" not in t.name
                and not t.name.startswith("fine-tuned")]


def test_chart_is_readable_labels_in_the_legend_ticks_only_at_used_counts(advice):
    fig = curve_figure(advice)
    assert fig.layout.xaxis.type == "log"
    # a hybrid's 104 labelled examples would print over the 100 rows of its tuned point
    assert list(fig.layout.xaxis.tickvals) == [1, 4, 25, 50, 100]
    assert list(fig.layout.xaxis.ticktext) == ["1", "4", "25", "50", "100"]
    assert all("text" not in (t.mode or "") for t in fig.data)  # no text beside points
    legend = sorted((t for t in fig.data if t.showlegend is not False),
                    key=lambda t: t.legendrank)  # the legend reads points, levels, curve, rows
    assert [t.name.split(":")[0].split(",")[0] for t in legend] == [
        "prompted", "fine-tuned (LoRA)", "hybrid", "zero-shot (0 examples)", "best prompt",
        "fitted curve", "fitted curve", "rows needed to match the best prompt",
        "95% interval of the rows needed"]
    assert not fig.layout.annotations and fig.layout.font.size >= 16
    subtitle = fig.layout.title.subtitle.text
    assert "inverse power law" in subtitle and "40 test examples" in subtitle


def test_ticks_too_close_to_read_apart_keep_the_first(advice):
    advice["points"].append(_point("LoRA 108 rows", "tuned", 108, 0.71, 0.6, 0.8, rows=108))
    assert 108 not in curve_figure(advice).layout.xaxis.tickvals


def test_chart_of_an_advice_with_only_prompts_still_draws(advice):
    advice["points"] = [p for p in advice["points"] if p["family"] == "prompted"]
    advice["curve"] = {"model": "no curve: no tuned point ran", "fitted": [], "extension": [],
                       "target": {"name": "4-shot", "value": 0.72},
                       "n_needed": {"estimate": None, "low": None, "high": None}}
    fig = curve_figure(advice)
    assert [t.name for t in fig.data if t.name.startswith("fine-tuned")] == []
    _trace(fig, "best prompt, 4-shot")


def test_a_best_prompt_that_is_zero_shot_is_one_line(advice):
    advice["curve"]["target"] = {"name": "zero-shot", "value": 0.55}
    names = [t.name for t in curve_figure(advice).data]
    assert "zero-shot (0 examples), the best prompt: 0.55" in names
    assert not [n for n in names if n.startswith("best prompt")]


# --- the tables ---------------------------------------------------------------------------------

def test_points_table_has_a_row_a_point_in_plain_words(advice):
    table = points_table(advice)
    assert list(table.columns) == ["Point", "Family", "Labelled examples",
                                   "Accuracy [95% interval]", "Prompt tokens per query",
                                   "Training (s)", "Time (s)", "Reused from an earlier sweep"]
    assert len(table) == len(POINTS)
    row = table.set_index("Point").loc["LoRA 50 rows"]
    assert row["Family"] == "fine-tuned" and row["Labelled examples"] == 50
    assert row["Accuracy [95% interval]"] == "0.62 [0.49, 0.73]"
    assert row["Reused from an earlier sweep"] == "yes" and row["Training (s)"] == 41.0
    assert table.set_index("Point").loc["zero-shot", "Reused from an earlier sweep"] == "no"


def test_pairs_table_says_real_lead_or_noise(advice):
    table = pairs_table(advice)
    assert list(table.columns) == ["Leader", "Other", "Difference [paired 95% interval]",
                                   "p (McNemar)", "What it means"]
    assert table["Difference [paired 95% interval]"].tolist() == ["0.03 [-0.10, 0.15]",
                                                                  "0.10 [0.03, 0.20]"]
    assert table["What it means"].tolist() == [
        "within noise: this test cannot tell the two apart",
        "real: LoRA 100 rows + 4-shot is better"]
    assert table["p (McNemar)"].tolist() == ["1.00", "0.013"]


def test_factors_table_drops_an_empty_retrieval_column(advice):
    table = factors_table(advice)
    assert list(table.columns) == ["Factor", "Prompting", "Fine-tuning"]
    assert table["Factor"].tolist() == ["Setup time", "Data needed"]
    for row in advice["factors"]:
        row["retrieval"] = "not measured here"  # no retrieval point ran
    assert "Retrieval" not in factors_table(advice)
    advice["factors"][0]["retrieval"] = "an index of 12 documents"
    assert list(factors_table(advice).columns) == ["Factor", "Prompting", "Fine-tuning",
                                                   "Retrieval"]


# --- the command --------------------------------------------------------------------------------

def test_command_of_a_default_config_names_task_and_budget_only(advice):
    assert reproduce_command(advice) == \
        "python -m core advise review-sentiment --budget quick --report advice.html"


def test_command_carries_every_setting_that_is_not_the_default(advice):
    advice["config"].update(task="my task's", budget="10m", n_examples=80, shots=[0, 2, 4],
                            rows=[25, 50, 0], seeds=3, model="embedded:other",
                            engine="llama.cpp", hybrids=False)
    assert reproduce_command(advice) == (
        "python -m core advise 'my task'\"'\"'s' --budget 10m --n-examples 80 --shots 0,2,4 "
        "--rows 25,50,all --seeds 3 --model embedded:other --engine llama.cpp --no-hybrids "
        "--report advice.html")


def test_command_reads_the_saved_config_where_a_setting_has_no_flag(advice):
    advice["config"].update(seed=7, prices={"input_per_million": 0.5, "cpu_hour": None},
                            train={"learning_rate": 0.001})
    assert reproduce_command(advice) == ("python -m core advise review-sentiment --budget quick "
                                         "--config advice-config.json --report advice.html")
    assert advice_report.beyond_flags(advice) == ["seed", "prices", "training overrides"]
    page = advice_html(advice)
    assert "its seed, prices, training overrides have no command-line flag" in page
    link = re.search(r'download="advice-config.json" href="data:application/json;'
                     r'charset=utf-8,([^"]+)"', page)  # saved from the page itself, offline
    assert json.loads(urllib.parse.unquote(link.group(1))) == advice["config"]


# --- the HTML page ------------------------------------------------------------------------------

def test_html_page_opens_offline_and_holds_everything_in_order(advice):
    page = advice_html(advice)
    assert page.startswith("<!DOCTYPE html>")
    assert "Prompt, fine-tune or retrieve? Review sentiment" in page
    assert "2026-12-01 10:00" in page
    heads = re.findall(r"<h2>(.*?)</h2>", page)
    assert heads[0] == "Recommendation" and heads[1] == "Quality against labelled examples"
    assert "Recommendation: Prompting.</strong>" in page
    assert "No tuned point beat it on the paired test." in page
    assert "Quality against labelled examples" in page and "Best fine-tuned" in page
    assert "real: LoRA 100 rows + 4-shot is better" in page
    assert "about 140 rows" in page and "About 140 training rows" in page
    assert "LoRA 200 rows: the budget ran out" in page
    assert "The sweep took 8 min 12 s on this machine" in page
    assert "9 points (1 reused from earlier sweeps), 2 left out" in page
    assert "python -m core advise review-sentiment --budget quick --report advice.html" in page
    assert "&quot;budget&quot;: &quot;quick&quot;" in page  # the config as JSON, escaped
    _assert_self_contained(page)


def _assert_self_contained(page: str) -> None:
    assert page.count("plotly.js v") == 1  # plotly.js inlined once
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link\b", page)
    # plotly.js itself mentions URLs in its code (map tiles it never fetches); nothing else does
    scripts = re.findall(r"<script[^>]*>.*?</script>", page, flags=re.S)
    bundle = [s for s in scripts if "plotly.js v" in s]
    assert len(bundle) == 1
    assert "http" not in page.replace(bundle[0], "")
    assert "cdn" not in page.replace(bundle[0], "").lower()


def test_html_page_shows_user_text_as_text(advice):
    evil = "<script>alert(1)</script>"
    advice["task"]["title"] = evil
    advice["points"][2]["name"] = f"4-shot {evil}"
    advice["skipped"][0]["reason"] = f"because {evil}"
    advice["recommendation"]["sentences"] = [f"Pick {evil} & go."]
    advice["config"]["task"] = evil
    page = advice_html(advice)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "alert(1)</script>" not in page  # not as a tag anywhere, chart data included
    _assert_self_contained(page)


def test_html_page_names_a_point_that_failed_and_why(advice):
    advice["points"].append(_point("LoRA 200 rows", "tuned", 200, None, None, None,
                                   error="out of memory"))
    assert "LoRA 200 rows: could not run: out of memory" in advice_html(advice)
    assert points_table(advice).iloc[-1]["Accuracy [95% interval]"] == "—"


def test_html_page_of_an_advice_without_pairs_or_skips(advice):
    advice.update(pairs=[], skipped=[], factors=[])
    page = advice_html(advice)
    assert "No paired differences" in page and "Every planned point ran." in page


def test_durations_read_as_people_say_them():
    assert [advice_report.fmt_duration(s) for s in (42.4, 492, 3900, None)] == \
        ["42 s", "8 min 12 s", "1 h 5 min", "—"]


# --- on the advice core.advice_result really builds ----------------------------------------------

N = 60
EXAMPLES = [{"id": f"t-{i:03d}", "input": f"review {i}", "reference": "POSITIVE"}
            for i in range(N)]


def _record(name, family, accuracy, shots=0, rows=0, seed=0, reused=False):
    """A finished point as the sweep records it: right on the first round(accuracy * N)."""
    right = [i < round(accuracy * N) for i in range(N)]
    setup = {"name": name, "prompt": {"technique": "few-shot" if shots else "zero-shot",
                                      "shots": shots}}
    setup.update({"model": {"run_id": f"run-{rows}-{seed}"}} if rows else {})
    row = {"name": name, "kind": "fine-tuned" if rows else "few-shot" if shots else "zero-shot",
           "engine": "transformers", "model": DEFAULT_MODEL, "n_shots": shots,
           "n_train_examples": rows or None, "train_seconds": 20.0 + rows / 5 if rows else None,
           "train_device": "cpu" if rows else None, "prompt_tokens_mean": 50.0 + 40 * shots,
           "completion_tokens_mean": 1.0,
           "latency_mean_s": 0.1, "metrics": {"accuracy": {
               "value": sum(right) / N, "low": sum(right) / N - 0.1,
               "high": sum(right) / N + 0.1}}, "error": None, "setup": setup}
    outputs = [{"prediction": "POSITIVE" if r else "NEGATIVE", "correct": r,
                "score": float(r)} for r in right]
    kind = "hybrid" if family == "hybrid" else "tuned" if rows else "prompt"
    return {"key": name, "name": name, "family": family, "labelled": rows + shots,
            "point": {"kind": kind, "shots": shots, "rows": rows, "seed": seed},
            "row": row, "outputs": outputs, "examples": EXAMPLES,
            "task": {"name": "review-sentiment", "title": "Review sentiment",
                     "kind": "classification"},
            "run_id": f"run-{rows}-{seed}" if rows else None,
            "train_seconds": row["train_seconds"], "eval_seconds": 5.0,
            "seconds": 5.0 + (row["train_seconds"] or 0), "reused": reused}


def test_report_of_the_advice_core_builds(lab_home):
    from core.advice_plan import AdviceConfig
    from core.advice_result import build_advice

    records = [_record("zero-shot", "prompted", 0.40), _record("4-shot", "prompted", 0.60, 4),
               _record("LoRA 25 rows", "tuned", 0.45, rows=25),
               _record("LoRA 50 rows", "tuned", 0.55, rows=50, reused=True),
               _record("LoRA 50 rows (seed 1)", "tuned", 0.52, rows=50, seed=1),
               _record("LoRA 100 rows", "tuned", 0.80, rows=100),
               _record("LoRA 100 rows + 4-shot", "hybrid", 0.82, shots=4, rows=100)]
    config = AdviceConfig(task="review-sentiment", budget="10m", seeds=2)
    advice = build_advice(config, {"points": []}, records,
                          [{"name": "LoRA 200 rows", "reason": "the budget ran out"}], 300.0)
    fig = curve_figure(advice)
    assert [c[2] for c in _trace(fig, "fine-tuned").customdata] == [25, 50, 50, 100]
    assert list(_trace(fig, "prompted").x) == [4]
    _trace(fig, "zero-shot (0 examples): 0.40")
    _trace(fig, "best prompt, 4-shot: 0.60")
    _trace(fig, "fitted curve")
    assert len(points_table(advice)) == len(records)
    assert {"LoRA 100 rows", "4-shot"} <= set(pairs_table(advice)["Leader"]) | \
        set(pairs_table(advice)["Other"])
    assert factors_table(advice)["Factor"].tolist()[:2] == ["Setup time", "Data needed"]
    page = advice_html(advice)
    assert advice["recommendation"]["sentences"][0] in page.replace("&#x27;", "'")
    assert "python -m core advise review-sentiment --budget 10m --seeds 2 --report advice.html" \
        in page
    _assert_self_contained(page)


@pytest.mark.parametrize("settings", [
    {},
    {"budget": "10m", "n_examples": 80, "shots": (0, 2, 4), "rows": (25, 50, 0), "seeds": 3,
     "engine": "llama.cpp", "hybrids": False},
    {"seed": 7, "prices": Prices(input_per_million=0.5), "train": {"learning_rate": 0.001}}])
def test_the_command_reads_back_as_the_same_config(settings, tmp_path, monkeypatch):
    """Through the advise CLI's own parser: the command asks for the advice it reports."""
    import shlex

    from core.advice_plan import AdviceConfig
    from core.cli import build_parser
    from core.cli_advise import config_from_args

    config = AdviceConfig(task="review-sentiment", **settings)
    monkeypatch.chdir(tmp_path)  # where the saved advice-config.json lies
    (tmp_path / "advice-config.json").write_text(json.dumps(config.to_dict()))
    words = shlex.split(reproduce_command({"config": config.to_dict()}))
    assert words[:3] == ["python", "-m", "core"]
    back = config_from_args(build_parser().parse_args(words[3:]))
    assert back.to_dict() == config.to_dict()


def test_the_report_says_which_prices_cost_and_break_even_are_figured_at(advice):
    page = advice_html(advice)
    assert "Costs and break-even are figured at $0.10 per million prompt tokens" in page
    assert "the lab&#x27;s example prices" in page or "the lab's example prices" in page
