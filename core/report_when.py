"""The classic "when to use which" table (prompting, few-shot, RAG, fine-tuning), each column
filled with this comparison's measured numbers. Re-exported by ``core.report``."""

from __future__ import annotations

import pandas as pd

from core.report_break_even import training_cost
from core.report_charts import (Results, Variant, best_variant, device_name, examples_used,
                                fmt_interval, fmt_money, fmt_number, metric_label, metric_of,
                                primary_metric)

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
