"""Turn a comparison's results dict into tables, a verdict, break-even figures and a report.

The results dict is what ``core.compare`` writes (see ``tests/core/test_report.py``
for a full example). Everything here is a pure function of it: the Compare page,
the CLI and the HTML export show the same numbers. The charts live in
``core.report_charts`` and are re-exported here, so a caller needs one import.
"""

from __future__ import annotations

import html
import io
import json
import math
import urllib.parse
from typing import Any

import pandas as pd

from core.report_charts import (NO_TRAINING_KINDS, Results, Variant, all_figures,  # noqa: F401
                                best_variant, confusion_figures, engines_note, examples_used,
                                device_name, failed_variants, finite, fmt_interval, fmt_money,
                                fmt_number, metric_bars,
                                metric_label, metric_names, metric_of, primary_metric,
                                quality_vs_cost, quality_vs_examples, working_variants)

REPRODUCE_COMMAND = "python -m core compare CONFIG.json"
DISAGREEMENT_SAMPLE = 20
COMPARABLE_GAP = 0.02  # results this close count as level even where the intervals part


def prices_note(results: Results) -> str | None:
    """Why costs are missing (which price is not set), or None when every cost is there."""
    shown = working_variants(results)
    if all(v.get("cost_per_1000") is not None for v in shown):
        return None
    prices = results.get("prices") or {}
    missing = [name for key, name in (("input_per_million", "input tokens"),
                                      ("output_per_million", "output tokens"))
               if prices.get(key) is None]
    which = f" (no price per million {' or '.join(missing)})" if missing else ""
    return (f"Cost per 1,000 queries is not estimated{which}: set the prices on the Compare "
            "page to see it. Prompt tokens per query are shown instead.")


def notes(results: Results) -> list[str]:
    """Everything a reader must know beside the numbers: engines, prices, failed variants."""
    found = [engines_note(results), prices_note(results)]
    found += [f"{v['name']} could not run: {v['error']}" for v in failed_variants(results)]
    return [n for n in found if n]


def _variant_row(variant: Variant, metrics: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"Variant": variant["name"], "Kind": variant.get("kind"),
                           "Engine": variant.get("engine"), "Model": variant.get("model")}
    row.update({metric_label(m): fmt_interval(metric_of(variant, m)) for m in metrics})
    row.update({
        "Prompt tokens": variant.get("prompt_tokens_mean"),
        "Latency (s)": variant.get("latency_mean_s"),
        "Tokens/s": variant.get("tokens_per_s"),
        "Cost / 1,000 queries ($)": variant.get("cost_per_1000"),
        "Training time (s)": variant.get("train_seconds"),
        "Training cost ($)": variant.get("training_cost"),
        "Error": variant.get("error") or ""})
    return row


def metrics_table(results: Results) -> pd.DataFrame:
    """One row per variant: metrics with 95% intervals, tokens, latency, cost, training, error."""
    metrics = metric_names(results)
    rows = [_variant_row(v, metrics) for v in results.get("variants", [])]
    table = pd.DataFrame(rows)
    for column in ("Prompt tokens", "Latency (s)", "Tokens/s", "Cost / 1,000 queries ($)",
                   "Training time (s)", "Training cost ($)"):
        if column in table:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def _prediction_cell(output: dict[str, Any] | None) -> str:
    if not output:
        return "—"
    mark = {True: "✓ ", False: "✗ "}.get(output.get("correct"), "")
    answer = output.get("prediction")
    return f"{mark}{'(no answer)' if answer is None else answer}"


def _keep(outputs: list[dict[str, Any]], only_disagree: bool, only_errors: bool) -> bool:
    answers = {str(o.get("prediction", "")).strip().lower() for o in outputs}
    if only_disagree and len(answers) < 2:
        return False
    return not only_errors or any(o.get("correct") is False for o in outputs)


