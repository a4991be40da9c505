"""The advisor's report: the tables and the offline HTML page, around the learning-curve chart
(``core.advice_chart``, named here too: the page and the tests read it from this module).

Pure functions of the advice dict (``advice.json``, built by ``core.advice_result``).
"""

from __future__ import annotations

import html
import json
import shlex
import urllib.parse
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

import pandas as pd

from core.advice_chart import Advice, _interval, _metric, _n_test, _point, curve_figure
from core.advice_plan import AdviceConfig
from core.compare import EXAMPLE_PRICES
from core.report import CSS
from core.report_charts import (device_name, engines_note, finite, fmt_interval, fmt_money,
                                fmt_number,
                                metric_label)
from core.report_stats import fmt_p, pair_sentence

CHOICES = {"prompting": "Prompting", "fine-tuning": "Fine-tuning",
           "hybrid": "A hybrid: a fine-tuned model with shots or retrieval",
           "retrieval": "Retrieval", "undecided": "Undecided: the measurements cannot tell yet"}
BEST_WORDS = {"prompted": "Best prompted", "tuned": "Best fine-tuned", "hybrid": "Best hybrid",
              "retrieval": "Best with retrieval"}
# a flag is written only where the config differs from AdviceConfig's default
DEFAULTS = {f.name: f.default for f in fields(AdviceConfig)
            if f.name in ("model", "engine", "shots", "rows")}
CONFIG_FILE = "advice-config.json"  # what the page's download link saves the config as


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
    found += ["prices"] if config.get("prices") not in (None, asdict(EXAMPLE_PRICES)) else []
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
    return said + [n for n in [engines_note(advice.get("results") or {}),
                               prices_words(advice)] if n]


def prices_words(advice: Advice) -> str | None:
    """The prices that cost and break-even are figured at, and whether they are the lab's
    example prices or the user's; None where none is set."""
    prices = (advice.get("config") or {}).get("prices") or {}
    named = [f"{fmt_money(prices[key])} {what}" for key, what in (
        ("input_per_million", "per million prompt tokens"),
        ("output_per_million", "per million answer tokens"), ("cpu_hour", "a CPU-hour"),
        ("gpu_hour", "a GPU-hour")) if prices.get(key) is not None]
    if not named:
        return None
    whose = ("the lab's example prices: set yours under Advanced on the Advisor page, or in "
             "the config" if prices == asdict(EXAMPLE_PRICES)
             else "your prices")
    return f"Costs and break-even are figured at {', '.join(named)} ({whose})."


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
