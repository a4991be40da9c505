"""The report with setups: a lead called real only on the paired test, ties said as ties, label
collapse in plain words, the few-shot draw spread, and tables and charts grouped by the
setups' parts; a comparison saved before setups still reads (and renders) as before.

Every results dict is built by hand, as ``core.compare`` writes it, with per-example answers
that really give the figures its metrics claim.
"""

from __future__ import annotations

import copy

import pytest

from core import report, report_stats
from core.metrics import wilson

LABELS = ["positive", "negative", "neutral"]


def _accuracy(right: list[bool]) -> dict[str, float]:
    low, high = wilson(sum(right), len(right))
    return {"value": round(sum(right) / len(right), 4), "low": round(low, 4),
            "high": round(high, 4)}


def _variant(name, kind, right, **extra):
    return {"name": name, "kind": kind, "engine": "llama.cpp", "model": "embedded:gemma-3-270m",
            "adapter": None, "n_shots": extra.pop("n_shots", 0), "n_train_examples": None,
            "train_seconds": None, "train_device": None, "prompt_tokens_mean": 40.0,
            "completion_tokens_mean": 1.0, "latency_mean_s": 0.2, "tokens_per_s": 5.0,
            "metrics": {"accuracy": _accuracy(right)}, "confusion": None,
            "cost_per_1000": None, "training_cost": None, "error": None, **extra}


def _results(columns: dict[str, list[bool]], kinds: dict[str, str] | None = None,
             scores: bool = False, predictions: dict[str, list[str]] | None = None,
             **extra_by_name) -> dict:
    """A classification comparison: one setup per column of right/wrong answers."""
    n = len(next(iter(columns.values())))
    references = [LABELS[i % 3] for i in range(n)]
    kinds = kinds or {}
    variants = [_variant(name, kinds.get(name, "zero-shot"), right,
                         **extra_by_name.get(name, {})) for name, right in columns.items()]

    def output(name, i):
        right = columns[name][i]
        answer = (predictions or {}).get(name, [None] * n)[i] or (
            references[i] if right else LABELS[(i + 1) % 3])
        out = {"prediction": answer, "correct": right, "raw": answer}
        if scores:
            out["score"] = 1.0 if right else 0.0
        return out

    examples = [{"id": f"ex-{i}", "input": f"text {i}", "reference": references[i],
                 "outputs": {name: output(name, i) for name in columns}} for i in range(n)]
    return {"id": "c1", "created_at": "2026-12-01T05:00:00+00:00", "duration_s": 10.0,
            "config": {"task": "sentiment", "n_examples": n, "seed": 0},
            "task": {"name": "sentiment", "title": "Sentiment (3 labels)",
                     "kind": "classification", "labels": LABELS},
            "prices": {"input_per_million": None, "output_per_million": None},
            "variants": variants, "examples": examples}


def _leads(n_right_a, n_right_b, only_b=0, n=60):
    """A right on its first n_right_a; B right on its first n_right_b - only_b of those and
    on only_b examples A got wrong."""
    a = [i < n_right_a for i in range(n)]
    shared = n_right_b - only_b
    b = [i < shared or n_right_a <= i < n_right_a + only_b for i in range(n)]
    return a, b


# --- real lead, noise, tie ----------------------------------------------------------------------

def test_a_real_lead_is_said_with_its_paired_interval_and_mcnemar_p():
    tuned, prompt = _leads(40, 24)  # 16 examples only the tuned model gets right, none the other
    results = _results({"prompt": prompt, "tuned": tuned}, kinds={"tuned": "fine-tuned"},
                       tuned={"train_seconds": 60.0, "train_device": "cpu"})
    text = report.verdict(results)
    assert "the best setup was tuned" in text and "0.27 lower" in text
    assert "tuned leads prompt by 0.27 (paired 95% interval 0.1" in text
    assert "McNemar p < 0.001): a real lead." in text
    assert "Training pays off in quality: tuned beats the best setup without training, " \
           "prompt, by 0.27." in text
    row = report.paired_table(results).iloc[0]
    assert (row["Leader"], row["Other"], row["Verdict"]) == ("tuned", "prompt", "real lead")
    assert row["Only the leader right / only the other"] == "16 / 0"