def disagreements(results: Results, only_disagree: bool = False,
                  only_errors: bool = False) -> pd.DataFrame:
    """Per-example table: input, reference and each variant's answer (✓/✗) side by side.

    ``only_disagree`` keeps examples where the variants' answers differ;
    ``only_errors`` those where at least one variant is wrong.
    """
    names = [v["name"] for v in working_variants(results)]
    rows = []
    for example in results.get("examples", []):
        outputs = example.get("outputs") or {}
        present = [outputs[n] for n in names if outputs.get(n)]
        if not _keep(present, only_disagree, only_errors):
            continue
        row = {"Example": example.get("id"), "Input": example.get("input"),
               "Reference": example.get("reference")}
        row.update({n: _prediction_cell(outputs.get(n)) for n in names})
        rows.append(row)
    return pd.DataFrame(rows, columns=["Example", "Input", "Reference", *names])


def results_csv(results: Results) -> str:
    """Per-example CSV: id, input, reference, then prediction, correct and raw per variant."""
    names = [v["name"] for v in results.get("variants", [])]
    rows = []
    for example in results.get("examples", []):
        row = {"id": example.get("id"), "input": example.get("input"),
               "reference": example.get("reference")}
        for name in names:
            output = (example.get("outputs") or {}).get(name) or {}
            row.update({f"{name} prediction": output.get("prediction"),
                        f"{name} correct": output.get("correct"),
                        f"{name} raw": output.get("raw")})
        rows.append(row)
    buffer = io.StringIO()
    pd.DataFrame(rows).to_csv(buffer, index=False)
    return buffer.getvalue()


# --- which variant, at what cost --------------------------------------------------------------

def training_cost(variant: Variant) -> float | None:
    """A variant's one-time training cost, as ``core.compare`` priced it (seconds x the hourly
    price of its device); None when the run or the price is not known."""
    return variant.get("training_cost")


def break_even(train_cost: float | None, prompt_tokens_base: float, prompt_tokens_tuned: float,
               price_per_million_input: float | None, *,
               completion_tokens_base: float | None = None,
               completion_tokens_tuned: float | None = None,
               price_per_million_output: float | None = None) -> float | None:
    """Queries after which a fine-tuned model's one-time cost is paid back by cheaper queries.

    Completion costs count as equal unless both completion token counts and the output
    price are given (a chain-of-thought baseline writes far more than a tuned model).
    None when it never pays back (no saving per query) or a price or the cost is missing.
    """
    if train_cost is None or price_per_million_input is None:
        return None
    saving = (prompt_tokens_base - prompt_tokens_tuned) * price_per_million_input / 1e6
    if None not in (completion_tokens_base, completion_tokens_tuned, price_per_million_output):
        written = completion_tokens_base - completion_tokens_tuned
        saving += written * price_per_million_output / 1e6
    if train_cost <= 0:
        return 0.0
    return train_cost / saving if saving > 0 else None


def _break_even_meaning(queries: float | None, cost: float | None,
                        prices: dict[str, Any]) -> str:
    """A phrase that completes "the trained model ..." and reads alone in the table."""
    if prices.get("input_per_million") is None:
        return "is not weighed against prompting: no price per million prompt tokens is set"
    if cost is None:
        return ("is not weighed against prompting: its training has no price (set one per "
                "CPU-hour or GPU-hour)")
    if queries is None:
        return "never pays back its training: its queries are not cheaper than the prompt's"
    return f"pays back its training after about {math.ceil(queries):,} queries"


def comparable(a: dict[str, float], b: dict[str, float]) -> bool:
    """True when two results are of comparable quality: their 95% intervals overlap, or
    their values lie within ``COMPARABLE_GAP`` of each other."""
    return overlap(a, b) or abs(a["value"] - b["value"]) <= COMPARABLE_GAP


