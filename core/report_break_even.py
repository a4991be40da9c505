"""Break-even: when a fine-tuned model's one-time training cost is paid back by cheaper
queries, weighed only between setups of comparable quality.

Pure functions of a comparison's results dict (see ``core.report``, which re-exports them).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from core.paired import pair_between
from core.report_charts import (NO_TRAINING_KINDS, Results, Variant, best_variant, metric_label,
                                metric_words,
                                metric_of, primary_metric, working_variants)

COMPARABLE_GAP = 0.02  # results this close count as level even where the intervals part


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    """True when two 95% intervals overlap: the test cannot tell the two apart."""
    return a["low"] <= b["high"] and b["low"] <= a["high"]


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


def _worse_meaning(gap: float, base: Variant, metric: str, pair: dict | None = None) -> str:
    """The trained model is clearly worse: a cost break-even would compare unequal things."""
    why = ("their 95% ranges do not overlap" if pair is None else
           f"a real difference on the paired test: 95% interval {pair['low']:.2f} to "
           f"{pair['high']:.2f}")
    return (f"scores {abs(gap):.2f} lower on {metric_words(metric)} than {base['name']} "
            f"({why}), so no break-even applies: its cheaper queries would buy worse answers")


def _clearly_worse(tuned: Variant, base: Variant, results: Results,
                   metric: str) -> tuple[bool, dict | None]:
    """Is the trained model worse than ``base``, and the paired test behind that answer?

    On the paired test where both kept per-example answers on the ranked metric (as the
    verdict decides leads); for older comparisons without them, on the 95% ranges."""
    pair = pair_between(results, tuned["name"], base["name"])
    if pair is not None and pair["metric"] == metric:
        return bool(pair["real"] and pair["leader"] == base["name"]), pair
    t, b = metric_of(tuned, metric), metric_of(base, metric)
    return t["value"] < b["value"] and not comparable(t, b), None


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
    worse, pair = _clearly_worse(tuned, base, results, metric)
    if worse:
        count, meaning = "– (less accurate)", _worse_meaning(gap, base, metric, pair)
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
