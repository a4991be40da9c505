"""Pieces of the Tour page: one bordered block per step of the lesson, each one click.

State lives in ``st.session_state`` under ``tour_`` keys (small values and ids only); the
run and the comparison are found again from the lab's folder after a restart.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import tour
from core.compare_runs import get_comparison, load_results
from core.errors import LabError
from core.report import html_report
from core.report_charts import metric_bars, quality_vs_cost
from core.runs import LIVE, get_run
from ui.engine import current_spec, show_error
from ui.training import (duration, loss_chart, poll_events, progress_row, refreshed,
                         training_estimate)

STATE = {"tour_zero": None, "tour_shots": None, "tour_run": None, "tour_cmp": None,
         "tour_n": tour.DEFAULT_N, "tour_downloaded": False}


def _minutes(seconds: float) -> str:
    return f"~{seconds / 60:.1f} min" if seconds % 60 else f"~{int(seconds // 60)} min"


def _seconds(step: tour.Step) -> float:
    """A step's expected time: the training step's from this machine's measured training
    speed (the Train page's estimate of the tour's run), the others as measured here."""
    if step.number != 3:
        return step.seconds
    try:
        seconds = training_estimate(tour.tour_train_config())[0]
    except LabError:
        return step.seconds
    return max(60.0, round(seconds / 30) * 30) if seconds else step.seconds


def restore() -> None:
    """Find the tour's run and comparison again (after a restart, or a run started elsewhere)."""
    state = st.session_state
    run = tour.find_tour_run()
    state["tour_run"] = run.id if run else None
    comparison = tour.find_tour_comparison(run.id) if run else None
    state["tour_cmp"] = comparison.id if comparison else None


def status() -> dict[int, bool]:
    """Which steps are done, from what the lab holds now."""
    state = st.session_state
    run = _run()
    comparison = _comparison()
    done = {2: tour.set_saved(), 3: run is not None and run.status == "succeeded",
            4: comparison is not None and comparison.status == "succeeded",
            5: bool(state["tour_downloaded"])}
    done[1] = state["tour_zero"] is not None or any(done.values())
    return done


def _run():
    try:
        return get_run(st.session_state["tour_run"]) if st.session_state["tour_run"] else None
    except LabError:
        return None


def _comparison():
    try:
        return get_comparison(st.session_state["tour_cmp"]) if st.session_state["tour_cmp"] else None
    except LabError:
        return None


def overview(done: dict[int, bool]) -> None:
    """The steps with their expected times, ticked as they are done, and 'Start over'."""
    total = sum(_seconds(s) for s in tour.STEPS)
    count = sum(done.values())
    st.progress(count / len(tour.STEPS), f"{count} of {len(tour.STEPS)} steps done · the lesson "
                f"takes {_minutes(total)} of clicks and waiting on 2 CPU cores, talk included")
    cols = st.columns(len(tour.STEPS))
    for col, step in zip(cols, tour.STEPS):
        mark = ":material/check_circle:" if done[step.number] else ":material/radio_button_unchecked:"
        col.markdown(f"{mark} **{step.number} · {step.title}**  \n{_minutes(_seconds(step))}")


def step_header(step: tour.Step, done: bool) -> None:
    badge = " :green-badge[:material/check: done]" if done else ""
    st.subheader(f"{step.number} · {step.title}{badge}")
    st.caption(f"Expected: {_minutes(_seconds(step))} on this machine's CPU"
               + (" (estimated from its measured training speed)." if step.number == 3 else "."))
    st.markdown(f":material/record_voice_over: **Say:** {step.say}")


def _open_playground(mode: str, review: str) -> None:
    """on_click: the Playground's widgets, set before that page draws them."""
    t = tour.task()
    st.session_state.update({
        "play_mode": mode, "play_task": tour.TASK, "play_instruction": t.instruction,
        "play_template": t.prompt_template,
        "play_input": review, "play_set": tour.SET_NAME, "play_k": 4})
    st.session_state.pop("play_last", None)


def _check_table(check: tour.QuickCheck) -> None:
    counts = ", ".join(f"{label} {n}" for label, n in check.answers.most_common())
    st.markdown(f"**{check.recipe_name}** on the first {len(check.rows)} test reviews: "
                f"**{check.correct} of {len(check.rows)} right** · answers: {counts} · "
                f"{check.prompt_tokens:.0f} prompt tokens per review")
    st.dataframe(pd.DataFrame(check.rows), hide_index=True, width="stretch",
                 column_config={"review": st.column_config.TextColumn(width="large")})


