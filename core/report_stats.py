"""The report's statistical sections: paired differences, label collapse, draw spread, parts.

Pure functions of a comparison's results dict (see ``core.report``). Results saved before
setups existed have no ``parts``, ``draw_spread``, ``calibrated`` or per-example ``score``:
every function here then either reads the older fields (``correct``, the answers) or adds
nothing, so an old comparison renders as it always did.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from core.label_bias import collapse_sentences
from core.paired import ALL_PAIRS_UP_TO, pair_between, paired_differences
from core.report_break_even import overlap
from core.report_charts import (PART_NAMES, Results, Variant, best_variant, metric_label,
                                metric_words,
                                primary_metric, working_variants)


def fmt_p(p: float) -> str:
    """A p-value as a sentence says it: "p = 0.003", "p = 0.62", "p < 0.001"."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2f}" if p >= 0.1 else f"p = {p:.3f}"


def _evidence(pair: dict[str, Any]) -> str:
    said = f"paired 95% interval {pair['low']:.2f} to {pair['high']:.2f}"
    return said + (f"; McNemar {fmt_p(pair['p'])}" if pair.get("p") is not None else "")


def pair_sentence(pair: dict[str, Any], primary: str | None = None) -> str:
    """One paired difference in words: a real lead, a lead within noise, or a tie.

    The metric is named when it is not ``primary`` (the one the verdict ranks by)."""
    on = "" if pair["metric"] == primary else f" on {metric_words(pair['metric'])}"
    if pair["tie"]:
        return (f"{pair['leader']} and {pair['other']} are tied{on} (difference "
                f"{pair['difference']:.2f}; {_evidence(pair)}): no lead either way.")
    verdict = ("a real lead" if pair["real"] else
               "within noise, so this test cannot tell the two apart")
    return (f"{pair['leader']} leads {pair['other']} by {pair['difference']:.2f}{on} "
            f"({_evidence(pair)}): {verdict}.")


def _pair_verdict(pair: dict[str, Any]) -> str:
    return "tie" if pair["tie"] else "real lead" if pair["real"] else "within noise"


def paired_table(results: Results) -> pd.DataFrame:
    """The "Paired differences" table: every pair of working setups when there are few
    (up to ``core.paired.ALL_PAIRS_UP_TO``), else each setup against the best. Empty when
    fewer than two setups kept per-example answers."""
    best = best_variant(results)
    pairs = paired_differences(results, best=best["name"] if best else None)
    rows = [{"Leader": p["leader"], "Other": p["other"], "Metric": metric_label(p["metric"]),
             "Difference": round(p["difference"], 3),
             "Paired 95% interval": f"{p['low']:.2f} to {p['high']:.2f}",
             "Only the leader right / only the other": (
                 f"{p['b10']} / {p['b01']}" if p["p"] is not None else "—"),
             "McNemar p": "—" if p["p"] is None else fmt_p(p["p"]).removeprefix("p = "),
             "Verdict": _pair_verdict(p)} for p in pairs]
    return pd.DataFrame(rows)


def paired_sentences(results: Results) -> list[str]:
    """The rows of ``paired_table`` in words, one sentence each (for a page or the CLI)."""
    best = best_variant(results)
    primary = primary_metric(results)
    return [pair_sentence(p, primary)
            for p in paired_differences(results, best=best["name"] if best else None)]


def paired_caption(results: Results) -> str:
    """What the paired table shows and how to read it, in a sentence or two."""
    many = len(working_variants(results)) > ALL_PAIRS_UP_TO
    which = "each setup against the best" if many else "every pair of setups"
    return (f"{which.capitalize()}: the setups answered the same examples, so each "
            "difference is taken example by example, with a paired bootstrap 95% interval and, "
            "for right/wrong scores, McNemar's exact test on the examples where the two differ. "
            "A lead is real only when the interval excludes 0 and McNemar's p is below 0.05.")


def same_to_two_places(a: dict[str, float], b: dict[str, float]) -> bool:
    """Tied as the verdict shows them: the same value to two decimals."""
    return f"{a['value']:.2f}" == f"{b['value']:.2f}"


def unpaired_clause(a: dict[str, float], b: dict[str, float]) -> str:
    """Without per-example answers there is no paired test: say what the ranges show."""
    if overlap(a, b):
        return "The 95% ranges overlap, so this test cannot tell the two apart with confidence."
    return ("The 95% ranges do not overlap, but the answers per example were not kept, so no "
            "paired test could check the lead.")


def ranking_pair(results: Results, a: str, b: str) -> str | None:
    """The paired sentence between two setups the verdict names; None without scores."""
    pair = pair_between(results, a, b)
    return pair_sentence(pair, primary_metric(results)) if pair else None


# --- few-shot draws, calibration, parts -------------------------------------------------------

def spread_cell(variant: Variant) -> str:
    """A row's draw spread as a range: "0.41 to 0.55 (5 draws)"; "" without one."""
    spread = variant.get("draw_spread")
    if not spread:
        return ""
    return f"{spread['min']:.2f} to {spread['max']:.2f} ({spread.get('draws', '?')} draws)"


def spread_sentence(variant: Variant) -> str | None:
    """"another draw of the same 4 examples moved accuracy from 0.41 to 0.55", named."""
    spread = variant.get("draw_spread")
    if not spread:
        return None
    shots = variant.get("n_shots")
    same = f"the same {shots} examples" if shots else "the same number of examples"
    what = metric_words(spread.get("metric", "accuracy"))
    return (f"{variant['name']}: another draw or order of {same} moved {what} from "
            f"{spread['min']:.2f} to {spread['max']:.2f} over {spread.get('draws', '?')} draws, "
            "so a few-shot result depends on which examples it was shown.")


def has_parts(results: Results) -> bool:
    """True when the result rows say their setup's parts (comparisons made with setups)."""
    return any(v.get("parts") for v in results.get("variants", []))


def parts_cells(variant: Variant) -> dict[str, str]:
    """The Model / Prompt / Retrieval columns of one row, the prompt marked when calibrated."""
    parts = variant.get("parts") or {}
    cells = {label: str(parts.get(key) or "—") for key, label in PART_NAMES.items()}
    if variant.get("calibrated") and "calibrat" not in cells["Prompt"]:
        cells["Prompt"] += ", calibrated"
    return cells


def stats_notes(results: Results) -> list[str]:
    """Notes beside the numbers: which metric the paired figures are on, each draw spread,
    each calibrated setup."""
    said = []
    pairs = paired_differences(results)
    primary = primary_metric(results)
    if pairs and pairs[0]["metric"] != primary:
        said.append(f"Paired differences are on {metric_words(pairs[0]['metric'])}, "
                    f"the per-example score: {metric_words(primary)} is not a "
                    "per-example figure.")
    said += [s for s in map(spread_sentence, working_variants(results)) if s]
    calibrated = [v["name"] for v in working_variants(results) if v.get("calibrated")]
    if calibrated:
        said.append(f"Calibrated label scoring (contextual calibration) was used by "
                    f"{', '.join(calibrated)}: each label's score is divided by the score the "
                    "same prompt gives a content-free input, so a label the prompt favours for "
                    "no reason loses that favour.")
    return said


def collapse_notes(results: Results) -> list[str]:
    """Setups that answered one label for (almost) every input, in plain words."""
    return collapse_sentences(results)
