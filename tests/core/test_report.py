"""The comparison report: tables, charts, verdict, break-even and the HTML export.

All tests run on a realistic results dict as ``core.compare`` writes it: the
sentiment task, zero-shot and few-shot on llama.cpp, a LoRA adapter on
transformers, and a variant that could not run.
"""

from __future__ import annotations

import copy
import io
import json
import re
import urllib.parse

import pandas as pd
import pytest

from core import report, report_charts

LABELS = ["POSITIVE", "NEGATIVE", "MIXED"]


def _variant(name, kind, engine, acc, f1, prompt_tokens, latency, cost, **extra):
    variant = {
        "name": name, "kind": kind, "engine": engine, "model": "embedded:gemma-3-270m",
        "adapter": None, "n_shots": 0, "n_train_examples": None, "train_seconds": None,
        "train_device": None, "prompt_tokens_mean": prompt_tokens, "completion_tokens_mean": 1.0,
        "latency_mean_s": latency, "tokens_per_s": round(1.0 / latency, 1),
        "metrics": {"accuracy": dict(zip(("value", "low", "high"), acc)),
                    "macro_f1": dict(zip(("value", "low", "high"), f1))},
        "confusion": {"labels": LABELS, "matrix": [[40, 5, 5], [6, 38, 6], [14, 10, 26]]},
        "cost_per_1000": cost, "training_cost": None, "error": None}
    variant.update(extra)
    return variant


def _output(prediction, reference):
    return {"prediction": prediction, "correct": prediction == reference,
            "raw": f" {prediction.lower()}"}


EXAMPLES = [  # (id, input, reference, zero-shot, few-shot-4, lora-live-demo)
    ("rs-test-0001", "Rice comes out perfect every time, but the inner pot scratches easily.",
     "MIXED", "POSITIVE", "MIXED", "MIXED"),
    ("rs-test-0002", "I thought premium would get rid of the ads, but they're still everywhere.",
     "NEGATIVE", "NEGATIVE", "NEGATIVE", "NEGATIVE"),
    ("rs-test-0003", "This jigsaw is gorgeous: 1000 pieces, thick card, nothing missing.",
     "POSITIVE", "POSITIVE", "POSITIVE", "POSITIVE"),
    ("rs-test-0004", "Rated it 5 < 10 stars & <b>still</b> returned it.",
     "NEGATIVE", "POSITIVE", "MIXED", "MIXED"),
    ("rs-test-0005", "Lovely colour, awful zip.", "MIXED", "NEGATIVE", "NEGATIVE", "MIXED"),
]


@pytest.fixture
def results() -> dict:
    variants = [
        _variant("zero-shot", "zero-shot", "llama.cpp", (0.61, 0.53, 0.69), (0.52, 0.44, 0.60),
                 45.2, 0.21, 0.00492),
        _variant("few-shot-4", "few-shot", "llama.cpp", (0.70, 0.62, 0.75), (0.66, 0.58, 0.73),
                 210.5, 0.48, 0.02145, n_shots=4),
        _variant("lora-live-demo", "fine-tuned", "transformers", (0.83, 0.76, 0.89),
                 (0.81, 0.74, 0.87), 22.0, 0.35, 0.0026, adapter="runs/20261125-lora/adapter",
                 n_train_examples=300, train_seconds=150.0, train_device="cpu",
                 training_cost=150 / 3600 * 0.05),
        {"name": "lora-smollm", "kind": "fine-tuned", "engine": "transformers",
         "model": "embedded:gemma-3-270m", "adapter": "runs/smollm/adapter", "n_shots": 0,
         "n_train_examples": 300, "train_seconds": None, "train_device": None,
         "prompt_tokens_mean": None, "completion_tokens_mean": None, "latency_mean_s": None,
         "tokens_per_s": None, "metrics": {}, "confusion": None, "cost_per_1000": None,
         "training_cost": None,
         "error": "Adapter runs/smollm/adapter was trained for embedded:smollm2-135m-instruct, "
                  "not embedded:gemma-3-270m. Pick a run trained on gemma-3-270m."},
    ]
    names = ["zero-shot", "few-shot-4", "lora-live-demo"]
    examples = [{"id": i, "input": text, "reference": ref,
                 "outputs": {n: _output(p, ref) for n, p in zip(names, preds)}}
                for i, text, ref, *preds in EXAMPLES]
    prices = {"input_per_million": 0.10, "output_per_million": 0.40, "gpu_hour": 1.20,
              "cpu_hour": 0.05}
    config = {"task": "review-sentiment", "n_examples": 5, "seed": 0, "prices": prices,
              "variants": [{"name": v["name"], "kind": v["kind"], "engine": v["engine"]}
                           for v in variants]}
    return {"id": "20261125-141500-sentiment", "created_at": "2026-11-25T14:15:00+00:00",
            "duration_s": 312.4, "config": config,
            "task": {"name": "review-sentiment", "title": "Review sentiment (3 labels)",
                     "kind": "classification", "labels": LABELS},
            "prices": prices, "variants": variants, "examples": examples}