def zero_shot_step(engine) -> None:
    """Step 1: zero-shot on 12 test reviews (the POSITIVE bias in one table), then the Playground."""
    state = st.session_state
    left, right = st.columns(2)
    if left.button("Ask the model about 12 test reviews (zero-shot)", key="tour_zero_run",
                   type="primary", disabled=engine is None):
        try:
            with st.spinner("Scoring 12 reviews..."):
                state["tour_zero"] = tour.quick_check(engine, tour.zero_shot_recipe(), "Zero-shot")
        except LabError as exc:
            show_error(exc)
    review = tour.wrong_review(state["tour_zero"]) if state["tour_zero"] else ""
    if right.button("Show one of them in the Playground", key="tour_zero_play",
                    on_click=_open_playground, args=("Zero-shot", review),
                    disabled=state["tour_zero"] is None):
        st.switch_page("pages/1_Playground.py")
    if state["tour_zero"] is not None:
        _check_table(state["tour_zero"])
        st.caption("In the Playground, press **Generate**: the label probabilities show how sure "
                   "it is of POSITIVE for a review that is not.")


def few_shot_step(engine) -> None:
    """Step 2: save the balanced 4-example set, measure it on the same reviews, open the Playground."""
    state = st.session_state
    review = tour.wrong_review(state["tour_zero"]) if state["tour_zero"] else ""
    if st.button(f"Save the 4-example set '{tour.SET_NAME}' and open it in the Playground",
                 key="tour_shots_run", type="primary", disabled=engine is None):
        try:
            fewshot = tour.save_tour_set()
            with st.spinner("Scoring the same 12 reviews with 4 examples..."):
                state["tour_shots"] = tour.quick_check(engine, fewshot.recipe(), "Few-shot, 4 examples")
            _open_playground("Few-shot", review or fewshot.examples[0].input)
            st.switch_page("pages/1_Playground.py")
        except LabError as exc:
            show_error(exc)
    if tour.set_saved():
        examples = tour.tour_set().examples
        st.markdown(f"**{tour.SET_NAME}**: " + " · ".join(f"`{e.label}`" for e in examples)
                    + " (balanced per label, from the training split; the comparison's "
                      "'few-shot 4' draws the same four)")
    if state["tour_shots"] is not None:
        _check_table(state["tour_shots"])


def _select_run_page(run_id: str) -> None:
    st.session_state["runs_selected"] = run_id


def training_step() -> None:
    """Step 3: start the live-demo LoRA run; its progress and loss curve, live."""
    state = st.session_state
    run = _run()
    label = "Start the live-demo LoRA run" if run is None or run.status != "succeeded" \
        else "Train again (a new run)"
    left, right = st.columns(2)
    if left.button(label, key="tour_train", type="primary" if run is None else "secondary",
                   disabled=run is not None and run.status in LIVE):
        try:
            state["tour_run"] = tour.start_tour_run(again=run is not None)
            state["tour_cmp"] = None
            st.rerun()
        except LabError as exc:
            show_error(exc)
    if run is None:
        return
    if right.button("Watch it on the Runs page", key="tour_runs_page",
                    on_click=_select_run_page, args=(run.id,)):
        st.switch_page("pages/6_Runs.py")
    st.fragment(run_every=2 if run.status in LIVE else None)(_live_run)(run.id, run.status)
    with st.expander("While it trains, talk about", expanded=run.status in LIVE):
        for point in tour.TALK_WHILE_TRAINING:
            st.markdown(f"- {point}")


def _live_run(run_id: str, shown_status: str) -> None:
    run = refreshed(run_id, shown_status)  # a status change reruns: the next steps unlock
    if run is None:
        return
    events = poll_events(run)
    if run.status in LIVE:
        st.info(f"Run **{run.id}** is {run.status}"
                + (f" · {duration(run.duration_s)} so far" if run.duration_s else ""),
                icon=":material/model_training:")
        if run.status == "running":
            progress_row(events)
    elif run.status == "succeeded":
        accuracy = run.metrics.get("accuracy")
        expected = _minutes(_seconds(tour.STEPS[2]))  # step 3, from the measured speed
        st.success(f"Run **{run.id}** finished in {duration(run.duration_s)} (expected "
                   f"{expected} here)"
                   + (f" · validation accuracy {accuracy:.2f}" if accuracy else ""),
                   icon=":material/check_circle:")
    else:
        show_error(LabError(f"Run {run.id} {run.status}: {run.problem or 'see its log.txt'}",
                            run.fix or "Start it again with the button above."))
    loss_chart(events, key=f"tour_loss_{run_id}")


def _select_comparison(comparison_id: str) -> None:
    st.session_state["cmp_selected"] = comparison_id


def compare_step() -> None:
    """Step 4: the four variants on N test reviews, in the background; the key figures here."""
    state = st.session_state
    run = _run()
    ready = run is not None and run.status == "succeeded"
    comparison = _comparison()
    left, middle, right = st.columns([1, 2, 2])
    left.number_input("Test reviews", 30, 150, step=10, key="tour_n",
                      help="150 take ~2.5 minutes for the four variants on 2 cores (139 s measured); "
                           "90 took ~2 minutes with a neighbour busy, and their intervals may "
                           "touch: fewer are faster but widen the intervals.")
    middle.write("")
    if middle.button("Run the comparison: zero-shot, 4 and 8 shots, LoRA", key="tour_compare",
                     type="primary", disabled=not ready or (comparison is not None
                                                            and comparison.status in LIVE)):
        try:
            state["tour_cmp"] = tour.start_tour_comparison(
                run.id, int(state["tour_n"]), tour.tour_train_config().model, current_spec().engine)
            st.rerun()
        except LabError as exc:
            show_error(exc)
    if not ready:
        st.caption("Unlocks when the LoRA run of step 3 has finished.")
        return
    if comparison is None:
        return
    right.write("")
    if right.button("Open the results on the Compare page", key="tour_compare_page",
                    on_click=_select_comparison, args=(comparison.id,),
                    disabled=comparison.status != "succeeded"):
        st.switch_page("pages/7_Compare.py")
    st.fragment(run_every=2 if comparison.status in LIVE else None)(_live_comparison)(
        comparison.id, comparison.status)