def test_overlapping_ranges_can_still_hide_a_real_paired_lead():
    # 0.53 against 0.40 on 60 examples: the 95% ranges overlap, the paired test sees a lead
    b, a = _leads(32, 24)
    results = _results({"few-shot": b, "zero-shot": a})
    m = results["variants"]
    assert m[1]["metrics"]["accuracy"]["high"] > m[0]["metrics"]["accuracy"]["low"]
    assert "few-shot leads zero-shot by 0.13" in report.verdict(results)
    assert "a real lead" in report.verdict(results)


def test_a_lead_within_noise_says_the_test_cannot_tell_them_apart():
    a, b = _leads(33, 30, only_b=2)  # 5 only A right, 2 only B right
    results = _results({"a": a, "b": b})
    text = report.verdict(results)
    assert "a leads b by 0.05 (paired 95% interval -0.0" in text
    assert "within noise, so this test cannot tell the two apart" in text
    assert "real lead" not in text
    assert report.paired_table(results).iloc[0]["Verdict"] == "within noise"


def test_a_tie_is_said_as_a_tie_never_as_0_00_lower():
    a, b = _leads(30, 30, only_b=6)  # the same accuracy, right on different examples
    results = _results({"a": a, "b": b, "c": [i < 12 for i in range(60)]})
    text = report.verdict(results)
    assert "0.00 lower" not in text
    assert "a (an instruction alone) and b (an instruction alone) tied for best, with " \
           "accuracy 0.50" in text
    assert "a and b are tied (difference 0.00; paired 95% interval" in text
    assert "no lead either way" in text
    assert "Next came c (an instruction alone) at 0.20, 0.30 lower. a leads c by 0.30" in text
    table = report.paired_table(results)
    assert list(table["Verdict"]) == ["tie", "real lead", "real lead"]


# --- old comparisons, other metrics, many setups -----------------------------------------------

def test_an_old_comparison_without_scores_gets_paired_figures_from_correct():
    tuned, prompt = _leads(40, 24)
    old = _results({"prompt": prompt, "tuned": tuned})
    new = _results({"prompt": prompt, "tuned": tuned}, scores=True)
    assert "score" not in old["examples"][0]["outputs"]["tuned"]
    assert report.paired_table(old).equals(report.paired_table(new))
    assert report.paired_table(old).iloc[0]["Metric"] == "Accuracy"


def test_without_per_example_answers_the_verdict_says_no_paired_test_was_made():
    tuned, prompt = _leads(40, 10)
    results = _results({"prompt": prompt, "tuned": tuned})
    for example in results["examples"]:
        example["outputs"] = {}
    text = report.verdict(results)
    assert "no paired test could check the lead" in text and "real lead" not in text
    assert report.paired_table(results).empty
    assert "No paired differences" in report.html_report(results)


def test_a_json_comparison_names_the_metric_of_its_paired_figures():
    tuned, prompt = _leads(40, 24)
    results = _results({"prompt": prompt, "tuned": tuned}, scores=True)
    results["task"]["kind"] = "json"
    for v in results["variants"]:  # ranked by schema pass rate, paired on exact match
        v["metrics"] = {"schema_pass_rate": {"value": 0.9, "low": 0.8, "high": 0.95},
                        "exact_match": v["metrics"]["accuracy"]}
    results["variants"][0]["metrics"]["schema_pass_rate"]["value"] = 0.95
    text = report.verdict(results)
    assert "tuned leads prompt by 0.27 on exact match" in text
    assert any("Paired differences are on exact match" in n for n in report.notes(results))


def test_many_setups_are_each_paired_with_the_best():
    columns = {f"s{k}": [i < 10 + 5 * k for i in range(60)] for k in range(6)}
    table = report.paired_table(_results(columns))
    assert len(table) == 5 and set(table["Leader"]) == {"s5"}
    assert "Each setup against the best" in report.paired_caption(_results(columns))


# --- label collapse, calibration, draw spread ---------------------------------------------------

