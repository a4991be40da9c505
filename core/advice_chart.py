"""The advisor's learning-curve chart: "Quality against labelled examples".

A pure function of the advice dict (``advice.json``, built by ``core.advice_result``); the
Advisor page and the offline report (``core.advice_report``) both draw it. Prompted points
(x = shots) and tuned points (x = training rows) share one log axis of labelled examples, so
"how many labelled rows would beat my best prompt?" reads off it. Points that use no labelled
example (zero-shot, calibrated zero-shot, retrieval) have no place on a log axis: they are
dashed level lines, as the best prompt is. Every label is a legend entry, never text beside a
point, so nothing overlaps on a projector.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import plotly.graph_objects as go

from core.report_charts import (KIND_COLOURS, _error_arrays, _title, engines_note, finite,
                                fmt_interval, metric_label)

Advice = dict[str, Any]

FONT = 18  # a classroom projector: everything on the chart reads from the back row
FAMILIES = {"prompted": ("prompted: shots in the prompt", KIND_COLOURS["few-shot"]),
            "tuned": ("fine-tuned (LoRA): training rows", KIND_COLOURS["fine-tuned"]),
            "hybrid": ("hybrid: tuned model with shots or retrieval", "#ab63fa"),
            "retrieval": ("retrieval with shots", KIND_COLOURS["rag"])}
LEVEL_COLOURS = ("#555555", "#2a9d8f", "#ffa15a", "#8c564b")
CURVE_COLOUR = "#9c2a17"  # darker than the tuned points, so the fit reads apart from their line
BAND_COLOUR = "rgba(239, 85, 59, 0.13)"
Y_TOP = 1.05
DODGE = 1.05  # repeats at one count sit 5% apart on the log axis
TICK_GAP = 0.05  # of the log axis' width: closer tick labels would overlap


# --- reading the advice -----------------------------------------------------------------------

def _scored(advice: Advice) -> list[dict[str, Any]]:
    """The points that produced a value, in the advice's order."""
    return [p for p in advice.get("points", []) if finite(p.get("value"))]


def _interval(point: dict[str, Any]) -> dict[str, float]:
    """A point's value with its 95% interval (the value itself where a bound is missing)."""
    value = point["value"]
    low, high = point.get("low"), point.get("high")
    return {"value": value, "low": low if finite(low) else value,
            "high": high if finite(high) else value}


def _metric(advice: Advice) -> str:
    return advice.get("metric") or "accuracy"


def _n_test(advice: Advice) -> int | None:
    results = advice.get("results") or {}
    return len(results.get("examples") or []) or (results.get("config") or {}).get("n_examples")


def _point(advice: Advice, name: str | None) -> dict[str, Any] | None:
    return next((p for p in advice.get("points", []) if p.get("name") == name), None)


# --- the chart --------------------------------------------------------------------------------

def _x_range(advice: Advice) -> tuple[float, float]:
    """The log axis' ends: every point with labelled examples, the curve and the estimate."""
    curve = advice.get("curve") or {}
    needed = curve.get("n_needed") or {}
    xs = [p["labelled"] for p in _scored(advice) if (p.get("labelled") or 0) > 0]
    xs += [n for n, *_ in (curve.get("fitted") or []) + (curve.get("extension") or [])]
    xs += [needed[k] for k in ("estimate", "low", "high") if finite(needed.get(k))]
    xs = [x for x in xs if finite(x) and x > 0]
    return (min(xs) / 1.5, max(xs) * 1.5) if xs else (1.0, 10.0)


def _hover(points: list[dict[str, Any]]) -> list[list[Any]]:
    return [[p["name"], fmt_interval(_interval(p)), p["labelled"]] for p in points]


def _dodged(counts: list[int]) -> list[float]:
    """Repeats at one count (seeds, draws) set a little apart, so their intervals read one by
    one: on a log axis a factor is the same distance at every count."""
    placed = []
    for i, n in enumerate(counts):
        same = counts.count(n)
        placed.append(n * DODGE ** (counts[:i].count(n) - (same - 1) / 2))
    return placed


def _mean_line(fig: go.Figure, points: list[dict[str, Any]], family: str) -> None:
    """A line through the mean at each count (repeats with other seeds or draws share an x),
    under the markers; hybrids and retrieval are separate combinations: no line joins them."""
    if family not in ("prompted", "tuned"):
        return
    counts = sorted({p["labelled"] for p in points})
    means = [sum(p["value"] for p in points if p["labelled"] == n)
             / sum(1 for p in points if p["labelled"] == n) for n in counts]
    label, colour = FAMILIES[family]
    fig.add_trace(go.Scatter(x=counts, y=means, mode="lines", name=f"{label} (mean)",
                             legendgroup=family, showlegend=False, hoverinfo="skip",
                             opacity=0.6, line={"color": colour, "width": 2}))


