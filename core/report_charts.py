"""Plotly charts of a comparison's results dict, and the small readers they share.

Every chart says in its title what it shows, and in its subtitle what the
reader must keep in mind: variants served by different engines (llama.cpp
runs quantised GGUF weights, transformers full-precision ones) differ in
latency, cost and even quality for reasons that are not the technique.
A variant that could not run (``error`` set) is named on the chart, never
plotted and never a crash. Rows of a comparison of setups carry their ``parts``
(model, prompt, retrieval): the bars and the cost chart are then coloured by the
part that differs most, with a legend; older rows are coloured by kind as before.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

Results = dict[str, Any]
Variant = dict[str, Any]

PRIMARY_BY_KIND = {"classification": "accuracy", "json": "schema_pass_rate",
                   "numeric": "token_f1", "qa": "token_f1", "text": "chrf"}
METRIC_ORDER = ("accuracy", "macro_f1", "schema_pass_rate", "parse_rate", "exact_match",
                "chrf", "token_f1", "rouge_l", "similarity", "contains")
METRIC_LABELS = {"accuracy": "Accuracy", "macro_f1": "Macro-F1", "parse_rate": "Parse rate",
                 "schema_pass_rate": "Schema pass rate", "exact_match": "Exact match",
                 "token_f1": "Token F1", "rouge_l": "ROUGE-L", "contains": "Contains answer",
                 "chrf": "chrF", "similarity": "Similarity (MiniLM)"}
KIND_COLOURS = {"prompt": "#636efa", "zero-shot": "#636efa", "few-shot": "#00a0c0",
                "cot": "#ab63fa", "structured": "#7f7f7f", "rag": "#ffa15a",
                "fine-tuned": "#ef553b"}
# a setup's parts (core.setups), as table columns and chart legends name them
PART_NAMES = {"model": "Model", "prompt": "Prompt", "retrieval": "Retrieval"}
GROUP_COLOURS = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692",
                 "#b6e880", "#ff97ff", "#fecb52")
# core.compare writes "zero-shot"; "prompt" is the same technique under its general name
NO_TRAINING_KINDS = ("prompt", "zero-shot", "few-shot", "cot", "structured", "rag")


def metric_label(metric: str) -> str:
    """The metric's name as a person reads it ("macro_f1" -> "Macro-F1")."""
    return METRIC_LABELS.get(metric, metric.replace("_", " ").capitalize())


def metric_words(metric: str) -> str:
    """The metric's name inside a sentence: lower case, but names keep their letters
    ("Token F1" -> "token f1", "chrF" stays "chrF", "Similarity (MiniLM)" -> "similarity
    (MiniLM)")."""
    label = metric_label(metric)
    if label in ("chrF", "ROUGE-L"):
        return label
    if label.endswith(" (MiniLM)"):
        return label.removesuffix(" (MiniLM)").lower() + " (MiniLM)"
    return label.lower()


def working_variants(results: Results) -> list[Variant]:
    """The variants that ran (no ``error``), in the order of the results."""
    return [v for v in results.get("variants", []) if not v.get("error")]


def failed_variants(results: Results) -> list[Variant]:
    """The variants that could not run, each with its ``error``."""
    return [v for v in results.get("variants", []) if v.get("error")]


def metric_names(results: Results) -> list[str]:
    """Every metric some working variant reports, in the lab's usual order."""
    present = {m for v in working_variants(results) for m in (v.get("metrics") or {})}
    known = [m for m in METRIC_ORDER if m in present]
    return known + sorted(present - set(known))


def primary_metric(results: Results) -> str:
    """The metric the verdict ranks by: the task kind's usual one, else the first present."""
    preferred = PRIMARY_BY_KIND.get(results.get("task", {}).get("kind", ""), "accuracy")
    present = metric_names(results)
    return preferred if preferred in present or not present else present[0]


def metric_of(variant: Variant, metric: str) -> dict[str, float] | None:
    """``{"value", "low", "high"}`` of ``metric`` for ``variant``; None when absent or NaN."""
    found = (variant.get("metrics") or {}).get(metric)
    return found if found and finite(found.get("value")) else None


