"""Pieces of the Advisor page: the choices as an AdviceConfig, the plan before Start, a sweep's
progress while it runs (its finished points as a table and a partial curve), and the advice.

Everything shown is read from the advice's folder and the point cache (``core.advice_job``),
so the view is the same after a closed tab or an app restart.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pandas as pd
import streamlit as st

from core.advice_job import (AdviceJob, cached_records, cancel_advice, get_advice, load_advice,
                             resume_advice)
from core.advice_plan import AdviceConfig, Plan, parse_budget, plan
from core.advice_report import (BEST_WORDS, CHOICES, advice_html, curve_figure, factors_table,
                                pairs_table, points_table, prices_words, reproduce_command)
from core.advice_result import build_advice
from core.compare import Prices
from core.errors import ConfigError, LabError
from ui.controls import plain
from ui.engine import show_error
from ui.navigate import open_page

BUDGETS = {"Quick (about 10 minutes)": "quick", "Thorough (about an hour)": "thorough",
           "No limit": "none", "Custom": None}
LIVE = ("queued", "running")
RESUMABLE = ("crashed", "cancelled", "failed")


def clock(seconds: float | None) -> str:
    """Seconds as 'h:mm:ss' or 'm:ss' ('–' when unknown)."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# -- the choices -------------------------------------------------------------------------------


def budget_choice(label: str, custom: str) -> str:
    """The budget AdviceConfig reads: 'quick', 'thorough', 'none', or the custom text (a bare
    number means minutes); ConfigError, with the way to write it, when it cannot be read."""
    if BUDGETS.get(label):
        return BUDGETS[label]
    text = custom.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        text += "m"
    try:
        parse_budget(text)
    except ConfigError as exc:
        raise ConfigError(f"The custom budget {custom.strip()!r} cannot be used: {exc.problem}",
                          "Write minutes (45), or a time like 90s, 20m or 1.5h, between 1 "
                          "minute and 24 hours.") from exc
    return text


