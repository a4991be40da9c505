"""Turn a comparison's results dict into tables, a verdict, break-even figures and a report.

The results dict is what ``core.compare`` writes (see ``tests/core/test_report.py``
for a full example). Everything here is a pure function of it: the Compare page,
the CLI and the HTML export show the same numbers. The charts live in
``core.report_charts``, break-even in ``core.report_break_even``, the paired differences,
label collapse, draw spread and setup parts in ``core.report_stats``; all are re-exported
here, so a caller needs one import. A lead is called real only on the paired test.
"""

from __future__ import annotations

import html
import io
import json
import urllib.parse
from typing import Any

import pandas as pd

from core.report_charts import (NO_TRAINING_KINDS, Results, Variant, all_figures,  # noqa: F401
                                best_variant, confusion_figures, engines_note, examples_used,
                                device_name, failed_variants, finite, fmt_interval, fmt_money,
                                fmt_number, metric_bars,
                                metric_label, metric_names, metric_of, metric_words,
                                primary_metric,
                                quality_vs_cost, quality_vs_examples, working_variants)
from core.report_break_even import (COMPARABLE_GAP, break_even, break_even_missing,  # noqa: F401
                                    break_even_rows, comparable, overlap, training_cost)
from core.report_when import WHEN_COLUMNS, WHEN_WORDS, when_to_use  # noqa: F401
from core.report_stats import (collapse_notes, has_parts, paired_caption,  # noqa: F401
                               paired_sentences, paired_table, parts_cells, ranking_pair,
                               same_to_two_places, spread_cell, stats_notes, unpaired_clause)
from core.paired import pair_between
from core.report_review import REVIEW_CSS, fold_results, people_html, review_html

REPRODUCE_COMMAND = "python -m core compare CONFIG.json"
DISAGREEMENT_SAMPLE = 20


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
    """Everything a reader must know beside the numbers: engines, prices, failed variants,
    the metric of the paired figures, few-shot draw spreads, calibrated setups."""
    found = [engines_note(results), prices_note(results)]
    found += [f"{v['name']} could not run: {v['error']}" for v in failed_variants(results)]
    return [n for n in found if n] + stats_notes(results)


def _variant_row(variant: Variant, metrics: list[str], parts: bool,
                 spread: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"Variant": variant["name"], "Kind": variant.get("kind")}
    if parts:  # a setup's model, prompt and retrieval, beside its kind
        row.update(parts_cells(variant))
        row["Engine"] = variant.get("engine")
    else:
        if variant.get("calibrated"):
            row["Kind"] = f"{row['Kind']}, calibrated"
        row.update({"Engine": variant.get("engine"), "Model": variant.get("model")})
    for m in metrics:
        row[metric_label(m)] = fmt_interval(metric_of(variant, m))
        if m == spread:  # the range other draws of the same examples gave, beside the metric
            row[f"{metric_label(m)} over other draws"] = spread_cell(variant)
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
    """One row per variant: metrics with 95% intervals, tokens, latency, cost, training, error;
    with setups, its Model / Prompt / Retrieval parts, and any few-shot draw spread as a range
    beside its metric."""
    metrics = metric_names(results)
    spreads = [v["draw_spread"] for v in results.get("variants", []) if v.get("draw_spread")]
    spread = (spreads[0].get("metric") or primary_metric(results)) if spreads else None
    rows = [_variant_row(v, metrics, has_parts(results), spread)
            for v in results.get("variants", [])]
    table = pd.DataFrame(rows)
    for column in ("Prompt tokens", "Latency (s)", "Tokens/s", "Cost / 1,000 queries ($)",
                   "Training time (s)", "Training cost ($)"):
        if column in table:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def _prediction_cell(output: dict[str, Any] | None, kind: str | None = None) -> str:
    """An answer with its mark: ✓/✗, or for free text (which almost never contains the
    whole reference) its chrF against the reference."""
    if not output:
        return "—"
    if kind == "text" and isinstance(output.get("score"), (int, float)):
        mark = f"[chrF {output['score']:.2f}] "
    else:
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
        kind = (results.get("task") or {}).get("kind")
        row.update({n: _prediction_cell(outputs.get(n), kind) for n in names})
        rows.append(row)
    return pd.DataFrame(rows, columns=["Example", "Input", "Reference", *names])