def _family_traces(fig: go.Figure, advice: Advice, family: str) -> None:
    """Each point of a family as a marker with its 95% interval, over its mean line."""
    points = sorted((p for p in _scored(advice) if p.get("family") == family
                     and (p.get("labelled") or 0) > 0), key=lambda p: p["labelled"])
    if not points:
        return
    _mean_line(fig, points, family)
    label, colour = FAMILIES[family]
    fig.add_trace(go.Scatter(
        x=_dodged([p["labelled"] for p in points]), y=[p["value"] for p in points],
        mode="markers",
        name=label, legendgroup=family, legendrank=list(FAMILIES).index(family),
        error_y=_error_arrays([_interval(p) for p in points]),
        marker={"size": 14, "color": colour, "line": {"width": 1, "color": "white"},
                "symbol": "circle" if family in ("prompted", "tuned") else "diamond"},
        customdata=_hover(points),
        hovertemplate="%{customdata[0]}: %{customdata[1]}<br>%{customdata[2]} labelled "
                      "examples<extra></extra>"))


def _levels(advice: Advice) -> list[tuple[str, float, bool]]:
    """The level lines (label, value, is the best prompt): every prompted point with no
    labelled example, then the best prompt where it is not one of them."""
    target = (advice.get("curve") or {}).get("target") or {}
    best = target.get("name") or (advice.get("best") or {}).get("prompted")
    value = target.get("value") if finite(target.get("value")) else \
        (_point(advice, best) or {}).get("value")
    lines = [(f"{p['name']} (0 examples){', the best prompt' if p['name'] == best else ''}: "
              f"{p['value']:.2f}", p["value"], p["name"] == best) for p in _scored(advice)
             if (p.get("labelled") or 0) == 0 and p.get("family") in ("prompted", "retrieval")]
    if best and finite(value) and not any(is_best for *_, is_best in lines):
        lines.append((f"best prompt, {best}: {value:.2f}", value, True))
    return lines


def _level_traces(fig: go.Figure, advice: Advice, ends: tuple[float, float]) -> None:
    for i, (label, value, best) in enumerate(_levels(advice)):
        colour = FAMILIES["prompted"][1] if best else LEVEL_COLOURS[i % len(LEVEL_COLOURS)]
        fig.add_trace(go.Scatter(
            x=list(ends), y=[value, value], mode="lines", name=label, legendrank=10 + i,
            line={"dash": "dash", "width": 3 if best else 2, "color": colour}, hoverinfo="name"))


def _curve_traces(fig: go.Figure, advice: Advice) -> None:
    """The fitted curve dotted within the measured rows, fainter where it is extrapolated."""
    curve = advice.get("curve") or {}
    fitted = [pt for pt in curve.get("fitted") or [] if not (len(pt) > 2 and pt[2])]
    extension = list(curve.get("extension") or []) + \
        [pt for pt in curve.get("fitted") or [] if len(pt) > 2 and pt[2]]
    colour = CURVE_COLOUR
    for points, name, opacity in ((fitted, "fitted curve", 1.0),
                                  (extension, "fitted curve, extrapolated past the data", 0.45)):
        if points:
            fig.add_trace(go.Scatter(
                x=[pt[0] for pt in points], y=[pt[1] for pt in points], mode="lines",
                name=name, opacity=opacity, legendrank=21 - opacity,
                line={"dash": "dot", "width": 3, "color": colour},
                hovertemplate="fitted: %{y:.2f} at %{x:.0f} rows<extra></extra>"))