def _worse_meaning(gap: float, base: Variant, metric: str) -> str:
    """The trained model is clearly worse: a cost break-even would compare unequal things."""
    return (f"scores {abs(gap):.2f} lower on {metric_label(metric).lower()} than {base['name']} "
            "(their 95% ranges do not overlap), so no break-even applies: its cheaper queries "
            "would buy worse answers")


def _break_even_row(tuned: Variant, base: Variant, results: Results) -> dict[str, Any]:
    prices, metric = results.get("prices") or {}, primary_metric(results)
    cost = training_cost(tuned)
    saved = (base.get("prompt_tokens_mean") or 0) - (tuned.get("prompt_tokens_mean") or 0)
    queries = break_even(cost, base.get("prompt_tokens_mean") or 0,
                         tuned.get("prompt_tokens_mean") or 0, prices.get("input_per_million"),
                         completion_tokens_base=base.get("completion_tokens_mean"),
                         completion_tokens_tuned=tuned.get("completion_tokens_mean"),
                         price_per_million_output=prices.get("output_per_million"))
    gap = metric_of(tuned, metric)["value"] - metric_of(base, metric)["value"]
    worse = gap < 0 and not comparable(metric_of(tuned, metric), metric_of(base, metric))
    if worse:
        count, meaning = "– (less accurate)", _worse_meaning(gap, base, metric)
    else:
        count = f"{math.ceil(queries):,}" if queries is not None \
            else "never" if cost is not None and prices.get("input_per_million") is not None \
            else "–"
        meaning = _break_even_meaning(queries, cost, prices)
    return {"Fine-tuned variant": tuned["name"], "Compared with": base["name"],
            f"{metric_label(metric)} difference": round(gap, 3), "Training cost ($)": cost,
            "Prompt tokens saved per query": round(saved, 1),
            "Break-even (queries)": count, "What it means": meaning}


def break_even_missing(results: Results) -> str | None:
    """Why a comparison has no break-even table, and what to add; None when it has one."""
    tuned = [v for v in results.get("variants", []) if v.get("kind") == "fine-tuned"]
    model = results.get("config", {}).get("model") or "the same base model"
    if not tuned:
        return ("Break-even weighs a fine-tuned model's one-time training cost against the "
                "longer prompts of prompting, so it needs a fine-tuned variant, and this "
                f"comparison has none. Train a run of {model} on the Train page, then pick it "
                "under \"Fine-tuned runs\" in New comparison (in a config file: a variant with "
                "\"kind\": \"fine-tuned\" and its \"run_id\").")
    if not any(metric_of(v, primary_metric(results)) for v in working_variants(results)
               if v.get("kind") == "fine-tuned"):
        return ("The fine-tuned variant(s) could not run (see the metrics table), so there is "
                "no break-even to show. Fix the run named there and compare again.")
    if best_variant(results, NO_TRAINING_KINDS) is None:
        return ("Break-even needs a variant without training to weigh the fine-tuned one "
                "against: add zero-shot or few-shot to the comparison.")
    return None


def break_even_rows(results: Results) -> pd.DataFrame:
    """Each fine-tuned variant against the best variant without training: when it pays back."""
    base = best_variant(results, NO_TRAINING_KINDS)
    tuned = [v for v in working_variants(results) if v.get("kind") == "fine-tuned"
             and metric_of(v, primary_metric(results))]
    rows = [_break_even_row(t, base, results) for t in tuned] if base else []
    return pd.DataFrame(rows)


# --- when to use which, and the verdict ------------------------------------------------------

WHEN_COLUMNS = {"Prompting": ("prompt", "zero-shot", "cot", "structured"),
                "Few-shot": ("few-shot",), "RAG": ("rag",), "Fine-tuning": ("fine-tuned",)}
