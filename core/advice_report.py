"""The advisor's report: the learning-curve chart, its tables and the offline HTML page.

Pure functions of the advice dict (``advice.json``, built by ``core.advice_result``). The
chart puts prompted points (x = shots) and tuned points (x = training rows) on one log axis
of labelled examples, so "how many labelled rows would beat my best prompt?" reads off it.
Points that use no labelled example (zero-shot, calibrated zero-shot, retrieval) have no
place on a log axis: they are dashed level lines, as the best prompt is. Every label is a
legend entry, never text beside a point, so nothing overlaps on a projector.
"""

from __future__ import annotations

import html
import json
import math
import shlex
import textwrap
import urllib.parse
from dataclasses import fields
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from core.advice_plan import AdviceConfig
from core.report import CSS
from core.report_charts import (KIND_COLOURS, _error_arrays, _title, device_name, engines_note,
                                finite, fmt_interval, fmt_number, metric_label)
from core.report_stats import fmt_p, pair_sentence

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
CHOICES = {"prompting": "Prompting", "fine-tuning": "Fine-tuning",
           "hybrid": "A hybrid: a fine-tuned model with shots or retrieval",
           "retrieval": "Retrieval", "undecided": "Undecided: the measurements cannot tell yet"}
BEST_WORDS = {"prompted": "Best prompted", "tuned": "Best fine-tuned", "hybrid": "Best hybrid",
              "retrieval": "Best with retrieval"}
# a flag is written only where the config differs from AdviceConfig's default
DEFAULTS = {f.name: f.default for f in fields(AdviceConfig)
            if f.name in ("model", "engine", "shots", "rows")}
CONFIG_FILE = "advice-config.json"  # what the page's download link saves the config as


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


# --- the tables -------------------------------------------------------------------------------

NOT_MEASURED = "not measured here"  # core.advice_result's cell for an approach that did not run
FAMILY_NAMES = {"prompted": "prompted", "tuned": "fine-tuned", "hybrid": "hybrid",
                "retrieval": "retrieval"}


def _seconds(value: Any) -> float | None:
    return round(float(value), 1) if finite(value) else None


def points_table(advice: Advice) -> pd.DataFrame:
    """One row per point that ran: its family, labelled examples, quality with its 95%
    interval, prompt tokens per query, training and total seconds, and whether it was reused."""
    quality = f"{metric_label(_metric(advice))} [95% interval]"
    rows = [{"Point": p.get("name"), "Family": FAMILY_NAMES.get(p.get("family"), p.get("family")),
             "Labelled examples": p.get("labelled"),
             quality: fmt_interval(_interval(p)) if finite(p.get("value")) else "—",
             "Prompt tokens per query": _seconds(p.get("prompt_tokens_mean")),
             "Training (s)": _seconds(p.get("train_seconds")),
             "Time (s)": _seconds(p.get("seconds")),
             "Reused from an earlier sweep": "yes" if p.get("reused") else "no"}
            for p in advice.get("points", [])]
    columns = ["Point", "Family", "Labelled examples", quality, "Prompt tokens per query",
               "Training (s)", "Time (s)", "Reused from an earlier sweep"]
    return pd.DataFrame(rows, columns=columns)


def _pair_words(pair: dict[str, Any]) -> str:
    if pair.get("tie"):
        return "a tie"
    if pair.get("real"):
        return f"real: {pair['leader']} is better"
    return "within noise: this test cannot tell the two apart"


def pairs_table(advice: Advice) -> pd.DataFrame:
    """The paired differences between the best setups: leader, other, difference with its
    paired 95% interval, McNemar's p and what it means (real lead, within noise, tie)."""
    rows = [{"Leader": p["leader"], "Other": p["other"],
             "Difference [paired 95% interval]":
                 f"{p['difference']:.2f} [{p['low']:.2f}, {p['high']:.2f}]",
             "p (McNemar)": "—" if p.get("p") is None else fmt_p(p["p"]).removeprefix("p = "),
             "What it means": _pair_words(p)} for p in advice.get("pairs") or []]
    return pd.DataFrame(rows, columns=["Leader", "Other", "Difference [paired 95% interval]",
                                       "p (McNemar)", "What it means"])