def _needed_traces(fig: go.Figure, advice: Advice, ends: tuple[float, float]) -> None:
    """The rows-needed estimate as a vertical line, its 95% interval as a shaded band
    (open to the right edge when the interval's top is past what can be said); without an
    estimate, the measured crossing or a legend entry saying it was not reached."""
    curve = advice.get("curve") or {}
    needed = curve.get("n_needed") or {}
    estimate = needed.get("estimate")
    if not finite(estimate):
        _not_estimated(fig, curve, needed)
        return
    low, high = needed.get("low"), needed.get("high")
    if finite(low):
        top = high if finite(high) else ends[1]
        span = f"{low:,.0f} to {high:,.0f}" if finite(high) else f"{low:,.0f} or more"
        fig.add_trace(go.Scatter(
            x=[low, top, top, low, low], y=[0, 0, Y_TOP, Y_TOP, 0], mode="lines",
            fill="toself", fillcolor=BAND_COLOUR, line={"width": 0}, legendrank=31,
            name=f"95% interval of the rows needed: {span}", hoverinfo="skip"))
    how = ", extrapolated" if needed.get("extrapolated") else ""
    _vertical(fig, estimate, f"rows needed to match the best prompt: about {estimate:,.0f}{how}")


def _vertical(fig: go.Figure, x: float, name: str) -> None:
    fig.add_trace(go.Scatter(x=[x, x], y=[0, Y_TOP], mode="lines", name=name, legendrank=30,
                             line={"dash": "dashdot", "width": 3, "color": "#222222"},
                             hoverinfo="skip"))


def _not_estimated(fig: go.Figure, curve: dict[str, Any], needed: dict[str, Any]) -> None:
    """No estimate from the curve: the smallest measured rows that beat the best prompt on
    the paired test as a line, or, where tuned points were fitted, a legend entry that says
    the best prompt was not reached."""
    if finite(needed.get("measured")):
        _vertical(fig, needed["measured"], f"rows that beat the best prompt (measured, paired "
                                           f"test): {needed['measured']:,}")
    elif curve.get("fitted") and curve.get("target"):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", legendrank=30,
                                 name="rows needed to match the best prompt: not reached "
                                      "within the rows you have",
                                 line={"dash": "dashdot", "width": 3, "color": "#222222"}))


def _subtitle(advice: Advice) -> str:
    model = (advice.get("curve") or {}).get("model") or "no curve fitted"
    said = (f"Curve: {model}. {_n_test(advice)} test examples, the same for every point; "
            "bars are 95% intervals.")
    return "<br>".join(textwrap.wrap(said, 95))


def _ticks(advice: Advice, ends: tuple[float, float]) -> list[int]:
    """The shots and training rows used, less any tick so close to the one before that the
    two labels would overlap (200 and 240 rows); a hybrid's count sits beside its tuned one."""
    counts = sorted({p["labelled"] for p in _scored(advice)
                     if (p.get("labelled") or 0) > 0 and p.get("family") != "hybrid"})
    gap = TICK_GAP * math.log10(ends[1] / ends[0])
    kept: list[int] = []
    for count in counts:
        if not kept or math.log10(count / kept[-1]) >= gap:
            kept.append(count)
    return kept


def _axes(fig: go.Figure, advice: Advice, ends: tuple[float, float]) -> None:
    counts = _ticks(advice, ends)
    # only the counts used are labelled: plotly's own log ticks read "5 1 2 5 10 2"
    fig.update_xaxes(title="labelled examples (shots in the prompt, or training rows; log scale)",
                     type="log", range=[math.log10(ends[0]), math.log10(ends[1])],
                     tickmode="array", tickvals=counts, ticktext=[str(c) for c in counts],
                     minor={"ticks": "", "showgrid": False, "tickmode": "array", "tickvals": []})
    fig.update_yaxes(title=metric_label(_metric(advice)), range=[0, Y_TOP])


def curve_figure(advice: Advice) -> go.Figure:
    """"Quality against labelled examples": prompted and tuned points with their 95%
    intervals (each seed or draw a marker, a line through the means), hybrids, zero-shot and
    the best prompt as level lines, the fitted curve and the rows-needed estimate with its band."""
    ends = _x_range(advice)
    fig = go.Figure()
    # drawn from the band up to the points; the legend reads the other way (legendrank)
    _needed_traces(fig, advice, ends)
    _level_traces(fig, advice, ends)
    _curve_traces(fig, advice)
    for family in FAMILIES:
        _family_traces(fig, advice, family)
    if not fig.data:
        fig.add_annotation(text="No point produced a result.", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    _axes(fig, advice, ends)
    subtitle = _subtitle(advice)
    _title(fig, "Quality against labelled examples", advice.get("results") or {}, subtitle)
    lines = subtitle.count("<br>") + 1 + bool(engines_note(advice.get("results") or {}))
    fig.update_layout(font={"size": FONT}, title_font_size=FONT + 6, height=760,
                      margin={"t": 90 + 26 * lines, "l": 80, "r": 30},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0,
                              "font": {"size": FONT - 2}})
    return fig