@pytest.fixture
def no_prices(results) -> dict:
    unpriced = copy.deepcopy(results)
    unpriced["prices"] = {k: None for k in unpriced["prices"]}
    for v in unpriced["variants"]:
        v["cost_per_1000"] = v["training_cost"] = None
    return unpriced


def _variant_named(results, name):
    return next(v for v in results["variants"] if v["name"] == name)


# --- metric choice and the metrics table ------------------------------------------------------

def test_primary_metric_follows_the_task_kind_or_what_is_present(results):
    assert report.primary_metric(results) == "accuracy"
    json_task = copy.deepcopy(results)
    json_task["task"]["kind"] = "json"
    for v in json_task["variants"]:
        v["metrics"] = {"parse_rate": {"value": 1.0, "low": 1.0, "high": 1.0},
                        "schema_pass_rate": {"value": 0.9, "low": 0.8, "high": 0.95}}
    assert report.primary_metric(json_task) == "schema_pass_rate"
    json_task["task"]["kind"] = "qa"
    assert report.primary_metric(json_task) == "schema_pass_rate"  # token_f1 absent
    for v in json_task["variants"]:
        v["metrics"]["token_f1"] = {"value": 0.4, "low": 0.3, "high": 0.5}
    assert report.primary_metric(json_task) == "token_f1"


def test_metrics_table_shows_intervals_costs_training_and_the_failed_variant(results):
    table = report.metrics_table(results).set_index("Variant")
    assert list(table.index) == ["zero-shot", "few-shot-4", "lora-live-demo", "lora-smollm"]
    assert table.loc["zero-shot", "Accuracy"] == "0.61 [0.53, 0.69]"
    assert table.loc["lora-live-demo", "Macro-F1"] == "0.81 [0.74, 0.87]"
    assert table.loc["few-shot-4", "Prompt tokens"] == pytest.approx(210.5)
    assert table.loc["zero-shot", "Cost / 1,000 queries ($)"] == pytest.approx(0.00492)
    assert table.loc["lora-live-demo", "Training time (s)"] == 150.0
    assert table.loc["lora-live-demo", "Engine"] == "transformers"
    assert table.loc["lora-smollm", "Accuracy"] == "—"
    assert "trained for embedded:smollm2" in table.loc["lora-smollm", "Error"]
    assert table.loc["zero-shot", "Error"] == ""


# --- charts -------------------------------------------------------------------------------------

def _title(fig) -> str:
    return fig.layout.title.text


def _subtitle(fig) -> str:
    return fig.layout.title.subtitle.text or ""


def test_metric_bars_have_interval_error_bars_and_name_the_failed_variant(results):
    fig = report.metric_bars(results, "accuracy")
    fig.to_json()
    bar = fig.data[0]
    assert list(bar.x) == ["zero-shot", "few-shot-4", "lora-live-demo"]
    assert list(bar.y) == [0.61, 0.70, 0.83]
    assert list(bar.error_y.array) == pytest.approx([0.08, 0.05, 0.06])
    assert list(bar.error_y.arrayminus) == pytest.approx([0.08, 0.08, 0.07])
    assert "Accuracy by variant" in _title(fig)
    assert "different engines (llama.cpp, transformers)" in _subtitle(fig)
    assert any("lora-smollm" in a.text for a in fig.layout.annotations)


def test_engines_note_appears_only_when_engines_differ(results):
    assert "different engines" in report.engines_note(results)
    for v in results["variants"]:
        v["engine"] = "llama.cpp"
    assert report.engines_note(results) is None
    assert "different engines" not in _subtitle(report.quality_vs_cost(results))