def factors_table(advice: Advice) -> pd.DataFrame:
    """The tutorial's "when to use which" table with this task's numbers: Factor, Prompting,
    Fine-tuning and Retrieval (left out when retrieval was not measured: a task without
    documents)."""
    rows = [{"Factor": f.get("factor"), "Prompting": f.get("prompting") or "",
             "Fine-tuning": f.get("fine-tuning") or "", "Retrieval": f.get("retrieval") or ""}
            for f in advice.get("factors") or []]
    table = pd.DataFrame(rows, columns=["Factor", "Prompting", "Fine-tuning", "Retrieval"])
    if not any(str(cell).strip() and not str(cell).startswith(NOT_MEASURED)
               for cell in table["Retrieval"]):
        table = table.drop(columns="Retrieval")
    return table


# --- the command that reproduces it -----------------------------------------------------------

def beyond_flags(advice: Advice) -> list[str]:
    """The settings of the advice that no command-line flag carries (the seed, prices,
    training overrides): the command then reads them from the saved config file."""
    config = advice.get("config") or {}
    found = ["seed"] if config.get("seed") not in (None, 0) else []
    found += ["prices"] if any(v is not None for v in (config.get("prices") or {}).values()) \
        else []
    return found + (["training overrides"] if config.get("train") else [])


def reproduce_command(advice: Advice) -> str:
    """`python -m core advise TASK --budget B --report advice.html`, with a flag for each
    setting that differs from the default (examples, shots, rows, seeds, model, engine,
    hybrids), and `--config advice-config.json` where a setting has no flag."""
    config = advice.get("config") or {}
    words = ["python", "-m", "core", "advise", str(config.get("task", "TASK")),
             "--budget", str(config.get("budget", "quick"))]
    if config.get("n_examples") is not None:
        words += ["--n-examples", str(config["n_examples"])]
    for key in ("shots", "rows"):
        if config.get(key) is not None and list(config[key]) != list(DEFAULTS[key]):
            words += [f"--{key}", ",".join("all" if key == "rows" and v == 0 else str(v)
                                           for v in config[key])]
    if config.get("seeds") is not None:
        words += ["--seeds", str(config["seeds"])]
    for key in ("model", "engine"):
        if config.get(key, DEFAULTS[key]) != DEFAULTS[key]:
            words += [f"--{key}", str(config[key])]
    if config.get("hybrids") is False:
        words.append("--no-hybrids")
    if beyond_flags(advice):
        words += ["--config", CONFIG_FILE]
    return shlex.join(words + ["--report", "advice.html"])


# --- the self-contained HTML page -------------------------------------------------------------

def _table_html(table: pd.DataFrame) -> str:
    if table.empty:
        return "<p>Nothing to show.</p>"
    # to_html escapes every cell: point names and task words may hold anything
    return table.to_html(index=False, na_rep="—", float_format=fmt_number, border=0)


def _paragraphs(lines: list[str], css: str = "") -> str:
    attr = f' class="{css}"' if css else ""
    return "".join(f"<p{attr}>{html.escape(str(line))}</p>" for line in lines if line)


def fmt_duration(seconds: Any) -> str:
    """Seconds as a person says them: "45 s", "8 min 12 s", "1 h 5 min"; "—" when missing."""
    if not finite(seconds):
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60} s"
    return f"{total // 3600} h {total % 3600 // 60} min"


def _when(advice: Advice) -> str:
    stamp = str(advice.get("created_at") or "")
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return stamp or "date not recorded"


def _recommendation_html(advice: Advice) -> str:
    found = advice.get("recommendation") or {}
    choice = CHOICES.get(found.get("choice"), str(found.get("choice") or "not given"))
    return (f'<div class="verdict"><p><strong>Recommendation: {html.escape(choice)}.</strong>'
            f"</p>{_paragraphs(found.get('sentences') or [])}</div>")


def _best_html(advice: Advice) -> str:
    """The best setup of each family with its quality, then the paired differences."""
    rows = []
    for family, words in BEST_WORDS.items():
        point = _point(advice, (advice.get("best") or {}).get(family))
        if point and finite(point.get("value")):
            rows.append({"": words, "Setup": point["name"],
                         f"{metric_label(_metric(advice))} [95% interval]":
                             fmt_interval(_interval(point))})
    pairs = advice.get("pairs") or []
    said = [pair_sentence(p, _metric(advice)) for p in pairs]
    return (_table_html(pd.DataFrame(rows)) + "<h3>Paired differences</h3>"
            + _paragraphs(["Every point answered the same test examples, so each difference is "
                           "taken example by example. A lead is real only when its paired 95% "
                           "interval excludes 0 (and McNemar's p is below 0.05)."])
            + (_table_html(pairs_table(advice)) + _paragraphs(said) if pairs else
               "<p>No paired differences: fewer than two best setups ran.</p>"))