WHEN_WORDS = {
    "Setup cost": ("Minutes: write an instruction", "Low: pick a few examples",
                   "Medium: build and tune a document index", "High: a training run"),
    "Data needed": ("Only the instruction", "A handful of labelled examples", "Your documents, unlabelled",
                    "Hundreds of labelled rows"),
    "Compute cost per query": ("Low: a short prompt", "Grows with every example in the prompt",
                               "Retrieved passages lengthen every prompt, plus a search",
                               "Lowest: a short prompt, after a one-time training cost"),
    "Depth of customisation": ("Shallow: instructions and answer format",
                               "Shallow: shows the format and where labels part",
                               "Adds knowledge from documents, not new behaviour",
                               "Deep: learns the task's behaviour and style from data"),
    "Maintenance": ("Edit the text; re-check when the model changes", "Swap the examples",
                    "Keep the index up to date; facts change without retraining",
                    "Retrain when the data or base model change; ship the adapter with "
                    "its base model"),
}


def _measured_setup(v: Variant) -> str:
    if v.get("kind") != "fine-tuned":
        return "0 training"
    cost = training_cost(v)
    spent = f", {fmt_money(cost)}" if cost is not None else ""
    device = device_name(v.get("train_device"))
    return f"{fmt_number(v.get('train_seconds'))} s training on {device}{spent}"


def _measured_data(v: Variant) -> str:
    if v.get("kind") == "fine-tuned":
        steps = v.get("train_steps")
        return f"{v.get('n_train_examples')} labelled training rows" + (
            f" ({steps} step{'s' if steps != 1 else ''})" if steps is not None else "")
    if v.get("kind") == "rag":
        return "documents, no labelled examples"
    shots = examples_used(v)
    return f"{shots} labelled examples in the prompt" if shots else "no labelled examples"


def _measured_compute(v: Variant) -> str:
    text = (f"{v.get('prompt_tokens_mean') or 0:,.0f} prompt tokens/query, "
            f"{fmt_number(v.get('latency_mean_s'))} s on {v.get('engine')}")
    cost = v.get("cost_per_1000")
    return text + (f", {fmt_money(cost)} per 1,000 queries" if cost is not None else "")


def _when_column(v: Variant | None, index: int, results: Results) -> list[str]:
    words = [row[index] for row in WHEN_WORDS.values()]
    if v is None:
        return ["not measured here"] + [f"{w} (not measured here)" for w in words]
    metric = primary_metric(results)
    measured = [_measured_setup(v), _measured_data(v),
                _measured_compute(v), "", ""]
    quality = f"{v['name']}: {metric_label(metric)} {fmt_interval(metric_of(v, metric))}"
    return [quality] + [f"{m}. {w}" if m else w for m, w in zip(measured, words)]


def when_to_use(results: Results) -> pd.DataFrame:
    """The classic prompting / few-shot / RAG / fine-tuning table, with this run's numbers.

    Each column is filled from its best measured variant; columns with no variant keep
    the usual words and say they were not measured.
    """
    columns = {name: _when_column(best_variant(results, kinds), i, results)
               for i, (name, kinds) in enumerate(WHEN_COLUMNS.items())}
    return pd.DataFrame(columns, index=["Quality on this task", *WHEN_WORDS])


def describe(variant: Variant) -> str:
    """What a variant does, for someone who has never heard of prompting techniques."""
    kind = variant.get("kind")
    return {"few-shot": f"an instruction with {variant.get('n_shots')} worked examples",
            "cot": "asking the model to reason step by step first",
            "structured": "an instruction with a required answer format",
            "rag": "giving the model relevant documents with each question",
            "fine-tuned": f"a copy of the model trained further on {_trained_on(variant)}"}.get(
        kind, "an instruction alone")


def _trained_on(variant: Variant) -> str:
    """"16 labelled examples for 2 steps", from the rows and steps the run really used."""
    rows, steps = variant.get("n_train_examples"), variant.get("train_steps")
    said = f"{rows} labelled examples" if rows is not None else "labelled examples"
    if steps is not None:
        said += f" for {steps} training step{'s' if steps != 1 else ''}"
    return said


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    """True when two 95% intervals overlap: the test cannot tell the two apart."""
    return a["low"] <= b["high"] and b["low"] <= a["high"]


