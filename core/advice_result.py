"""The advice: every point of a sweep assembled into one comparison, and what it says.

Each finished point of the advisor's sweep is a one-setup comparison on the same test examples
(its record: the row, the per-example outputs, the examples). ``assemble_results`` joins them
into ONE results dict of the shape ``core.compare.evaluate`` returns, so the Compare page's
functions (``core.report``: break-even, paired differences, the when-to-use table) work on it
and the advice agrees with a manual comparison by construction. ``build_advice`` adds the best
prompted / tuned / hybrid / retrieval points, the paired differences between them, the learning
curve (``core.learning_curve``), the tutorial's table of factors with this task's numbers, and a
recommendation in two or three sentences that claims a lead only where the paired test sees one.
"""

from __future__ import annotations

import copy
from dataclasses import asdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from core.compare import CompareConfig, Prices, _costs
from core.compare_scores import PRIMARY, metric_notes
from core.errors import LabError
from core.learning_curve import CurvePoint, learning_curve
from core.paired import example_scores, pair_between
from core.report import break_even_missing, break_even_rows, device_name, fmt_money, fmt_number
from core.setups import Setup

if TYPE_CHECKING:
    from core.advice_plan import AdviceConfig

VERSION = 1
FAMILIES = ("prompted", "tuned", "hybrid", "retrieval")
FACTORS = ("Setup time", "Data needed", "Compute", "Cost per 1,000 queries", "Break-even",
           "Maintenance")
FIX_RERUN = "Run the advice again: finished points are reused from the cache."


# --- one comparison from the points ---------------------------------------------------------

def _working(record: dict[str, Any]) -> bool:
    return not (record.get("row") or {}).get("error") and bool(record.get("outputs"))