def test_one_confusion_heatmap_per_variant_that_ran(results):
    figures = report.confusion_figures(results)
    assert [f.layout.title.text for f in figures] == [
        "Confusion matrix: zero-shot", "Confusion matrix: few-shot-4",
        "Confusion matrix: lora-live-demo"]
    heatmap = figures[0].data[0]
    assert [list(row) for row in heatmap.z] == [[40, 5, 5], [6, 38, 6], [14, 10, 26]]
    assert list(heatmap.x) == LABELS
    for fig in figures:
        fig.to_json()


def test_quality_vs_cost_plots_cost_per_1000_queries(results):
    fig = report.quality_vs_cost(results)
    fig.to_json()
    point = fig.data[0]
    assert list(point.x) == [0.00492, 0.02145, 0.0026]
    assert list(point.text) == ["zero-shot", "few-shot-4", "lora-live-demo"]
    assert "cost per 1,000 queries" in _title(fig)
    assert "training cost is not included" in _subtitle(fig)


def test_quality_vs_cost_falls_back_to_prompt_tokens_without_prices(no_prices):
    fig = report.quality_vs_cost(no_prices)
    fig.to_json()
    assert list(fig.data[0].x) == [45.2, 210.5, 22.0]
    assert "prompt tokens per query" in _title(fig)
    assert "No prices set" in _subtitle(fig)


def test_quality_vs_examples_uses_shots_and_training_rows_on_a_log_axis(results):
    fig = report.quality_vs_examples(results)
    fig.to_json()
    assert fig.layout.xaxis.type == "log"
    by_name = {trace.name: trace for trace in fig.data}
    assert list(by_name["few-shot (shots in the prompt)"].x) == [4]
    assert list(by_name["fine-tuned (training rows)"].x) == [300]
    assert any(shape.y0 == 0.61 for shape in fig.layout.shapes)  # zero-shot reference line
    assert "number of labelled examples" in _title(fig)


def test_every_report_figure_builds_even_when_every_variant_failed(results):
    for v in results["variants"]:
        v["error"] = "Model not found. Run python -m core prepare."
    for fig in report.all_figures(results):
        fig.to_json()
    assert report.confusion_figures(results) == []


# --- per-example tables ---------------------------------------------------------------------

def test_disagreements_puts_answers_side_by_side_and_filters(results):
    everything = report.disagreements(results)
    assert list(everything.columns) == ["Example", "Input", "Reference", "zero-shot",
                                        "few-shot-4", "lora-live-demo"]
    assert len(everything) == 5
    first = everything.iloc[0]
    assert first["zero-shot"] == "✗ POSITIVE" and first["lora-live-demo"] == "✓ MIXED"
    disagree = report.disagreements(results, only_disagree=True)
    assert list(disagree["Example"]) == ["rs-test-0001", "rs-test-0004", "rs-test-0005"]
    errors = report.disagreements(results, only_errors=True)
    assert list(errors["Example"]) == ["rs-test-0001", "rs-test-0004", "rs-test-0005"]
    both = report.disagreements(results, only_disagree=True, only_errors=True)
    assert len(both) == 3
    results["examples"][3]["outputs"]["zero-shot"] = _output("MIXED", "NEGATIVE")
    agreeing_but_wrong = report.disagreements(results, only_disagree=True)
    assert "rs-test-0004" not in list(agreeing_but_wrong["Example"])
    assert "rs-test-0004" in list(report.disagreements(results, only_errors=True)["Example"])


def test_results_csv_has_one_row_per_example_and_every_variants_answer(results):
    table = pd.read_csv(io.StringIO(report.results_csv(results)))
    assert len(table) == 5
    assert table.loc[0, "id"] == "rs-test-0001"
    assert table.loc[0, "zero-shot prediction"] == "POSITIVE"
    assert not table.loc[0, "zero-shot correct"]
    assert table.loc[3, "input"] == EXAMPLES[3][1]


# --- when to use which, break-even, verdict -------------------------------------------------