def _collapsed() -> dict:
    n = 150
    zero = [i % 2 == 0 for i in range(n)]
    eight = [i % 3 == 0 for i in range(n)]  # all 'positive': right on the positive third
    return _results({"zero-shot": zero, "8-shot": eight},
                    kinds={"8-shot": "few-shot"},
                    predictions={"8-shot": ["positive"] * n},
                    **{"8-shot": {"n_shots": 8}})


def test_a_collapsed_setup_is_said_in_plain_words_in_the_verdict_and_the_report():
    results = _collapsed()
    sentence = "8-shot answered 'positive' for all 150 inputs, though only 50 of them are positive"
    assert sentence in report.verdict(results)
    assert "contextual calibration" in report.verdict(results)
    assert "zero-shot answered" not in report.verdict(results)
    page = report.html_report(results)
    assert sentence.replace("'", "&#x27;") in page


def test_label_counts_are_read_when_present_and_calibrated_setups_are_marked():
    results = _collapsed()
    eight = results["variants"][1]
    eight.update(label_counts={"positive": 40, "negative": 55, "neutral": 55}, calibrated=True)
    assert "answered 'positive'" not in report.verdict(results)  # calibration undid it
    assert "Next came 8-shot (an instruction with 8 worked examples, with calibrated label " \
           "scores)" in report.verdict(results)
    assert report.metrics_table(results).set_index("Variant").loc["8-shot", "Kind"] == \
        "few-shot, calibrated"
    assert any("Calibrated label scoring" in n and "8-shot" in n for n in report.notes(results))


def test_the_draw_spread_is_a_range_beside_the_metric_and_a_sentence():
    results = _results({"zero-shot": _leads(30, 20)[0], "4-shot": _leads(30, 20)[1]},
                       kinds={"4-shot": "few-shot"})
    results["variants"][1].update(n_shots=4, draw_spread={
        "metric": "accuracy", "draws": 5, "values": [0.41, 0.47, 0.55, 0.44, 0.5],
        "min": 0.41, "max": 0.55, "sd": 0.05,
        "what": "other draws and orders of the same k examples"})
    table = report.metrics_table(results)
    columns = list(table.columns)
    assert columns[columns.index("Accuracy") + 1] == "Accuracy over other draws"
    assert table.set_index("Variant").loc["4-shot", "Accuracy over other draws"] == \
        "0.41 to 0.55 (5 draws)"
    assert table.set_index("Variant").loc["zero-shot", "Accuracy over other draws"] == ""
    assert any("4-shot: another draw or order of the same 4 examples moved accuracy from 0.41 "
               "to 0.55" in n for n in report.notes(results))


# --- grouped by parts, and old results as before -------------------------------------------------

def _with_parts() -> dict:
    a, b = _leads(40, 24)
    results = _results({"base 0-shot": b, "base 4-shot": a, "tuned 0-shot": a},
                       kinds={"base 4-shot": "few-shot", "tuned 0-shot": "fine-tuned"})
    parts = {"base 0-shot": ("gemma-3-270m", "zero-shot", "none"),
             "base 4-shot": ("gemma-3-270m", "4-shot", "none"),
             "tuned 0-shot": ("run 20261201-x (LoRA)", "zero-shot", "none")}
    for v in results["variants"]:
        v["parts"] = dict(zip(("model", "prompt", "retrieval"), parts[v["name"]]))
    return results


def test_the_metrics_table_has_model_prompt_and_retrieval_columns_with_parts():
    table = report.metrics_table(_with_parts())
    assert list(table.columns[:6]) == ["Variant", "Kind", "Model", "Prompt", "Retrieval",
                                       "Engine"]
    assert table.set_index("Variant").loc["tuned 0-shot", "Model"] == "run 20261201-x (LoRA)"


def test_charts_are_coloured_by_the_part_that_differs_with_a_legend():
    results = _with_parts()
    bars = report.metric_bars(results)
    bars.to_json()
    assert [t.name for t in bars.data] == ["gemma-3-270m", "run 20261201-x (LoRA)"]
    assert [list(t.x) for t in bars.data] == [["base 0-shot", "base 4-shot"], ["tuned 0-shot"]]
    assert bars.layout.legend.title.text == "Model"
    points = report.quality_vs_cost(results)
    points.to_json()
    assert {t.name for t in points.data} == {"gemma-3-270m", "run 20261201-x (LoRA)"}
    results["variants"][2]["parts"]["model"] = "gemma-3-270m"  # now only the prompt differs
    assert report.metric_bars(results).layout.legend.title.text == "Prompt"