def _shared_examples(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The test examples every working point answered; LabError when two differ."""
    shared: list[dict[str, Any]] | None = None
    for record in filter(_working, records):
        examples = [{k: e.get(k) for k in ("id", "input", "reference")}
                    for e in record.get("examples") or []]
        if len(examples) != len(record["outputs"]):
            raise LabError(f"Point {record.get('name')!r} has {len(record['outputs'])} answers "
                           f"for {len(examples)} test examples.", FIX_RERUN)
        if shared is None:
            shared, first = examples, record.get("name")
        elif [e["id"] for e in examples] != [e["id"] for e in shared]:
            raise LabError(f"Points {first!r} and {record.get('name')!r} were scored on "
                           "different test examples, so they cannot be compared pairwise.",
                           "Run the advice again with the same number of test examples for "
                           "every point (the sweep does this unless the task's test split "
                           "changed between runs).")
    return shared or []


def _row(record: dict[str, Any], prices: Prices) -> dict[str, Any]:
    """The point's result row, named as the point and priced at this advice's prices (a point
    reused from the cache may have been scored under other prices)."""
    row = copy.deepcopy(record.get("row") or {})
    row["name"] = record["name"]
    if not row.get("error"):
        row["cost_per_1000"] = row["training_cost"] = None
        if row.get("prompt_tokens_mean") is not None:
            _costs(row, prices)
    return row


def _config(config: AdviceConfig, records: list[dict[str, Any]], n_examples: int) -> dict[str, Any]:
    """The comparison config that reproduces the points as one comparison."""
    setups = [Setup.from_dict({**(r.get("row") or {}).get("setup", {}), "name": r["name"]})
              for r in records if (r.get("row") or {}).get("setup")]
    if not setups or n_examples < 5:  # nothing ran: no comparison to reproduce
        return {"task": config.task, "setups": [], "variants": [], "n_examples": n_examples,
                "seed": config.seed, "model": config.model, "engine": config.engine,
                "prices": asdict(config.prices), "draws": 0}
    return CompareConfig(config.task, setups=setups, n_examples=n_examples, seed=config.seed,
                         model=config.model, engine=config.engine,
                         prices=config.prices).to_dict()


def assemble_results(config: AdviceConfig, records: list[dict[str, Any]]) -> dict[str, Any]:
    """One comparison results dict (``core.compare.evaluate``'s shape) of every point: one
    variant row each, the shared examples with every point's answers. Points scored on
    different examples, or two points of one name, are refused (LabError)."""
    names = [r.get("name") for r in records]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise LabError("Two points of the advice have the same name (or one has none).",
                       "Pass each finished point once.")
    examples = _shared_examples(records)
    prices = config.prices
    rows = [_row(r, prices) for r in records]
    outputs = {r["name"]: r["outputs"] for r in records if _working(r)}
    task = next((r["task"] for r in records if r.get("task")), {"name": config.task})
    return {"id": None, "created_at": _now(),
            "duration_s": round(sum(r.get("seconds") or 0 for r in records), 1),
            "config": _config(config, records, len(examples)), "task": task,
            "warnings": metric_notes(task.get("kind", "")), "tuned_runs": [],
            "prices": asdict(prices), "variants": rows,
            "examples": [{**e, "outputs": {name: out[i] for name, out in outputs.items()}}
                         for i, e in enumerate(examples)]}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- points, the best of each family, the pairs between them ---------------------------------

def _point(record: dict[str, Any], row: dict[str, Any], metric: str) -> dict[str, Any]:
    point = record.get("point") or {}
    figure = ((row.get("metrics") or {}).get(metric) or {}) if not row.get("error") else {}
    return {"name": record["name"], "family": record.get("family"), "kind": point.get("kind"),
            "labelled": record.get("labelled"), "shots": point.get("shots", 0),
            "rows": point.get("rows", 0), "seed": point.get("seed", 0),
            "value": figure.get("value"), "low": figure.get("low"), "high": figure.get("high"),
            "seconds": record.get("seconds"),
            "train_seconds": record.get("train_seconds") or row.get("train_seconds"),
            "reused": bool(record.get("reused")), "run_id": record.get("run_id"),
            "prompt_tokens_mean": row.get("prompt_tokens_mean"),
            "cost_per_1000": row.get("cost_per_1000"), "training_cost": row.get("training_cost"),
            "train_device": row.get("train_device"), "error": row.get("error")}


def best_points(points: list[dict[str, Any]]) -> dict[str, str | None]:
    """The best point of each family by the primary metric (ties: fewer prompt tokens)."""
    best: dict[str, str | None] = {}
    for family in FAMILIES:
        pool = [p for p in points if p["family"] == family and p["value"] is not None]
        top = max(pool, key=lambda p: (p["value"], -(p["prompt_tokens_mean"] or 0)), default=None)
        best[family] = top["name"] if top else None
    return best


PAIRS = (("prompted", "tuned"), ("tuned", "hybrid"), ("prompted", "hybrid"),
         ("prompted", "retrieval"), ("tuned", "retrieval"))


def best_pairs(results: dict[str, Any], best: dict[str, str | None]) -> list[dict[str, Any]]:
    """The paired differences between the best points (``core.paired.compare_pair`` dicts)."""
    found = []
    for a, b in PAIRS:
        if best[a] and best[b]:
            pair = pair_between(results, best[a], best[b])
            found += [pair] if pair is not None else []
    return found


def _pair(pairs: list[dict[str, Any]], a: str | None, b: str | None) -> dict[str, Any] | None:
    return next((p for p in pairs if {p["leader"], p["other"]} == {a, b}), None)


def beats(pairs: list[dict[str, Any]], a: str | None, b: str | None) -> bool:
    """True when ``a`` leads ``b`` for real on the paired test."""
    pair = _pair(pairs, a, b)
    return bool(pair and pair["real"] and pair["leader"] == a)


def _curve(results: dict[str, Any], points: list[dict[str, Any]], best: dict[str, str | None],
           metric: str, seed: int) -> dict[str, Any]:
    """The learning curve of the tuned points (all seeds) against the best prompted point."""
    def scored(point: dict[str, Any], rows: int) -> CurvePoint | None:
        scores, _ = example_scores(results, point["name"])
        return CurvePoint(point["name"], rows, tuple(scores)) if scores else None

    tuned = [scored(p, p["rows"] or p["labelled"] or 0) for p in points
             if p["family"] == "tuned" and p["value"] is not None]
    prompted = _named(points, best["prompted"])
    target = scored(prompted, prompted["shots"] or 0) if prompted else None
    return learning_curve([t for t in tuned if t is not None], target, metric, seed=seed)


def _named(points: list[dict[str, Any]], name: str | None) -> dict[str, Any] | None:
    return next((p for p in points if p["name"] == name), None)


# --- the tutorial's table of factors, with this task's numbers --------------------------------

def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _spent(points: list[dict[str, Any]], family: str) -> float:
    return sum(p["seconds"] or 0 for p in points if p["family"] == family)


def _cost_cell(point: dict[str, Any] | None) -> str:
    if point is None:
        return "not measured here"
    tokens = f"{point['prompt_tokens_mean'] or 0:,.0f} prompt tokens per query"
    if point["cost_per_1000"] is None:
        return f"{tokens} (no prices set; {point['name']})"
    return f"{fmt_money(point['cost_per_1000'])} ({tokens}; {point['name']})"


def _break_even_cell(results: dict[str, Any], tuned: dict[str, Any] | None) -> str:
    """The Compare page's break-even for the best tuned point, in its own words."""
    if tuned is None:
        return "not measured here: no tuned point ran"
    missing = break_even_missing(results)
    table = break_even_rows(results)
    rows = table[table["Fine-tuned variant"] == tuned["name"]] if not table.empty else table
    if missing or rows.empty:
        return missing or "no break-even: no point without training to weigh it against"
    row = rows.iloc[0]
    count = row["Break-even (queries)"]
    head = f"{count} queries: " if count[:1].isdigit() else "never: " if count == "never" else ""
    return f"{head}against {row['Compared with']}, {tuned['name']} {row['What it means']}"


def _train_words(tuned: dict[str, Any]) -> str:
    seconds, cost = tuned["train_seconds"], tuned["training_cost"]
    said = f"{fmt_number(seconds)} s of training on a {device_name(tuned['train_device'])}"
    return said + (f", {fmt_money(cost)} at the prices set" if cost is not None
                   else " (no price per CPU- or GPU-hour set)")


def factors(results: dict[str, Any], points: list[dict[str, Any]],
            best: dict[str, str | None], curve: dict[str, Any]) -> list[dict[str, str]]:
    """The tutorial's table (setup time, data needed, compute, cost, break-even, maintenance)
    with this task's measured numbers: one dict per factor, a cell per approach."""
    prompt, tuned, retrieval = (_named(points, best[f]) for f in ("prompted", "tuned",
                                                                   "retrieval"))
    none = "not measured here"
    count = sum(p["family"] == "prompted" for p in points)
    count = f"{count} prompt point{'s' if count != 1 else ''}"
    cells = {
        "Setup time": (f"{_minutes(_spent(points, 'prompted'))} of scoring for {count}, "
                       "no training" if prompt else none,
                       f"{fmt_number(tuned['train_seconds'])} s of training for {tuned['name']} "
                       "(measured here)" if tuned else none,
                       f"{_minutes(_spent(points, 'retrieval'))} of scoring, no training"
                       if retrieval else none),
        "Data needed": (f"{prompt['shots']} labelled examples in the prompt ({prompt['name']})"
                        if prompt else none,
                        f"{tuned['name']} used {tuned['rows']} labelled rows. "
                        f"{curve['n_needed']['words']}" if tuned else none,
                        "your documents, no labelled rows" if retrieval else none),
        "Compute": ("none: no training" if prompt else none,
                    _train_words(tuned) if tuned else none,
                    "none: no training (an index of the documents)" if retrieval else none),
        "Cost per 1,000 queries": (_cost_cell(prompt), _cost_cell(tuned), _cost_cell(retrieval)),
        "Break-even": ("no training cost to pay back", _break_even_cell(results, tuned),
                       "no training cost to pay back" if retrieval else none),
        "Maintenance": ("edit the prompt or swap its examples; re-check when the model changes",
                        f"retrain on this data: about {fmt_number(tuned['train_seconds'])} s "
                        "here, measured; ship the adapter with its base model" if tuned else none,
                        "keep the document index up to date; no retraining" if retrieval
                        else none)}
    return [{"factor": name, "prompting": cells[name][0], "fine-tuning": cells[name][1],
             "retrieval": cells[name][2]} for name in FACTORS]


# --- the recommendation ---------------------------------------------------------------------

def _oriented(pair: dict[str, Any], name: str) -> tuple[float, float, float]:
    """``name`` minus the other point, with its paired 95% interval."""
    if pair["leader"] == name:
        return pair["difference"], pair["low"], pair["high"]
    return -pair["difference"], -pair["high"], -pair["low"]


def _by(pair: dict[str, Any], name: str, count: bool = True) -> str:
    """A real lead of ``name`` in numbers: "0.10 accuracy (95% interval 0.05 to 0.16, ...)"."""
    d, low, high = _oriented(pair, name)
    on = f", on {pair['n']} test examples" if count else ""
    return (f"{d:.2f} {pair['metric'].replace('_', ' ')} (95% interval {low:.2f} to "
            f"{high:.2f}, paired{on})")


def _relation(pair: dict[str, Any], name: str) -> str:
    """How ``name`` stands against the other point of the pair, said as the test found it."""
    other = pair["other"] if pair["leader"] == name else pair["leader"]
    d, low, high = _oriented(pair, name)
    if pair["tie"]:
        return f"ties with {other} (difference {abs(d):.2f})"
    interval = f"95% interval {low:+.2f} to {high:+.2f}, paired"
    if pair["real"] and d < 0:
        return f"scores {abs(d):.2f} lower than {other} ({interval}): a real gap"
    return f"is within noise of {other} ({d:+.2f}, {interval})"


def _training_sentence(results: dict[str, Any], point: dict[str, Any]) -> str:
    said = f"Training {point['name']} took {fmt_number(point['train_seconds'])} s here"
    table = break_even_rows(results)
    rows = table[table["Fine-tuned variant"] == point["name"]] if not table.empty else table
    if rows.empty:
        return said + "."
    row = rows.iloc[0]
    return f"{said}; against {row['Compared with']}, it {row['What it means']}."


def _undecided(best: dict[str, str | None], pairs: list[dict[str, Any]],
               skipped: list[dict[str, Any]], points: list[dict[str, Any]]) -> list[str] | None:
    """The sentences when a point the choice needs is missing; None when none is."""
    prompt, tuned = best["prompted"], best["tuned"]
    lost = [s for s in skipped if str(s.get("name", "")).startswith("LoRA")] or skipped
    why = f" ({lost[0].get('name')}: {lost[0].get('reason')})" if lost else ""
    if prompt is None and tuned is None:
        return [f"Undecided: no prompted and no tuned point finished{why}, so there is "
                "nothing to compare.", "Run the advice again with a larger budget."]
    if prompt is None:
        return ["Undecided: no prompted point finished, so there is no prompt to weigh the "
                "tuned models against.", "Run the advice again: zero-shot and 4-shot run first."]
    value = _named(points, prompt)["value"]
    if tuned is None:
        return [f"Undecided: no tuned point finished{why}, so fine-tuning was not measured.",
                f"The best prompt so far is {prompt} ({value:.2f}); run the advice again with a "
                "larger budget (for example --budget thorough) to train the LoRA points."]
    if _pair(pairs, prompt, tuned) is None:
        return ["Undecided: the points kept no per-example answers, so the paired test "
                "between them cannot be made.", "Run the advice again."]
    return None


def recommendation(results: dict[str, Any], points: list[dict[str, Any]],
                   best: dict[str, str | None], pairs: list[dict[str, Any]],
                   curve: dict[str, Any], skipped: list[dict[str, Any]]) -> dict[str, Any]:
    """The choice (prompting, fine-tuning, hybrid, retrieval or undecided) in two or three
    sentences with their numbers; a lead is claimed only where the paired test sees one."""
    missing = _undecided(best, pairs, skipped, points)
    if missing:
        return {"choice": "undecided", "sentences": missing}
    p, t, h, r = (best[f] for f in FAMILIES)
    words = curve["n_needed"]["words"]
    tuned_vs_prompt = _pair(pairs, t, p)
    if beats(pairs, h, p) and (beats(pairs, h, t) or not beats(pairs, t, p)):
        also = (f"and the best tuned model alone, {t}, by {_by(_pair(pairs, h, t), h, False)}"
                if beats(pairs, h, t) else f"while {t} alone {_relation(tuned_vs_prompt, t)}")
        return {"choice": "hybrid", "sentences": [
            f"Combine both: {h} beats the best prompt, {p}, by {_by(_pair(pairs, h, p), h)}, "
            f"{also}.", words, _training_sentence(results, _named(points, h))]}
    if beats(pairs, r, p) and (beats(pairs, r, t) or not beats(pairs, t, p)):
        also = (f", and the best tuned model, {t}, by {_by(_pair(pairs, r, t), r, False)}"
                if beats(pairs, r, t) else f"; the best tuned model, {t}, "
                                           f"{_relation(tuned_vs_prompt, t)}")
        return {"choice": "retrieval", "sentences": [
            f"Retrieve: {r} beats the best prompt, {p}, by {_by(_pair(pairs, r, p), r)}{also}.",
            "It needs no training run and no labelled rows: keep the documents' index up to "
            "date."]}
    if beats(pairs, t, p):
        return {"choice": "fine-tuning", "sentences": [
            f"Fine-tune: {t} beats the best prompt, {p}, by {_by(tuned_vs_prompt, t)}.", words,
            _training_sentence(results, _named(points, t))]}
    value = _named(points, p)["value"]
    return {"choice": "prompting", "sentences": [
        f"Prompting is enough: no tuned point beats {p} ({value:.2f}) on the paired test.",
        f"The best tuned model, {t}, {_relation(tuned_vs_prompt, t)}.", words]}


# --- the advice -----------------------------------------------------------------------------

def build_advice(config: AdviceConfig, plan: dict[str, Any], records: list[dict[str, Any]],
                 skipped: list[dict[str, Any]], duration_s: float) -> dict[str, Any]:
    """advice.json: the assembled comparison, the points, the curve, the best points and the
    paired differences between them, the factors table and the recommendation."""
    results = assemble_results(config, records)
    kind = results["task"].get("kind") or "classification"
    metric = PRIMARY.get(kind, "accuracy")
    rows = {row["name"]: row for row in results["variants"]}
    points = [_point(r, rows[r["name"]], metric) for r in records]
    best = best_points(points)
    pairs = best_pairs(results, best)
    curve = _curve(results, points, best, metric, config.seed)
    return {"version": VERSION, "created_at": _now(), "duration_s": round(duration_s, 1),
            "config": config.to_dict(), "plan": plan, "task": results["task"],
            "metric": metric, "results": results, "points": points, "curve": curve,
            "best": best, "pairs": pairs, "factors": factors(results, points, best, curve),
            "recommendation": recommendation(results, points, best, pairs, curve, skipped),
            "skipped": [{"name": s.get("name"), "reason": s.get("reason")} for s in skipped]}