def test_when_to_use_fills_measured_numbers_and_marks_what_was_not_measured(results):
    table = report.when_to_use(results)
    assert list(table.columns) == ["Prompting", "Few-shot", "RAG", "Fine-tuning"]
    assert list(table.index) == ["Quality on this task", "Setup cost", "Data needed",
                                 "Compute cost per query", "Depth of customisation",
                                 "Maintenance"]
    tuning = table["Fine-tuning"]
    assert "150 s training on CPU, $0.0021" in tuning["Setup cost"]
    assert "300 labelled training rows" in tuning["Data needed"]
    assert "22 prompt tokens/query" in tuning["Compute cost per query"]
    assert tuning["Quality on this task"] == "lora-live-demo: Accuracy 0.83 [0.76, 0.89]"
    assert "0 training" in table.loc["Setup cost", "Prompting"]
    assert "no labelled examples" in table.loc["Data needed", "Prompting"]
    assert "4 labelled examples in the prompt" in table.loc["Data needed", "Few-shot"]
    assert "not measured here" in table.loc["Setup cost", "RAG"]


def test_break_even_maths():
    # 900 tokens saved at $1/M input = $0.0009 per query; $1 of training -> 1,111.1 queries
    assert report.break_even(1.0, 1000, 100, 1.0) == pytest.approx(1111.11, rel=1e-4)
    assert report.break_even(1.0, 100, 100, 1.0) is None  # no saving: never
    assert report.break_even(1.0, 100, 300, 1.0) is None  # tuned prompt longer: never
    assert report.break_even(None, 1000, 100, 1.0) is None
    assert report.break_even(1.0, 1000, 100, None) is None
    assert report.break_even(0.0, 1000, 100, 1.0) == 0.0
    # a chain-of-thought baseline writing 200 more tokens at $4/M output saves $0.0008 more
    with_completion = report.break_even(1.0, 1000, 100, 1.0, completion_tokens_base=201,
                                        completion_tokens_tuned=1, price_per_million_output=4.0)
    assert with_completion == pytest.approx(1.0 / 0.0017)


def test_break_even_rows_compare_each_tuned_variant_with_the_best_prompt(results):
    rows = report.break_even_rows(results)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["Fine-tuned variant"] == "lora-live-demo"
    assert row["Compared with"] == "few-shot-4"
    assert row["Prompt tokens saved per query"] == pytest.approx(188.5)
    # (210.5 - 22) tokens x $0.10/M = $0.00001885 per query; training 150 s x $0.05/h
    assert row["Break-even (queries)"] == "111"
    assert row["Accuracy difference"] == pytest.approx(0.13)
    assert "about 111 queries" in row["What it means"]


def test_break_even_rows_without_prices_say_why_instead_of_crashing(no_prices):
    row = report.break_even_rows(no_prices).iloc[0]
    assert row["Break-even (queries)"] == "–"
    assert "no price per million prompt tokens" in row["What it means"]
    assert "lora-live-demo is not weighed against prompting: no price" in report.verdict(no_prices)


def test_a_tuned_model_no_cheaper_per_query_never_pays_back_in_words(results):
    _variant_named(results, "lora-live-demo")["prompt_tokens_mean"] = 400  # longer than few-shot
    row = report.break_even_rows(results).iloc[0]
    assert row["Break-even (queries)"] == "never"
    assert "lora-live-demo never pays back its training: its queries are not cheaper" \
        in report.verdict(results)


def test_verdict_names_the_winner_the_margin_and_the_paired_test(results):
    text = report.verdict(results)
    assert "the best setup was lora-live-demo" in text
    assert "accuracy 0.83" in text and "0.13 lower" in text
    # a lead is called real only on the paired test of the answers kept per example, and
    # 5 examples (one answered differently) cannot show one, whatever the marginal ranges say
    # (a real lead, with "Training pays off", is in tests/core/test_report_paired.py)
    assert "lora-live-demo leads few-shot-4 by 0.20 (paired 95% interval" in text
    assert "McNemar p = 1.00): within noise" in text
    assert "do not overlap" not in text
    assert "Prompting is enough" in text and "Training pays off" not in text
    assert "Training took 150 s on a CPU and cost about $0.0021." in text
    assert "about 111 queries" in text
    assert "1 setup(s) could not run: lora-smollm" in text
    assert "same software engine" in text