def results_csv(results: Results) -> str:
    """Per-example CSV: id, input, reference, then prediction, correct and raw per variant
    (and its score, where the comparison kept one)."""
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
            if "score" in output:  # the per-example primary metric of newer comparisons
                row[f"{name} score"] = output["score"]
        rows.append(row)
    buffer = io.StringIO()
    pd.DataFrame(rows).to_csv(buffer, index=False)
    return buffer.getvalue()


# --- the verdict ------------------------------------------------------------------------------

def describe(variant: Variant) -> str:
    """What a variant does, for someone who has never heard of prompting techniques."""
    kind = variant.get("kind")
    return {"few-shot": f"an instruction with {variant.get('n_shots')} worked examples",
            "cot": "asking the model to reason step by step first",
            "structured": "an instruction with a required answer format",
            "rag": "giving the model relevant documents with each question",
            "react": "letting the model reason and call tools (ReAct)",
            "fine-tuned": f"a copy of the model trained further on {_trained_on(variant)}"}.get(
        kind, "an instruction alone") + _hybrid_words(variant) + (
        ", with calibrated label scores" if variant.get("calibrated") else "")


def _hybrid_words(variant: Variant) -> str:
    """What a setup adds to its kind: a tuned model's prompt technique, retrieval beside
    another technique, a system prompt ("" for results saved before setups)."""
    parts = variant.get("parts") or {}
    prompt = str(parts.get("prompt") or "").replace(" calibrated", "")
    retrieval, kind, said = parts.get("retrieval"), variant.get("kind"), ""
    if kind == "fine-tuned" and prompt and not prompt.startswith("zero-shot"):
        said += f", prompted {prompt.replace(' + system prompt', '')}"
    if retrieval and retrieval != "none" and kind not in ("rag",):
        said += f", with passages retrieved from {retrieval}"
    return said + (", with a system prompt" if "system prompt" in prompt else "")


def _trained_on(variant: Variant) -> str:
    """"16 labelled examples for 2 steps", from the rows and steps the run really used."""
    rows, steps = variant.get("n_train_examples"), variant.get("train_steps")
    said = f"{rows} labelled examples" if rows is not None else "labelled examples"
    if steps is not None:
        said += f" for {steps} training step{'s' if steps != 1 else ''}"
    return said


def _ranking_sentences(results: Results, metric: str) -> list[str]:
    ranked = sorted((v for v in working_variants(results) if metric_of(v, metric)),
                    key=lambda v: -metric_of(v, metric)["value"])
    best, m = ranked[0], metric_of(ranked[0], metric)
    n = len(results.get("examples", [])) or results.get("config", {}).get("n_examples")
    title = results.get("task", {}).get("title", "this task")
    figure = (f"{metric_words(metric)} {m['value']:.2f} "
              f"(95% range {m['low']:.2f} to {m['high']:.2f})")
    tied = [v for v in ranked[1:] if same_to_two_places(metric_of(v, metric), m)]
    if tied:  # never "0.00 lower": a tie is said as a tie
        names = ", ".join(f"{v['name']} ({describe(v)})" for v in [best, *tied][:-1])
        said = [f"On {n} test examples of {title}, {names} and {tied[-1]['name']} "
                f"({describe(tied[-1])}) tied for best, with {figure}."]
        paired = ranking_pair(results, best["name"], tied[0]["name"])
        said += [paired] if paired else []
    else:
        said = [f"On {n} test examples of {title}, the best setup was {best['name']} "
                f"({describe(best)}), with {figure}."]
    rest = ranked[1 + len(tied):]
    return said + (_next_sentences(results, best, rest[0], metric) if rest else [])


def _next_sentences(results: Results, best: Variant, second: Variant, metric: str) -> list[str]:
    """The runner-up, how far behind, and whether the paired test sees a real lead."""
    m, s = metric_of(best, metric), metric_of(second, metric)
    return [f"Next came {second['name']} ({describe(second)}) at {s['value']:.2f}, "
            f"{m['value'] - s['value']:.2f} lower.",
            ranking_pair(results, best["name"], second["name"]) or unpaired_clause(m, s)]