def test_old_results_without_parts_render_as_before():
    old = _results({"a": _leads(40, 24)[0], "b": _leads(40, 24)[1]})
    assert list(report.metrics_table(old).columns[:4]) == ["Variant", "Kind", "Engine", "Model"]
    assert "Prompt" not in report.metrics_table(old).columns
    bars = report.metric_bars(old)
    assert len(bars.data) == 1 and list(bars.data[0].x) == ["a", "b"]
    assert len(report.quality_vs_cost(old).data) == 1
    assert not any("other draws" in c for c in report.metrics_table(old).columns)


def test_the_html_report_holds_the_paired_table_and_its_caption():
    results = _with_parts()
    before = copy.deepcopy(results)
    page = report.html_report(results)
    assert results == before  # the report leaves the results alone
    section = page.split("<h2>Paired differences</h2>")[1].split("<h2>")[0]
    assert "Every pair of setups" in section and "McNemar" in section
    assert "<td>real lead</td>" in section and "base 4-shot" in section


@pytest.mark.parametrize("p, said", [(0.0004, "p < 0.001"), (0.003, "p = 0.003"),
                                     (0.0312, "p = 0.031"), (0.62, "p = 0.62")])
def test_p_values_read_as_people_write_them(p, said):
    assert report_stats.fmt_p(p) == said


def test_a_hybrid_setup_is_described_with_what_it_adds_to_its_kind():
    tuned = {"name": "t", "kind": "fine-tuned", "n_train_examples": 16, "train_steps": 2,
             "parts": {"model": "run r1", "prompt": "4-shot + system prompt calibrated",
                       "retrieval": "handbook (k=3)"}, "calibrated": True}
    assert report.describe(tuned) == (
        "a copy of the model trained further on 16 labelled examples for 2 training steps, "
        "prompted 4-shot, with passages retrieved from handbook (k=3), with a system prompt, "
        "with calibrated label scores")
    react = {"name": "r", "kind": "react",
             "parts": {"model": "gemma", "prompt": "ReAct", "retrieval": "none"}}
    assert report.describe(react) == "letting the model reason and call tools (ReAct)"
    old = {"name": "f", "kind": "few-shot", "n_shots": 4}
    assert report.describe(old) == "an instruction with 4 worked examples"


def test_the_paired_rows_read_as_sentences_for_the_page():
    tuned, prompt = _leads(40, 24)
    results = _results({"prompt": prompt, "tuned": tuned})
    [said] = report.paired_sentences(results)
    assert said.startswith("tuned leads prompt by 0.27 (paired 95% interval")
    assert said.endswith("a real lead.")


def test_the_bar_chart_marks_each_draw_of_a_few_shot_setup():
    results = _with_parts()
    results["variants"][1]["draw_spread"] = {
        "metric": "accuracy", "draws": 3, "values": [0.67, 0.5, 0.6], "min": 0.5, "max": 0.67,
        "sd": 0.08, "what": "other draws and orders of the same k examples"}
    fig = report.metric_bars(results)
    fig.to_json()
    draws = fig.data[-1]
    assert draws.name == "other draws of its examples"
    assert list(draws.x) == ["base 4-shot"] * 3 and list(draws.y) == [0.67, 0.5, 0.6]
    assert [t.name for t in fig.data[:-1]] == ["gemma-3-270m", "run 20261201-x (LoRA)"]


def test_the_csv_keeps_each_score_where_the_comparison_kept_one():
    tuned, prompt = _leads(40, 24)
    new = report.results_csv(_results({"prompt": prompt, "tuned": tuned}, scores=True))
    old = report.results_csv(_results({"prompt": prompt, "tuned": tuned}))
    assert "tuned score" in new.splitlines()[0] and "score" not in old.splitlines()[0]