def test_verdict_says_prompting_is_enough_when_intervals_overlap(results):
    few_shot = _variant_named(results, "few-shot-4")
    few_shot["metrics"]["accuracy"] = {"value": 0.79, "low": 0.72, "high": 0.85}
    text = report.verdict(results)
    assert "Prompting is enough: few-shot-4" in text
    assert "cannot tell the two apart" in text


def test_verdict_and_notes_without_prices(no_prices):
    text = report.verdict(no_prices)
    assert "No prices were set" in text
    assert any("not estimated" in n for n in report.notes(no_prices))
    table = report.metrics_table(no_prices)
    assert table["Cost / 1,000 queries ($)"].isna().all()


def test_prompt_kind_counts_as_prompting_like_zero_shot(results):
    _variant_named(results, "zero-shot")["kind"] = "prompt"
    _variant_named(results, "few-shot-4")["metrics"]["accuracy"]["value"] = 0.5
    assert report.break_even_rows(results).iloc[0]["Compared with"] == "zero-shot"
    assert "zero-shot" in report.when_to_use(results).loc["Quality on this task", "Prompting"]


def test_missing_answers_and_empty_metrics_do_not_crash(results):
    results["examples"][0]["outputs"]["zero-shot"]["prediction"] = None
    _variant_named(results, "few-shot-4")["metrics"]["accuracy"] = {
        "value": float("nan"), "low": float("nan"), "high": float("nan")}
    assert report.disagreements(results).iloc[0]["zero-shot"] == "✗ (no answer)"
    assert "few-shot-4" not in list(report.metric_bars(results).data[0].x)
    assert "few-shot-4" not in report.verdict(results)
    report.html_report(results)


def test_verdict_when_nothing_ran(results):
    for v in results["variants"]:
        v["error"] = "Model not found. Run python -m core prepare."
    assert report.verdict(results).startswith("No variant produced results")


# --- the HTML export ----------------------------------------------------------------------------

def test_html_report_is_self_contained_and_holds_everything(results):
    page = report.html_report(results)
    assert page.startswith("<!DOCTYPE html>")
    assert report.verdict(results) in page
    for fig in report.all_figures(results):
        assert json.dumps(fig.layout.title.text)[1:-1] in page
    assert "When to use which" in page and "about 111 queries" in page
    assert "python -m core compare CONFIG.json" in page
    assert '&quot;task&quot;: &quot;review-sentiment&quot;' in page  # config JSON, escaped
    link = re.search(r'download="CONFIG.json" href="data:application/json;charset=utf-8,([^"]+)"',
                     page)  # the config saves from the page itself, offline
    assert json.loads(urllib.parse.unquote(link.group(1))) == results["config"]
    assert "different engines (llama.cpp, transformers)" in page
    assert "lora-smollm could not run" in page
    assert page.count("plotly.js v") == 1  # plotly.js inlined once
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link\b", page)
    # plotly.js itself mentions URLs in its code (map tiles it never fetches here);
    # everything else, the figures' own scripts included, names none
    scripts = re.findall(r"<script[^>]*>.*?</script>", page, flags=re.S)
    bundle = [s for s in scripts if "plotly.js v" in s]
    assert len(bundle) == 1
    assert "http" not in page.replace(bundle[0], "")
    assert "5 &lt; 10 stars &amp; &lt;b&gt;still&lt;/b&gt;" in page  # user text escaped


def test_html_report_builds_without_prices(no_prices):
    page = report.html_report(no_prices)
    assert "Cost per 1,000 queries is not estimated" in page
    assert "No prices were set" in page


def test_names_of_points_close_together_go_to_different_sides():
    from core.report_charts import label_positions

    # two variants at the same cost and accuracy, a third far away
    assert label_positions([0.0008, 0.0008, 0.0100], [0.50, 0.51, 0.90]) == \
        ["top center", "bottom center", "top center"]
    assert label_positions([None, 5], [0.5, 0.5]) == ["top center", "top center"]


def test_error_bars_have_one_colour_of_their_own(results):
    """plotly.js refuses an inherited per-point colour list for error bars ("Invalid color
    specifier" in the console, bars drawn black): each chart gives them one colour."""
    for fig in (report_charts.metric_bars(results), report_charts.quality_vs_cost(results)):
        for trace in fig.data:
            if trace.error_y.array is not None:
                assert isinstance(trace.error_y.color, str)