def _ranking_sentences(results: Results, metric: str) -> list[str]:
    ranked = sorted((v for v in working_variants(results) if metric_of(v, metric)),
                    key=lambda v: -metric_of(v, metric)["value"])
    best, m = ranked[0], metric_of(ranked[0], metric)
    n = len(results.get("examples", [])) or results.get("config", {}).get("n_examples")
    title = results.get("task", {}).get("title", "this task")
    said = [f"On {n} test examples of {title}, the best setup was {best['name']} "
            f"({describe(best)}), with {metric_label(metric).lower()} {m['value']:.2f} "
            f"(95% range {m['low']:.2f} to {m['high']:.2f})."]
    if len(ranked) > 1:
        second, s = ranked[1], metric_of(ranked[1], metric)
        tie = ("the ranges overlap, so this test cannot tell the two apart with confidence"
               if overlap(m, s) else "the ranges do not overlap, so the lead is very likely real")
        said.append(f"Next came {second['name']} ({describe(second)}) at {s['value']:.2f}, "
                    f"{m['value'] - s['value']:.2f} lower; {tie}.")
    return said


def _tuning_sentences(results: Results, metric: str) -> list[str]:
    plain = best_variant(results, NO_TRAINING_KINDS)
    tuned = best_variant(results, ("fine-tuned",))
    if plain is None or tuned is None:
        return []
    p, t = metric_of(plain, metric), metric_of(tuned, metric)
    if overlap(p, t):
        said = [f"Prompting is enough: {plain['name']} is statistically level with the trained "
                f"model {tuned['name']} and needs no training run."]
    elif t["value"] > p["value"]:
        said = [f"Training pays off in quality: {tuned['name']} beats the best setup without "
                f"training, {plain['name']}, by {t['value'] - p['value']:.2f}."]
    else:
        said = [f"Training did not help: {tuned['name']} scored {p['value'] - t['value']:.2f} "
                f"below {plain['name']}, so stay with prompting."]
    cost = training_cost(tuned)
    spent = f" and cost about {fmt_money(cost)}" if cost is not None else ""
    said.append(f"Training took {fmt_number(tuned.get('train_seconds'))} s on a "
                f"{device_name(tuned.get('train_device'))}{spent}.")
    rows = break_even_rows(results)
    if rows.empty:
        return said
    if rows.iloc[0]["Break-even (queries)"].startswith("– (less"):
        said.append("No break-even on cost applies: its cheaper queries would buy worse answers.")
    else:
        said.append(f"Against {plain['name']}, the trained model "
                    f"{rows.iloc[0]['What it means']}.")
    return said


def _cost_sentence(results: Results) -> str:
    best = best_variant(results)
    if best.get("cost_per_1000") is not None:
        return (f"At your prices, {best['name']} costs about {fmt_money(best['cost_per_1000'])} "
                "per 1,000 questions.")
    return (f"No prices were set, so costs are not estimated; {best['name']} reads "
            f"{best.get('prompt_tokens_mean') or 0:,.0f} prompt tokens per question.")


def verdict(results: Results) -> str:
    """One plain-English paragraph for a stakeholder: what is best, by how much, at what cost."""
    metric = primary_metric(results)
    failed = failed_variants(results)
    if best_variant(results) is None:
        reasons = "; ".join(f"{v['name']}: {v['error']}" for v in failed) or "no variants"
        return f"No variant produced results, so there is nothing to compare yet ({reasons})."
    said = _ranking_sentences(results, metric) + _tuning_sentences(results, metric)
    said.append(_cost_sentence(results))
    if engines_note(results):
        said.append("Not every setup ran on the same software engine, so speed and cost "
                    "compare only roughly.")
    if failed:
        said.append(f"{len(failed)} setup(s) could not run: "
                    f"{', '.join(v['name'] for v in failed)} (see the table).")
    return " ".join(said)