def best_variant(results: Results, kinds: tuple[str, ...] | None = None) -> Variant | None:
    """The working variant with the highest primary metric (among ``kinds`` if given); of
    equally good ones, the one with the fewest prompt tokens a query (the advisor's rule too,
    so its best prompt and its break-even name the same setup)."""
    metric = primary_metric(results)
    pool = [v for v in working_variants(results) if metric_of(v, metric)
            and (kinds is None or v.get("kind") in kinds)]
    tokens = lambda v: v.get("prompt_tokens_mean") if finite(v.get("prompt_tokens_mean")) \
        else float("inf")  # noqa: E731
    return max(pool, key=lambda v: (metric_of(v, metric)["value"], -tokens(v)), default=None)


def finite(value: Any) -> bool:
    """True for a number that is not None, NaN or infinite."""
    return isinstance(value, (int, float)) and math.isfinite(value)


def fmt_number(value: Any) -> str:
    """A number as a table shows it: 312, 45.2, 4.7, 0.0045; "—" when missing."""
    if not finite(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 1 else f"{value:.2g}"


def fmt_money(value: float | None) -> str:
    """Dollars as a person reads them: $1.20, $0.0021 (tiny amounts keep two digits); "—"."""
    if not finite(value):
        return "—"
    return f"${value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"${value:.2g}"


def device_name(device: str | None) -> str:
    """"cuda" -> "GPU", "cpu" -> "CPU", as a stakeholder says it."""
    return {"cuda": "GPU", "cpu": "CPU"}.get(device or "", device or "unknown device")


def fmt_interval(point: dict[str, float] | None) -> str:
    """``{"value", "low", "high"}`` as "0.61 [0.53, 0.69]"; "—" when missing."""
    if not point:
        return "—"
    return f"{point['value']:.2f} [{point['low']:.2f}, {point['high']:.2f}]"


def engines_note(results: Results) -> str | None:
    """A warning when the working variants ran on more than one engine, else None."""
    engines = sorted({v.get("engine") or "unknown" for v in working_variants(results)})
    if len(engines) < 2:
        return None
    return (f"Variants ran on different engines ({', '.join(engines)}): latency, cost and "
            "even quality differ partly because of the engine, not only the technique.")


def examples_used(variant: Variant) -> int | None:
    """Labelled examples a variant used: training rows if fine-tuned, else shots (None for RAG)."""
    if variant.get("kind") == "fine-tuned":
        return variant.get("n_train_examples")
    if variant.get("kind") == "rag":
        return None
    return variant.get("n_shots") or 0


def _title(fig: go.Figure, text: str, results: Results, extra: str | None = None) -> go.Figure:
    notes = [n for n in (extra, engines_note(results)) if n]
    fig.update_layout(title={"text": text, "subtitle": {"text": "<br>".join(notes)}},
                      margin={"t": 90 + 18 * len(notes)}, template="plotly_white")
    return fig


def _failed_annotation(fig: go.Figure, results: Results) -> None:
    failed = failed_variants(results)
    if failed:
        names = ", ".join(v["name"] for v in failed)
        fig.add_annotation(text=f"Could not run (see the table): {names}", showarrow=False,
                           xref="paper", yref="paper", x=0, y=-0.28, xanchor="left")


ERROR_BAR_COLOUR = "#444444"
DRAW_COLOUR = "#b35900"  # few-shot draw ticks: apart from the error bars and every bar colour


def _error_arrays(points: list[dict[str, float]]) -> dict[str, Any]:
    # a colour of their own: error bars otherwise inherit a per-point colour list, which
    # plotly.js refuses ("Invalid color specifier") and draws black
    return {"type": "data", "array": [p["high"] - p["value"] for p in points],
            "arrayminus": [p["value"] - p["low"] for p in points], "color": ERROR_BAR_COLOUR}


def colour_part(variants: list[Variant]) -> str | None:
    """The setup part a chart colours by: the one whose values differ most among the
    variants (model, then prompt, then retrieval on a tie); None when no row has parts
    or every part is the same (the chart then colours by kind, as before setups)."""
    if not any(v.get("parts") for v in variants):
        return None
    counts = {k: len({str((v.get("parts") or {}).get(k)) for v in variants}) for k in PART_NAMES}
    part = max(counts, key=lambda k: counts[k])  # the first of the most varied
    return part if counts[part] > 1 else None


def part_groups(variants: list[Variant], part: str) -> dict[str, list[int]]:
    """Indices of ``variants`` by the value of their ``part``, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, v in enumerate(variants):
        groups.setdefault(str((v.get("parts") or {}).get(part) or "—"), []).append(i)
    return groups


def _parts_hover(v: Variant) -> str:
    parts = v.get("parts") or {}
    return "<br>".join(f"{label}: {parts.get(key) or '—'}" for key, label in PART_NAMES.items())


def _grouped_bars(fig: go.Figure, shown: list[Variant], points: list[dict[str, float]],
                  part: str) -> None:
    """One bar trace per value of ``part``, so the legend says which colour is which."""
    for number, (value, members) in enumerate(part_groups(shown, part).items()):
        group = [points[i] for i in members]
        fig.add_trace(go.Bar(
            x=[shown[i]["name"] for i in members], y=[p["value"] for p in group],
            name=value, marker_color=GROUP_COLOURS[number % len(GROUP_COLOURS)],
            error_y=_error_arrays(group), text=[f"{p['value']:.2f}" for p in group],
            textposition="inside", insidetextanchor="start",
            customdata=[[p["low"], p["high"], _parts_hover(shown[i])] for p, i in
                        zip(group, members)],
            hovertemplate="%{x}: %{y:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
                          "<br>%{customdata[2]}<extra></extra>"))
    # one bar per setup, each in its own trace: overlay keeps them full width, in results order
    fig.update_layout(barmode="overlay", legend_title_text=PART_NAMES[part])
    fig.update_xaxes(categoryorder="array", categoryarray=[v["name"] for v in shown])


def metric_bars(results: Results, metric: str | None = None) -> go.Figure:
    """Bars of one metric per variant with their 95% intervals as error bars, coloured by
    the setup part that differs most when the rows have parts, else by kind."""
    metric = metric or primary_metric(results)
    shown = [v for v in working_variants(results) if metric_of(v, metric)]
    points = [metric_of(v, metric) for v in shown]
    part = colour_part(shown)
    if part:
        fig = go.Figure()
        _grouped_bars(fig, shown, points, part)
    else:
        fig = _kind_bars(shown, points)
    _draw_marks(fig, shown, metric)
    fig.update_yaxes(title=metric_label(metric), range=[0, 1.05])
    _failed_annotation(fig, results)
    n = len(results.get("examples", [])) or results.get("config", {}).get("n_examples")
    return _title(fig, f"{metric_label(metric)} by variant, with 95% intervals "
                       f"({n} test examples)", results,
                  "Bars whose intervals overlap cannot be told apart with confidence; the "
                  "paired differences in the report can." if part else
                  "Bars whose intervals overlap cannot be told apart with confidence.")


def _draw_marks(fig: go.Figure, shown: list[Variant], metric: str) -> None:
    """Each few-shot draw's value as a tick on its setup's bar: how far another draw or
    order of the same examples moves the metric (nothing for rows without a draw spread)."""
    spread = [v for v in shown if (v.get("draw_spread") or {}).get("metric") == metric]
    if not spread:
        return
    fig.add_trace(go.Scatter(
        x=[v["name"] for v in spread for _ in v["draw_spread"]["values"]],
        y=[value for v in spread for value in v["draw_spread"]["values"]],
        mode="markers", name="other draws of its examples",
        # wider and thicker than the error bars' caps, so the two read apart
        marker={"symbol": "line-ew-open", "size": 40, "color": DRAW_COLOUR,
                "line": {"width": 3, "color": DRAW_COLOUR}},
        hovertemplate="%{x}, one draw of its examples: %{y:.3f}<extra></extra>"))


def _kind_bars(shown: list[Variant], points: list[dict[str, float]]) -> go.Figure:
    return go.Figure(go.Bar(
        x=[v["name"] for v in shown], y=[p["value"] for p in points],
        error_y=_error_arrays(points), marker_color=[KIND_COLOURS.get(v.get("kind"), "#636efa")
                                                     for v in shown],
        text=[f"{p['value']:.2f}" for p in points], textposition="inside",
        insidetextanchor="start",  # at the foot of the bar, clear of the error bar
        customdata=[[p["low"], p["high"], v.get("engine")] for p, v in zip(points, shown)],
        hovertemplate="%{x}: %{y:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]"
                      "<br>engine: %{customdata[2]}<extra></extra>"))


def confusion_figures(results: Results) -> list[go.Figure]:
    """One heatmap per variant that has a confusion matrix: true label rows, predicted columns."""
    figures = []
    for variant in working_variants(results):
        confusion = variant.get("confusion")
        if not confusion or not confusion.get("matrix"):
            continue
        labels = confusion["labels"]
        fig = go.Figure(go.Heatmap(
            z=confusion["matrix"], x=labels, y=labels, colorscale="Blues", zmin=0,
            texttemplate="%{z}", hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
        fig.update_xaxes(title="predicted label", side="bottom")
        fig.update_yaxes(title="true label", autorange="reversed")
        figures.append(_title(fig, f"Confusion matrix: {variant['name']}", results,
                              "Rows are the true labels, columns what the variant answered; "
                              "the diagonal is right."))
    return figures


def _uses_prices(variants: list[Variant]) -> bool:
    return bool(variants) and all(v.get("cost_per_1000") is not None for v in variants)


LABEL_SPOTS = ("top center", "bottom center", "middle right", "middle left")


def label_positions(xs: list, ys: list) -> list[str]:
    """Where to write each point's name so that names of points close together do not
    overlap: the next free spot around the point among LABEL_SPOTS."""
    finite = [x for x in xs if isinstance(x, (int, float))]
    span = (max(finite) - min(finite)) if finite else 0
    positions: list[str] = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        near = [j for j in range(i) if isinstance(x, (int, float))
                and isinstance(xs[j], (int, float)) and abs(xs[j] - x) <= 0.06 * span + 1e-12
                and abs(ys[j] - y) <= 0.06]
        taken = {positions[j] for j in near}
        positions.append(next((s for s in LABEL_SPOTS if s not in taken), LABEL_SPOTS[0]))
    return positions


def quality_vs_cost(results: Results) -> go.Figure:
    """Primary metric against cost per 1,000 queries, or mean prompt tokens without prices."""
    metric = primary_metric(results)
    shown = [v for v in working_variants(results) if metric_of(v, metric)]
    priced = _uses_prices(shown)
    key = "cost_per_1000" if priced else "prompt_tokens_mean"
    points = [metric_of(v, metric) for v in shown]
    xs, ys = [v.get(key) for v in shown], [p["value"] for p in points]
    part = colour_part(shown)
    if part:
        fig = _grouped_points(shown, points, xs, part)
    else:
        fig = go.Figure(go.Scatter(
            x=xs, y=ys, mode="markers+text", text=[v["name"] for v in shown],
            textposition=label_positions(xs, ys), error_y=_error_arrays(points),
            cliponaxis=False,  # a label near the edge is drawn whole
            marker={"size": 13,
                    "color": [KIND_COLOURS.get(v.get("kind"), "#636efa") for v in shown]},
            hovertemplate="%{text}: %{y:.3f} at %{x}<extra></extra>"))
    x_title = ("estimated cost per 1,000 queries ($)" if priced else "mean prompt tokens per query")
    # dollars as dollars ($0.0008), not SI prefixes (800μ)
    fig.update_xaxes(title=x_title, rangemode="tozero", tickformat="$.2~g" if priced else None)
    fig.update_yaxes(title=metric_label(metric), range=[0, 1.05])
    note = ("Per-query cost only: a fine-tuned variant's one-time training cost is not included."
            if priced else "No prices set, so the cost axis shows prompt tokens per query; "
            "set prices per million tokens to see dollars.")
    what = "cost per 1,000 queries" if priced else "prompt tokens per query"
    return _title(fig, f"{metric_label(metric)} against {what} (up and left is better)",
                  results, note)


def _grouped_points(shown: list[Variant], points: list[dict[str, float]], xs: list,
                    part: str) -> go.Figure:
    """quality_vs_cost's points, one trace per value of ``part`` (a legend names each)."""
    spots = label_positions(xs, [p["value"] for p in points])
    fig = go.Figure()
    for number, (value, members) in enumerate(part_groups(shown, part).items()):
        group = [points[i] for i in members]
        fig.add_trace(go.Scatter(
            x=[xs[i] for i in members], y=[p["value"] for p in group], name=value,
            mode="markers+text", text=[shown[i]["name"] for i in members],
            textposition=[spots[i] for i in members], error_y=_error_arrays(group),
            cliponaxis=False, customdata=[_parts_hover(shown[i]) for i in members],
            marker={"size": 13, "color": GROUP_COLOURS[number % len(GROUP_COLOURS)]},
            hovertemplate="%{text}: %{y:.3f} at %{x}<br>%{customdata}<extra></extra>"))
    fig.update_layout(legend_title_text=PART_NAMES[part])
    return fig


def _examples_traces(fig: go.Figure, variants: list[Variant], metric: str) -> None:
    for kind, label in (("few-shot", "few-shot (shots in the prompt)"),
                        ("fine-tuned", "fine-tuned (training rows)")):
        group = sorted((v for v in variants if v.get("kind") == kind and examples_used(v)),
                       key=examples_used)
        if group:
            points = [metric_of(v, metric) for v in group]
            fig.add_trace(go.Scatter(
                x=[examples_used(v) for v in group], y=[p["value"] for p in points],
                mode="lines+markers+text", name=label, text=[v["name"] for v in group],
                textposition="top center", error_y=_error_arrays(points),
                marker={"size": 11, "color": KIND_COLOURS[kind]}))


def quality_vs_examples(results: Results) -> go.Figure:
    """Primary metric against labelled examples used (shots or training rows), log x.

    Variants that use none (zero-shot, chain-of-thought) are dashed reference lines,
    since 0 has no place on a log axis; RAG uses documents, not examples, and is left out.
    """
    metric = primary_metric(results)
    shown = [v for v in working_variants(results) if metric_of(v, metric)]
    fig = go.Figure()
    _examples_traces(fig, shown, metric)
    for v in shown:
        if examples_used(v) == 0:
            fig.add_hline(y=metric_of(v, metric)["value"], line_dash="dash", line_color="grey",
                          annotation_text=f"{v['name']} (0 examples)",
                          annotation_position="top left")
    if not fig.data:
        fig.add_annotation(text="No few-shot or fine-tuned variant in this comparison.",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    counts = sorted({x for trace in fig.data for x in trace.x})
    # only the counts used are labelled: plotly's own log ticks read "5 1 2 5 10 2"
    fig.update_xaxes(title="labelled examples used (log scale)", type="log", tickmode="array",
                     tickvals=counts, ticktext=[str(c) for c in counts],
                     minor={"ticks": "", "showgrid": False, "tickmode": "array", "tickvals": []})
    fig.update_yaxes(title=metric_label(metric), range=[0, 1.05])
    return _title(fig, f"{metric_label(metric)} against the number of labelled examples used",
                  results, "Few-shot examples sit in every prompt; training rows are paid once.")


def all_figures(results: Results) -> list[go.Figure]:
    """Every chart of the report, in reading order: metric bars, cost, examples, confusions."""
    bars = [metric_bars(results, m) for m in metric_names(results)] or [metric_bars(results)]
    return bars + [quality_vs_cost(results), quality_vs_examples(results)] + \
        confusion_figures(results)