def _live_comparison(comparison_id: str, shown_status: str) -> None:
    comparison = get_comparison(comparison_id)
    if comparison.status != shown_status:
        st.rerun(scope="app")
    if comparison.status in LIVE:
        st.progress(comparison.done / max(comparison.total, 1),
                    f"{comparison.status}: variant {comparison.done + 1} of {comparison.total} · "
                    f"{comparison.current}")
        return
    if comparison.status != "succeeded":
        show_error(LabError(f"The comparison {comparison.status}: "
                            f"{comparison.problem or 'see log.txt in its folder'}",
                            "Run it again with the button above."))
        return
    results = load_results(comparison_id)
    figures(results)


def figures(results: dict) -> None:
    """The lesson's numbers: accuracy with intervals, prompt tokens, and two charts."""
    facts = tour.takeaways(results)
    st.success(f"Comparison **{results.get('id')}** on {results['config']['n_examples']} test "
               f"reviews took {duration(results.get('duration_s'))} (expected ~2.5 minutes for 150)."
               + ("" if facts.separated else " The intervals overlap on this draw: say so, "
                  "and point at the ordering."), icon=":material/check_circle:")
    rows = [{"variant": name, "accuracy": point["value"], "95% interval":
             f"{point['low']:.2f} – {point['high']:.2f}",
             "prompt tokens per query": round(facts.tokens.get(name) or 0)}
            for name, point in facts.accuracy.items()]
    st.table(pd.DataFrame(rows).set_index("variant"))  # text, not a canvas: readable anywhere
    left, right = st.columns(2)
    left.plotly_chart(metric_bars(results, "accuracy"), key="tour_bars")
    right.plotly_chart(quality_vs_cost(results), key="tour_cost")


@st.cache_data(max_entries=2, show_spinner="Writing the report...")
def _report(comparison_id: str) -> str:
    return html_report(load_results(comparison_id))


def _downloaded() -> None:
    st.session_state["tour_downloaded"] = True


def report_step() -> None:
    """Step 5: the offline report, and what to tell a stakeholder with this run's numbers."""
    comparison = _comparison()
    if comparison is None or comparison.status != "succeeded":
        st.caption("Unlocks when the comparison of step 4 has finished.")
        return
    results = load_results(comparison.id)
    st.download_button("Download the report (HTML, works offline)", _report(comparison.id),
                       f"prompttune-report-{comparison.id}.html", "text/html", key="tour_report",
                       type="primary", on_click=_downloaded)
    st.markdown("**What to tell a stakeholder**")
    st.markdown(stakeholder_text(tour.takeaways(results)))


def stakeholder_text(facts: tour.Takeaways) -> str:
    """The closing talk, filled with this comparison's numbers."""
    acc = {name: f"{p['value']:.2f} [{p['low']:.2f}, {p['high']:.2f}]"
           for name, p in facts.accuracy.items()}
    lines = [f"- **Quality**: asking plainly gets {acc.get('zero-shot', '–')} of the reviews "
             f"right; four examples in the prompt {acc.get('few-shot 4', '–')}; the model tuned "
             f"for a few minutes {acc.get(tour.TUNED, '–')} (accuracy, 95% interval)."]
    if facts.token_share:
        lines.append(f"- **Cost per query**: the tuned model reads about "
                     f"{facts.tokens[tour.TUNED]:.0f} prompt tokens a query against "
                     f"{facts.tokens['few-shot 4']:.0f} with four examples: about 1/"
                     f"{1 / facts.token_share:.0f} of the tokens, on every query, forever.")
    if facts.break_even is not None:
        lines.append(f"- **Break-even**: training cost {duration(facts.train_seconds)} of CPU "
                     f"time; at $0.10 per million input tokens and $0.05 per CPU-hour it is paid "
                     f"back after about **{facts.break_even:,} queries**.")
    lines.append("- **Where prompting is enough, say so**: on an easy two-label version of this "
                 "task, 4 examples already score 0.93-0.95 and a one-minute LoRA 0.93-0.96 "
                 "(measured on this machine kind): there, keep the prompt and skip the training. "
                 "Train when the task is hard for the model (here: MIXED) or the query volume "
                 "makes the shorter prompt pay.")
    return "\n".join(lines)