# --- the self-contained HTML report ----------------------------------------------------------

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;font-size:.85em;margin:1em 0}th,td{border:1px solid
#ccc;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f3f3f3}
.verdict{font-size:1.1em;background:#f6f8ff;border-left:4px solid #636efa;padding:.8em 1em}
.note{color:#8a5300}.warning{background:#fff4e5;border-left:4px solid #e8a000;padding:.6em 1em}
pre{background:#f6f6f6;padding:1em;overflow-x:auto}"""


def _table_html(table: pd.DataFrame, index: bool = False) -> str:
    if table.empty:
        return "<p>Nothing to show.</p>"
    return table.to_html(index=index, na_rep="—", float_format=fmt_number, border=0)


def _figures_html(results: Results) -> str:
    # plotly.js (about 4.8 MB) goes in once, inline, so the file opens offline
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_height="480px",
                         config={"displaylogo": False})
             for i, fig in enumerate(all_figures(results))]
    return "\n".join(parts)


def _config_html(config: str) -> str:
    # a data: link saves the file without a server or a network
    link = f"data:application/json;charset=utf-8,{urllib.parse.quote(config)}"
    return (f'<p><a download="CONFIG.json" href="{link}">Save this configuration as '
            f"CONFIG.json</a> and run <code>{html.escape(REPRODUCE_COMMAND)}</code> "
            f"to repeat the comparison.</p><pre>{html.escape(config)}</pre>")


def _break_even_html(results: Results) -> str:
    missing = break_even_missing(results)
    if missing:
        return f'<p class="note">{html.escape(missing)}</p>'
    return _table_html(break_even_rows(results))


def _config_text(results: Results) -> str:
    """The reproduce config as JSON, each variant with only the settings its kind reads
    (older comparisons saved every setting on every variant)."""
    from core.compare import variant_settings

    config = dict(results.get("config", {}))
    if "variants" in config:
        config["variants"] = [variant_settings(v) for v in config["variants"]]
    return json.dumps(config, indent=2, ensure_ascii=False, default=str)


def _task_html(results: Results) -> str:
    """The task and its version, then each warning about a tuned run's data, before the
    verdict: a reader must know them before trusting any figure below."""
    from core.task_versions import result_warnings, task_line

    return (f"<p>{html.escape(task_line(results))}</p>"
            + "".join(f'<p class="warning">Warning: {html.escape(w)}</p>'
                      for w in result_warnings(results)))


def _sections(results: Results) -> list[tuple[str, str]]:
    sample = disagreements(results, only_disagree=True).head(DISAGREEMENT_SAMPLE)
    config = _config_text(results)
    return [
        ("Verdict", _task_html(results)
                    + f'<p class="verdict">{html.escape(verdict(results))}</p>'
                    + "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes(results))),
        ("Metrics", _table_html(metrics_table(results))),
        ("Charts", _figures_html(results)),
        ("When to use which", _table_html(when_to_use(results), index=True)),
        ("Break-even: when does fine-tuning pay for itself?", _break_even_html(results)),
        (f"Where the variants disagree (first {DISAGREEMENT_SAMPLE})",
         _table_html(sample) if not sample.empty
         else "<p>The variants agreed on every example.</p>"),
        ("Configuration", _config_html(config)),
    ]


def html_report(results: Results) -> str:
    """One self-contained HTML page (charts and plotly.js inline, no external links) to send on."""
    title = f"Prompt, few-shot, RAG or fine-tune? {results.get('task', {}).get('title', '')}"
    meta = (f"Comparison {results.get('id')} · {results.get('created_at')} · "
            f"{fmt_number(results.get('duration_s'))} s · {len(results.get('examples', []))} "
            "test examples · made with PromptTune Lab")
    body = "\n".join(f"<h2>{html.escape(name)}</h2>\n{content}"
                     for name, content in _sections(results))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(meta)}</p>\n{body}\n</body></html>")