def _rows_needed_html(advice: Advice) -> str:
    curve = advice.get("curve") or {}
    needed = curve.get("n_needed") or {}
    return _paragraphs([needed.get("words") or "The rows needed were not estimated.",
                        f"Curve model: {curve.get('model') or 'none'}."])


def _skipped_html(advice: Advice) -> str:
    """The planned points that did not run (and why), then those that ran and failed."""
    left = [(s.get("name"), s.get("reason")) for s in advice.get("skipped") or []]
    left += [(p.get("name"), f"could not run: {p['error']}") for p in advice.get("points", [])
             if p.get("error")]
    if not left:
        return "<p>Every planned point ran.</p>"
    items = "".join(f"<li>{html.escape(str(name))}: {html.escape(str(why))}</li>"
                    for name, why in left)
    return f"<ul>{items}</ul>"


def machine_note(advice: Advice) -> list[str]:
    """How long the sweep took, how many points ran or were reused, and on what engines and
    devices (the times and any speed figure hold for this machine only)."""
    points = advice.get("points") or []
    reused = sum(1 for p in points if p.get("reused"))
    variants = (advice.get("results") or {}).get("variants") or []
    engines = sorted({str(v.get("engine")) for v in variants if v.get("engine")})
    devices = sorted({device_name(v.get("train_device")) for v in variants
                      if v.get("train_device")})
    said = [f"The sweep took {fmt_duration(advice.get('duration_s'))} on this machine: "
            f"{len(points)} points ({reused} reused from earlier sweeps), "
            f"{len(advice.get('skipped') or [])} left out."]
    if engines:
        said.append(f"Scored with {', '.join(engines)}"
                    + (f"; trained on {', '.join(devices)}." if devices else "."))
    return said + [n for n in [engines_note(advice.get("results") or {})] if n]


def _config_html(advice: Advice) -> str:
    """The command, a link that saves the config (a data: link: no server, no network) and
    the config itself; the command names the file where a setting has no flag."""
    config = json.dumps(advice.get("config") or {}, indent=2, ensure_ascii=False, default=str)
    link = f"data:application/json;charset=utf-8,{urllib.parse.quote(config)}"
    missing = beyond_flags(advice)
    needs = (f" (save the config first: its {', '.join(missing)} have no command-line flag)"
             if missing else "")
    return (f"<p>Run <code>{html.escape(reproduce_command(advice))}</code> to repeat this "
            f"advice{html.escape(needs)}; points already measured with the same settings are "
            f'reused. <a download="{CONFIG_FILE}" href="{link}">Save the config as '
            f"{CONFIG_FILE}</a>: <code>python -m core advise --config {CONFIG_FILE}</code> "
            f"reads every setting from it.</p><pre>{html.escape(config)}</pre>")


def _chart_html(advice: Advice) -> str:
    # plotly.js (about 4.8 MB) goes in once, inline, so the file opens offline
    return curve_figure(advice).to_html(full_html=False, include_plotlyjs=True,
                                        config={"displaylogo": False})


def _sections(advice: Advice) -> list[tuple[str, str]]:
    return [("Recommendation", _recommendation_html(advice)),
            ("Quality against labelled examples", _chart_html(advice)),
            ("Best setups", _best_html(advice)),
            ("When to use which, on this task", _table_html(factors_table(advice))),
            ("How many labelled rows would fine-tuning need?", _rows_needed_html(advice)),
            ("Every point", _table_html(points_table(advice))),
            ("Points left out", _skipped_html(advice)),
            ("Time and machine", _paragraphs(machine_note(advice), "note")),
            ("Configuration", _config_html(advice))]


def advice_html(advice: Advice) -> str:
    """One self-contained HTML page (the chart and plotly.js inline, no external link): the
    recommendation first, then the chart, the best setups, the factors, every point, the
    points left out, the time it took and the command that reproduces it."""
    task = advice.get("task") or {}
    name = task.get("title") or task.get("name") or (advice.get("config") or {}).get("task", "")
    title = f"Prompt, fine-tune or retrieve? {name}"
    meta = (f"Advice of {_when(advice)} · {_n_test(advice)} test examples, the same for every "
            "point · made with PromptTune Lab")
    body = "\n".join(f"<h2>{html.escape(head)}</h2>\n{content}"
                     for head, content in _sections(advice))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(meta)}</p>\n{body}\n</body></html>")