def number_list(text: str, what: str, example: str, allow_all: bool = False) -> tuple[int, ...]:
    """'0, 2, 4' as (0, 2, 4); with ``allow_all``, 'all' reads 0 (every training row)."""
    values = []
    for part in (p.strip().lower() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        if allow_all and part == "all":
            values.append(0)
        elif part.isdigit():
            values.append(int(part))
        else:
            raise ConfigError(f"{what}: {part!r} is not a whole number.",
                              f"Write whole numbers separated by commas, like {example}.")
    if not values:
        raise ConfigError(f"{what}: none given.", f"Write at least one, like {example}.")
    return tuple(dict.fromkeys(values))  # in the user's order, each once


def config_from_state(engine: str) -> AdviceConfig:
    """The AdviceConfig the page's widgets describe (core checks every value)."""
    s = st.session_state
    return AdviceConfig(
        task=s["adv_task"], budget=budget_choice(s["adv_budget"], s["adv_custom"]),
        model=s["adv_model"].strip(), engine=engine,
        n_examples=int(s["adv_n"]) if s["adv_n"] is not None else None,
        shots=number_list(s["adv_shots"], "Shots", "0, 1, 2, 4, 8"),
        rows=number_list(s["adv_rows"], "Training rows", "25, 50, 100, 200, all", True),
        seeds=int(s["adv_seeds"]) if s["adv_seeds"] is not None else None,
        hybrids=bool(s["adv_hybrids"]),
        prices=Prices(input_per_million=s["adv_price_in"], output_per_million=s["adv_price_out"],
                      gpu_hour=s["adv_gpu_hour"], cpu_hour=s["adv_cpu_hour"]))  # empty: None


class _Planner:
    """The base model the planner timed, kept for the next plan of the same model, and a lock:
    one plan at a time in this process. A widget change starts a new script run while the
    old one is still planning (Streamlit's fast reruns): two plans at once would load and
    import in parallel and share one model between two threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.model: tuple[str, str] | None = None
        self.engines: dict = {}

    def plan(self, config: AdviceConfig) -> Plan:
        with self.lock:
            if self.model != (config.model, config.engine):  # one model kept, not one a choice
                self.model, self.engines = (config.model, config.engine), {}
            return plan(config, self.engines)


@st.cache_resource(show_spinner=False)
def _planner() -> _Planner:
    return _Planner()


def planned(config: AdviceConfig) -> Plan:
    """The plan for these choices, made once per change of them (its error raised again from
    the kept result, so the page shows it on every rerun without planning again). Prices
    change no point nor estimate: a changed price plans nothing again."""
    choices = {k: v for k, v in config.to_dict().items() if k != "prices"}
    key = json.dumps(choices, sort_keys=True, default=str)
    held = st.session_state.get("adv_plan_held")
    if not held or held[0] != key:
        try:
            with st.spinner("Planning: timing the model on a few of this task's prompts…"):
                result: Any = _planner().plan(config)
        except LabError as exc:
            result = exc
        held = (key, result)
        st.session_state["adv_plan_held"] = held
    if isinstance(held[1], LabError):
        raise held[1]
    return held[1]


def show_plan(chosen: Plan) -> None:
    """What will run, in order, each point's estimate and the total, and what was left out."""
    budget = "no time limit" if chosen.budget_s is None else f"a budget of {clock(chosen.budget_s)}"
    st.markdown(f"**The plan: {len(chosen.points)} points, about {clock(chosen.eta_s)} in all** "
                f"({budget})")
    st.caption("Estimates come from the speed measured on this machine (training steps and "
               "prompt reading); the sweep rescales the time left as points finish. Points "
               "already finished with the same settings are reused, not run again.")
    rows = pd.DataFrame([{"point": p.point.name, "kind": p.point.family,
                          "labelled examples": p.point.labelled, "estimate": clock(p.estimate_s)}
                         for p in chosen.points], index=range(1, len(chosen.points) + 1))
    st.table(rows.map(lambda cell: plain(str(cell))))  # a short list, all of it readable
    if chosen.left_out:
        with st.expander(f"Left out ({len(chosen.left_out)})"):
            for point, why in chosen.left_out:
                st.markdown(f"- {plain(point.name)}: {plain(why)}")


# -- a sweep while it runs ------------------------------------------------------------------------


def job_label(job: AdviceJob) -> str:
    """One line for the list of advice jobs."""
    when = job.created_at[:16].replace("T", " ") or job.id
    return (f"{when} · {job.task} · {job.budget} · {job.points_done}/{job.points_total} "
            f"points · {job.status}")


def job_config(job: AdviceJob) -> AdviceConfig:
    """The config an advice job was started with (its folder's config.json)."""
    try:
        data = json.loads((job.folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabError(f"The settings of advice {job.id} cannot be read: {exc}",
                       "Start a new advice with the same choices.") from exc
    return AdviceConfig.from_dict(data)


def progress_bar(job: AdviceJob) -> None:
    """Points done of the total, the current point with its training step or examples, the
    time elapsed and the time left (the plan's estimates, rescaled as points finish)."""
    parts = [f"{job.status.capitalize()}: {job.points_done} of {job.points_total or '?'} "
             "points done"]
    if job.reused:
        parts.append(f"{job.reused} reused")
    if job.current:
        parts.append(f"now: {plain(job.current)}")
    parts.append(f"{clock(job.elapsed_s)} elapsed")
    if job.eta_s is not None:
        parts.append(f"about {clock(job.eta_s)} left")
    st.progress(min(job.points_done / max(job.points_total, 1), 1.0), " · ".join(parts))


def _plan_data(job: AdviceJob) -> dict | None:
    """The plan the sweep wrote when it started (None before that)."""
    try:
        return json.loads((job.folder / "plan.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"The plan of advice {job.id} cannot be read: {exc}",
                       "Resume it or start it again: finished points are reused.") from exc


def partial_advice(job: AdviceJob) -> tuple[dict | None, list[dict]]:
    """The finished points of a sweep not finished yet, and an advice built from them (None
    when too few to build one); built again only when another point has finished."""
    plan_data = _plan_data(job)
    config = job_config(job)
    records = cached_records(config, plan_data, job.created_at) if plan_data else []
    keys = tuple(sorted(r["key"] for r in records))
    held = st.session_state.get("adv_partial")
    if held and held[0] == (job.id, keys):
        return held[1], records
    advice = None
    if records:
        try:
            advice = build_advice(config, plan_data, records, [], job.elapsed_s or 0.0)
        except LabError:  # too few points yet for what it computes: the table says enough
            advice = None
    st.session_state["adv_partial"] = ((job.id, keys), advice)
    return advice, records


def records_frame(records: list[dict]) -> pd.DataFrame:
    """Finished points as a table, from their records alone (before an advice can be built)."""
    rows = []
    for record in records:
        metrics = record.get("row", {}).get("metrics") or {}
        name, figure = next(iter(metrics.items()), ("", {}))
        rows.append({"point": record.get("name"), "kind": record.get("family"),
                     "labelled examples": record.get("labelled"),
                     name or "quality": figure.get("value"),
                     "seconds": record.get("seconds"),
                     "reused": "yes" if record.get("reused") else ""})
    return pd.DataFrame(rows)


def finished_points(job: AdviceJob, key: str) -> None:
    """The points finished so far: the curve (when an advice can be built) and the table."""
    advice, records = partial_advice(job)
    if not records:
        st.caption("No point has finished yet: each appears here, and on the chart, as it does.")
        return
    st.markdown(f"**Finished points ({len(records)})**")
    if advice is not None:
        st.plotly_chart(curve_figure(advice), key=f"adv_curve_{key}", theme=None)
        st.dataframe(points_table(advice), hide_index=True, width="stretch")
    else:
        st.dataframe(records_frame(records), hide_index=True, width="stretch")


@st.fragment(run_every=2)
def live_view(advice_id: str) -> None:
    """A running sweep, redrawn every 2 s: progress, its finished points, Cancel."""
    try:
        job = get_advice(advice_id)
        if (advice_id, job.status, job.points_done) != st.session_state.get("adv_drawn"):
            st.rerun(scope="app")  # a point finished, or it ended: the list's line says so too
        progress_bar(job)
        st.caption("It runs in its own process: closing this tab or restarting the app loses "
                   "nothing; this page finds it again.")
        if (job.folder / "cancel").exists():
            st.caption("Cancelling after the current point…")
        elif st.button("Cancel", key="adv_cancel"):
            cancel_advice(job.id)
            st.caption("Cancelling after the current point…")
        finished_points(job, "live")
    except LabError as exc:  # its folder gone, a file damaged: said, and the page stays
        show_error(exc)


def ended_view(job: AdviceJob) -> None:
    """A sweep that stopped before its advice: why, what it finished, and Resume."""
    said = plain(job.problem or "see log.txt in its folder", keep_format=True)
    fix = f"\n\n**Fix:** {plain(job.fix, keep_format=True)}" if job.fix else ""
    lead = f"This advice {job.status} after {job.points_done} of {job.points_total} points"
    if job.status == "cancelled":
        st.warning(f"{lead}.", icon=":material/cancel:")
    else:
        st.error(f"**{lead}:** {said}{fix}", icon=":material/error:")
    if job.status in RESUMABLE:
        st.caption("Resume starts it again: the points it finished are reused from the point "
                   "cache, not run again.")
        if st.button("Resume", key="adv_resume", type="primary"):
            try:
                resume_advice(job.id)
                st.rerun()
            except LabError as exc:
                show_error(exc)
    finished_points(job, "ended")


# -- the advice ------------------------------------------------------------------------------------


def recommendation(advice: dict) -> None:
    """The recommendation, first and large: its choice and its two or three sentences."""
    said = advice.get("recommendation") or {}
    choice = said.get("choice", "undecided")
    st.subheader(f"Recommendation: {CHOICES.get(choice, choice)}")  # as the report says it
    st.info(" ".join(plain(s) for s in said.get("sentences", [])), icon=":material/lightbulb:")


def best_three(advice: dict) -> None:
    """The best point of each family with its value and interval."""
    points = {p["name"]: p for p in advice.get("points", [])}
    best = [(BEST_WORDS.get(f, f), name) for f, name in (advice.get("best") or {}).items() if name]
    if not best:
        return
    metric = advice.get("metric", "quality")
    for column, (label, name) in zip(st.columns(len(best)), best):
        point = points.get(name, {})
        value = point.get("value")
        column.metric(label, f"{value:.2f}" if value is not None else "–",
                      help=f"{metric} on the same test examples")
        interval = (f" · 95% interval {point['low']:.2f}–{point['high']:.2f}"
                    if point.get("low") is not None and point.get("high") is not None else "")
        column.caption(f"{plain(name)}{interval}")


def rows_needed(advice: dict) -> None:
    """How many training rows a tuned model needs to beat the best prompt, and the curve used."""
    curve = advice.get("curve") or {}
    needed = (curve.get("n_needed") or {}).get("words")
    if needed:
        st.markdown(f"**Rows needed to beat the best prompt:** {plain(needed)}")
    if curve.get("model"):
        st.caption(f"Learning curve: {plain(curve['model'])}")


def run_links(advice: dict) -> None:
    """Open the best tuned point's training run in Compare or Runs."""
    best = (advice.get("best") or {}).get("tuned")
    run_id = next((p.get("run_id") for p in advice.get("points", [])
                   if p.get("name") == best and p.get("run_id")), None)
    if not run_id:
        return
    task = (advice.get("config") or {}).get("task")
    row = st.container(horizontal=True)
    if row.button(f"Compare {best} with other setups", key="adv_to_compare",
                  icon=":material/compare:"):
        open_page("compare", task=task, run=run_id)
    if row.button(f"Open its run ({run_id}) on Runs", key="adv_to_runs",
                  icon=":material/list_alt:"):
        open_page("runs", run=run_id)


def show_advice(advice: dict, advice_id: str) -> None:
    """The finished advice: recommendation, curve, best three and their paired differences,
    the factors, rows needed, every point, the downloads and the way to the best run."""
    recommendation(advice)
    st.plotly_chart(curve_figure(advice), key="adv_curve_final", theme=None)  # as the report draws it
    best_three(advice)
    pairs = pairs_table(advice)
    if not pairs.empty:
        st.markdown("**Paired differences** (the same test examples through both setups)")
        st.dataframe(pairs, hide_index=True, width="stretch")
    rows_needed(advice)
    st.subheader("When to use which: this task's numbers")
    st.table(factors_table(advice).map(lambda cell: plain(str(cell))))
    priced = prices_words(advice)
    if priced:
        st.caption(plain(priced))
    st.subheader("Every point")
    st.dataframe(points_table(advice), hide_index=True, width="stretch")
    for skipped in advice.get("skipped", []):
        st.caption(f"Not run: {plain(skipped.get('name', ''))}: {plain(skipped.get('reason', ''))}")
    left, right = st.columns(2)
    left.download_button("Download the report (HTML, works offline)", advice_html(advice),
                         f"prompttune-advice-{advice_id}.html", "text/html", key="adv_report",
                         type="primary")
    right.download_button("Download the config (JSON)",
                          json.dumps(advice.get("config", {}), indent=2),
                          f"prompttune-advice-{advice_id}.json", "application/json",
                          key="adv_config")
    st.caption("The same advice without the page:")
    st.code(reproduce_command(advice), language="bash")
    run_links(advice)


def job_view(advice_id: str) -> None:
    """One advice job as its status allows: live progress, its advice, or why it stopped."""
    job = get_advice(advice_id)
    st.session_state["adv_drawn"] = (advice_id, job.status, job.points_done)
    if job.status in LIVE:
        live_view(advice_id)
    elif job.status == "succeeded":
        advice = load_advice(advice_id)
        points = advice.get("points", [])
        st.caption(f"Finished in {clock(advice.get('duration_s'))}: {len(points)} points "
                   f"({sum(bool(p.get('reused')) for p in points)} reused from earlier sweeps).")
        show_advice(advice, advice_id)
    elif job.status == "damaged":
        show_error(LabError(job.problem or f"Advice {advice_id} cannot be read.", job.fix))
    else:
        ended_view(job)