def _tuning_verdict(results: Results, plain: Variant, tuned: Variant, metric: str) -> str:
    """Does training pay off in quality? On the paired test when the answers were kept."""
    p, t = metric_of(plain, metric), metric_of(tuned, metric)
    pair = pair_between(results, plain["name"], tuned["name"])
    level = overlap(p, t) if pair is None else not pair["real"]
    if level:
        how = "on the paired test " if pair is not None else ""
        return (f"Prompting is enough: {plain['name']} is statistically level with the trained "
                f"model {tuned['name']} {how}and needs no training run.")
    ahead = (pair["leader"] == tuned["name"]) if pair else t["value"] > p["value"]
    gap = pair["difference"] if pair else abs(t["value"] - p["value"])
    if ahead:
        return (f"Training pays off in quality: {tuned['name']} beats the best setup without "
                f"training, {plain['name']}, by {gap:.2f}.")
    return (f"Training did not help: {tuned['name']} scored {gap:.2f} below {plain['name']}, "
            "so stay with prompting.")


def _tuning_sentences(results: Results, metric: str) -> list[str]:
    plain = best_variant(results, NO_TRAINING_KINDS)
    tuned = best_variant(results, ("fine-tuned",))
    if plain is None or tuned is None:
        return []
    said = [_tuning_verdict(results, plain, tuned, metric)]
    cost = training_cost(tuned)
    spent = f" and cost about {fmt_money(cost)}" if cost is not None else ""
    said.append(f"Training took {fmt_number(tuned.get('train_seconds'))} s on a "
                f"{device_name(tuned.get('train_device'))}{spent}.")
    rows = break_even_rows(results)
    # the row of the trained setup the verdict named, not the table's first tuned row
    rows = rows[rows["Fine-tuned variant"] == tuned["name"]] if not rows.empty else rows
    if rows.empty:
        return said
    if rows.iloc[0]["Break-even (queries)"].startswith("– (less"):
        said.append(f"No break-even on cost applies: {tuned['name']}'s cheaper queries would "
                    "buy worse answers.")
    else:
        said.append(f"Against {plain['name']}, {tuned['name']} "
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
    said += collapse_notes(results)
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


def _paired_html(results: Results) -> str:
    table = paired_table(results)
    if table.empty:
        return ('<p class="note">No paired differences: fewer than two setups kept their '
                "answers per example.</p>")
    return f"<p>{html.escape(paired_caption(results))}</p>" + _table_html(table)


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


def _sections(results: Results, summary: dict | None = None) -> list[tuple[str, str]]:
    sample = disagreements(results, only_disagree=True).head(DISAGREEMENT_SAMPLE)
    config = _config_text(results)
    people = [("Reviews by people", people_html(summary))] if summary else []
    return [
        ("Verdict", _task_html(results)
                    + f'<p class="verdict">{html.escape(verdict(results))}</p>'
                    + "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes(results))),
        ("Metrics", _table_html(metrics_table(results))),
        *people,
        ("Paired differences", _paired_html(results)),
        ("Charts", _figures_html(results)),
        ("When to use which", _table_html(when_to_use(results), index=True)),
        ("Break-even: when does fine-tuning pay for itself?", _break_even_html(results)),
        (f"Where the variants disagree (first {DISAGREEMENT_SAMPLE})",
         _table_html(sample) if not sample.empty
         else "<p>The variants agreed on every example.</p>"),
        ("Configuration", _config_html(config)),
    ]


def html_report(results: Results, review: dict | None = None) -> str:
    """One self-contained HTML page (charts and plotly.js inline, no external links) to send on.

    ``review`` ({"pack", "summary"}, either None): with a summary, a "Reviews by people"
    section; with a pack, a blind review first and every section below folded, as they name
    the setups a reviewer must not know."""
    review = review or {}
    title = f"Prompt, few-shot, RAG or fine-tune? {results.get('task', {}).get('title', '')}"
    meta = (f"Comparison {results.get('id')} · {results.get('created_at')} · "
            f"{fmt_number(results.get('duration_s'))} s · {len(results.get('examples', []))} "
            "test examples · made with PromptTune Lab")
    blind = review_html(review["pack"]) if review.get("pack") else ""  # refused before drawing
    body = "\n".join(f"<h2>{html.escape(name)}</h2>\n{content}"
                     for name, content in _sections(results, review.get("summary")))
    if blind:
        body = blind + "\n" + fold_results(body)
    css = CSS + (REVIEW_CSS if review.get("pack") else "")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{css}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(meta)}</p>\n{body}\n</body></html>")
