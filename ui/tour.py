"""Pieces of the Tour page: one bordered block per step of the lesson, each one click.

What the steps produced is read from the lab's folder on every render (the 12-review checks
and the report's download in tour.json, the run and the comparison by what they are), so a
reload, a new tab or an app restart shows every done step with its result; session_state
holds only the lesson's task, the ids found and the number of test rows. Every step works on
the task the picker holds (ui.tour_task), and reads and writes that task's state only.
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
from ui.controls import plain
from ui.engine import current_spec, show_error
from ui.navigate import open_page
from ui.tour_task import lesson, talk, task
from ui.training import (duration, loss_chart, poll_events, progress_row, refreshed,
                         training_estimate)

STATE = {"tour_task": None, "tour_run": None, "tour_cmp": None, "tour_n": tour.DEFAULT_N}


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "not measured yet"
    if seconds == tour.CLICK:
        return "a click"
    return f"~{seconds / 60:.1f} min" if seconds % 60 else f"~{int(seconds // 60)} min"


def _expected(step: tour.Step, estimate: bool = True) -> str:
    """A step's time as the overview and its header say it: the training step's as the Train
    page writes its estimate ("about 1:10"), the others in minutes."""
    if step.number == 3 and not estimate:
        return "estimating..."
    seconds = _seconds(step)
    if step.number == 3 and seconds:
        return f"about {duration(seconds)}"
    return _minutes(seconds)


def _seconds(step: tour.Step) -> float | None:
    """A step's expected time: the training step's the Train page's estimate of the tour's run
    (this machine's measured training speed, same config, same figure), the others as measured
    here (on another task than the shipped one: None until the step has run on it)."""
    if step.number == 4 and task() != tour.TASK:
        comparison = _comparison()  # on another task: the time its comparison took here
        done = comparison is not None and comparison.status == "succeeded"
        return comparison.ended - comparison.started if done and comparison.ended \
            and comparison.started else None
    if step.number != 3:
        return step.seconds
    fallback = step.seconds if task() == tour.TASK else None
    try:
        seconds = training_estimate(tour.train_config(task()))[0]
    except LabError:
        return fallback
    return seconds or fallback


def restore() -> None:
    """Find the tour's run and comparison again (after a restart, or a run started elsewhere)."""
    state = st.session_state
    run = tour.find_tour_run(task=task())
    state["tour_run"] = run.id if run else None
    comparison = tour.find_tour_comparison(run.id, task()) if run else None
    state["tour_cmp"] = comparison.id if comparison else None


def status() -> dict[int, bool]:
    """Which steps are done, from what the lab holds now (each one shown with its result)."""
    checks = tour.saved_checks(task())
    run = _run()
    comparison = _comparison()
    finished = comparison is not None and comparison.status == "succeeded"
    return {1: "zero" in checks, 2: tour.set_saved(task()) and "shots" in checks,
            3: run is not None and run.status == "succeeded", 4: finished,
            5: finished and tour.report_downloaded(comparison.id, task())}


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


def overview(done: dict[int, bool], steps: tuple[tour.Step, ...] = tour.STEPS,
             estimate: bool = True) -> None:
    """The steps with their expected times, ticked as they are done. ``estimate`` False: the
    training step's estimate is not read (a task just picked: the strip shows that task's
    state at once, and its estimate when the page has computed it)."""
    times = [_seconds(s) if estimate or s.number != 3 else 0 for s in steps]
    count = sum(done.values())
    took = "each step's time shows once it has run on this task" if None in times else \
        f"the lesson takes {_minutes(sum(times))} of clicks and waiting on 2 CPU cores, talk " \
        "included" if estimate else "the lesson's time shows once step 3 is estimated"
    st.progress(count / len(steps), f"{count} of {len(steps)} steps done · {took}")
    cols = st.columns(len(steps))
    for col, step in zip(cols, steps):
        mark = ":material/check_circle:" if done[step.number] else ":material/radio_button_unchecked:"
        col.markdown(f"{mark} **{step.number} · {step.title}**  \n{_expected(step, estimate)}")


def step_header(step: tour.Step, done: bool) -> None:
    badge = " :green-badge[:material/check: done]" if done else ""
    st.subheader(f"{step.number} · {step.title}{badge}")
    seconds = _seconds(step)
    if seconds is None:
        st.caption("Expected: not measured yet on this task; the step is timed when it runs.")
    elif seconds == tour.CLICK:
        st.caption("Expected: a click. The report downloads at once; nothing to time but the "
                   "talk below.")
    elif step.number == 3:
        st.caption(f"Expected: {_expected(step)} (m:ss) here, the Train page's estimate for "
                   "this run from this machine's measured training speed.")
    elif task() != tour.TASK:
        st.caption(f"Took {duration(seconds)} (min:s) on this machine, measured on this task.")
    else:
        st.caption(f"Expected: {_minutes(seconds)} on this machine's CPU.")
    with st.expander("Presenter's notes: what to say", icon=":material/record_voice_over:"):
        st.markdown(step.say)


def presenter_script() -> None:
    """The presenter's script (docs/demo.md) inside the app: a file link does not open from a
    browser, so it is rendered here and offered as a download."""
    text = tour.presenter_script()
    if not text:
        st.caption("The presenter's script (docs/demo.md) is missing from this copy of the lab.")
        return
    label = "Presenter's script (docs/demo.md): the whole lesson with its measured figures" \
        if task() == tour.TASK else ("Presenter's script (docs/demo.md), written for the shipped "
                                     "review-sentiment lesson: its figures are that task's")
    with st.expander(label, icon=":material/description:"):
        st.download_button("Download the script (Markdown)", text, "prompttune-lesson-script.md",
                           "text/markdown", key="tour_script_download")
        st.markdown(text)


def _open_playground(technique: str, review: str) -> None:
    """Open the Playground on the lesson's task with ``technique``, one of its reviews, and
    the tour's 4-example set."""
    name = tour.task(task()).name
    open_page("playground", technique=technique, task=name, input=review,
              fewshot_set=tour.set_name_for(name), k=4)


def _check_table(check: tour.QuickCheck) -> None:
    counts = ", ".join(f"{plain(label)} {n}" for label, n in check.answers.most_common())
    model = f" · {check.model}" if check.model else ""
    item = lesson().item  # "reviews" on the shipped lesson, "test rows" on another task
    column = lesson().input_column  # rows keep "review" in tour.json; shown as the task says
    st.markdown(f"**{check.recipe_name}** on the first {len(check.rows)} test "
                f"{item.split()[-1]}: **{check.correct} of {len(check.rows)} right** · answers: "
                f"{counts} · {check.prompt_tokens:.0f} prompt tokens per "
                f"{item.split()[-1][:-1]}{model}")
    table = pd.DataFrame(check.rows).rename(columns={"review": column})
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={column: st.column_config.TextColumn(width="large")})


def _measure(engine, kinds: tuple[str, ...]) -> None:
    """Score the 12 test rows for each of ``kinds`` ("zero", "shots") and keep the checks."""
    name_, n = task(), lesson().n_quick
    recipes = {"zero": (lambda: tour.zero_shot_recipe(name_), "Zero-shot"),
               "shots": (lambda: tour.save_tour_set(name_).recipe(), "Few-shot, 4 examples")}
    for kind in kinds:
        recipe, name = recipes[kind]
        tour.save_check(kind, tour.quick_check(engine, recipe(), name, n, name_), name_)


def zero_shot_step(engine) -> None:
    """Step 1: zero-shot on 12 test reviews (the POSITIVE bias in one table), then the Playground."""
    shipped, n = task() == tour.TASK, lesson().n_quick
    label = "Ask the model about 12 test reviews (zero-shot)" if shipped else \
        f"Ask the model about {n} of its test rows (zero-shot)"
    if lesson().quick_note:
        st.caption(lesson().quick_note)
    left, right = st.columns(2)
    if left.button(label, key="tour_zero_run", type="primary", disabled=engine is None):
        try:
            with st.spinner(f"Scoring {n} {lesson().item}..."):
                _measure(engine, ("zero",))
        except LabError as exc:
            show_error(exc)
    zero = tour.saved_checks(task()).get("zero")
    review = tour.playground_review(zero, task=task()) if zero else ""
    if right.button("Show one of them in the Playground", key="tour_zero_play",
                    disabled=zero is None):
        _open_playground("Zero-shot", review)
    if zero is not None:
        _check_table(zero)
        guess = "POSITIVE for a review that is not" if shipped else \
            "the label it guesses most for a row that is another"
        st.caption(f"In the Playground, press **Generate**: the label probabilities show how "
                   f"sure it is of {guess}.")


def few_shot_step(engine) -> None:
    """Step 2: save the balanced 4-example set and score the same 12 reviews with it, against
    step 1's zero-shot score; then one of the reviews in the Playground."""
    lesson_task = lesson()
    label = f"Save the 4-example set '{tour.SET_NAME}' and score the same 12 reviews" \
        if lesson_task.shipped else (f"Save the 4-example set '{plain(lesson_task.set_name)}' "
                                     f"and score the same {lesson_task.n_quick} test rows")
    left, right = st.columns(2)
    if left.button(label, key="tour_shots_run", type="primary", disabled=engine is None):
        try:
            with st.spinner(f"Scoring the same {lesson_task.n_quick} {lesson_task.item} with 4 "
                            "examples..."):
                # zero-shot too when step 1 was skipped: the step is the contrast
                _measure(engine, ("shots",) if "zero" in tour.saved_checks(task())
                         else ("zero", "shots"))
        except LabError as exc:
            show_error(exc)
    checks = tour.saved_checks(task())
    zero, shots = checks.get("zero"), checks.get("shots")
    review = tour.playground_review(zero, shots, task()) if shots else ""
    if right.button("Show one of them in the Playground", key="tour_shots_play",
                    disabled=shots is None or not tour.set_saved(task())):
        _open_playground("Few-shot", review)
    if tour.set_saved(task()):
        _examples_table()
    if shots is not None:
        _contrast(zero, shots)
        _check_table(shots)
        st.caption(f"In the Playground, the Few-shot technique opens with a {lesson_task.item[:-1]} "
                   f"that zero-shot got wrong, not one of the four examples: "
                   f"\"{plain(review[:70])}…\". Press **Generate**.")


def _examples_table() -> None:
    lesson_task = lesson()
    examples = tour.tour_set(task()).examples
    st.markdown(f"**{plain(lesson_task.set_name)}**: the {len(examples)} worked examples in the "
                "prompt, balanced per label, from the **training** split (the comparison's "
                f"'few-shot 4' draws the same ones; the {lesson_task.n_quick} questions come "
                "from the test split)")
    st.dataframe(pd.DataFrame([{"example": e.input, "label": e.label} for e in examples]),
                 hide_index=True, width="stretch", key="tour_examples",
                 column_config={"example": st.column_config.TextColumn(width="large")})


def _contrast(zero: tour.QuickCheck | None, shots: tour.QuickCheck) -> None:
    """The step's point in one line: the same 12 reviews with and without the examples."""
    n = len(shots.rows)
    if zero is None:
        st.markdown(f"With 4 examples: **{shots.correct} of {n} right**.")
        return
    verdict = ":green[better]" if shots.correct > zero.correct else \
        ":orange[no better]" if shots.correct == zero.correct else ":red[worse]"
    times = shots.prompt_tokens / zero.prompt_tokens if zero.prompt_tokens else 0
    st.markdown(f"#### With 4 examples: {shots.correct} of {n} right, against {zero.correct} "
                f"of {n} zero-shot (step 1) · {verdict}")
    item = lesson().item
    st.caption(f"The same {n} {item}. The price: {shots.prompt_tokens:.0f} prompt tokens a "
               f"{item[:-1].split()[-1]} instead of {zero.prompt_tokens:.0f} ({times:.1f}x), on "
               "every query.")


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
            state["tour_run"] = tour.start_tour_run(again=run is not None, task=task())
            state["tour_cmp"] = None
            st.rerun()
        except LabError as exc:
            show_error(exc)
    if run is None:
        return
    if right.button("Watch it on the Runs page", key="tour_runs_page"):
        open_page("runs", run=run.id)
    st.fragment(run_every=2 if run.status in LIVE else None)(_live_run)(run.id, run.status)
    with st.expander("Presenter's notes: while it trains, talk about", expanded=run.status in LIVE,
                     icon=":material/record_voice_over:"):
        for point in talk(lesson(), _measured_tokens()):
            st.markdown(f"- {point}")


def _measured_tokens() -> dict[str, float] | None:
    """The step-4 comparison's mean prompt tokens per variant, once it has succeeded."""
    comparison = _comparison()
    if comparison is None or comparison.status != "succeeded":
        return None
    try:
        return tour.takeaways(load_results(comparison.id)).tokens
    except (LabError, KeyError, TypeError, ValueError):
        return None  # damaged results: the talk quotes no tuned figure


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
        expected = _expected(tour.STEPS[2])  # step 3: the Train page's estimate of this run
        expected = expected if expected != "not measured yet" else "no estimate"
        st.success(f"Run **{run.id}** finished in {duration(run.duration_s)} (expected "
                   f"{expected} here)"
                   + (f" · validation accuracy {accuracy:.2f}" if accuracy else ""),
                   icon=":material/check_circle:")
    else:
        show_error(LabError(f"Run {run.id} {run.status}: {run.problem or 'see its log.txt'}",
                            run.fix or "Start it again with the button above."))
    loss_chart(events, key=f"tour_loss_{run_id}")


def compare_step() -> None:
    """Step 4: the four variants on N test reviews, in the background; the key figures here."""
    state = st.session_state
    run = _run()
    ready = run is not None and run.status == "succeeded"
    comparison = _comparison()
    left, middle, right = st.columns([1, 2, 2])
    enough = _test_rows_input(left)
    middle.write("")
    if middle.button("Run the comparison: zero-shot, 4 and 8 shots, LoRA", key="tour_compare",
                     type="primary", disabled=not ready or not enough or (
                         comparison is not None and comparison.status in LIVE)):
        try:
            state["tour_cmp"] = tour.start_tour_comparison(
                run.id, int(state["tour_n"]), tour.train_config(task()).model,
                current_spec().engine, task())
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
                    disabled=comparison.status != "succeeded"):
        open_page("compare", comparison=comparison.id)
    st.fragment(run_every=2 if comparison.status in LIVE else None)(_live_comparison)(
        comparison.id, comparison.status)


def _test_rows_input(column) -> bool:
    """How many test rows to compare on: 30 to 150, within what the task has; False (and
    said) when it has fewer than a comparison takes."""
    lesson_task, state = lesson(), st.session_state
    if lesson_task.shipped:
        column.number_input("Test reviews", 30, 150, step=10, key="tour_n",
                            help="150 take ~2.5 minutes for the four variants on 2 cores (139 s "
                                 "measured); 90 took ~2 minutes with a neighbour busy, and their "
                                 "intervals may touch: fewer are faster but widen the intervals.")
        return True
    if lesson_task.n_test < tour.MIN_COMPARE:
        column.caption(f"This task has {lesson_task.n_test} test rows; a comparison takes at "
                       f"least {tour.MIN_COMPARE}. Add test rows to compare on it.")
        return False
    low, high = min(30, lesson_task.n_test), min(150, lesson_task.n_test)
    state["tour_n"] = min(max(int(state.get("tour_n") or high), low), high)
    column.number_input("Test rows", low, high, step=10, key="tour_n",
                        help=f"The first rows of the task's test split ({lesson_task.n_test} in "
                             "all): fewer are faster but widen the intervals. The time it took "
                             "shows once it has run.")
    return True


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
        # its problem may quote a name: show_error escapes what could link or load
        show_error(LabError(f"The comparison {comparison.status}: "
                            f"{comparison.problem or 'see log.txt in its folder'}",
                            f"{comparison.fix} Or start a new one with the button above."
                            if comparison.status == "damaged" else "Run it again with the button above."))
        return
    results = load_results(comparison_id)
    figures(results)


def figures(results: dict) -> None:
    """The lesson's numbers: accuracy with intervals, prompt tokens, and two charts."""
    facts = tour.takeaways(results)
    shipped = results["config"].get("task", tour.TASK) == tour.TASK
    st.success(f"Comparison **{results.get('id')}** on {results['config']['n_examples']} test "
               f"{'reviews' if shipped else 'rows'} took {duration(results.get('duration_s'))}"
               + (" (expected ~2.5 minutes for 150)." if shipped else " on this machine.")
               + ("" if facts.separated or facts.ordering else " The intervals overlap on this "
                  "draw: say so, and point at the ordering."), icon=":material/check_circle:")
    if facts.ordering:
        st.warning(facts.ordering, icon=":material/trending_down:")
    rows = [{"variant": name, "accuracy": point["value"], "95% interval":
             f"{point['low']:.2f} – {point['high']:.2f}",
             "prompt tokens per query": round(facts.tokens.get(name) or 0)}
            for name, point in facts.accuracy.items()]
    st.table(pd.DataFrame(rows).set_index("variant"))  # text, not a canvas: readable anywhere
    left, right = st.columns(2)
    left.plotly_chart(metric_bars(results, "accuracy"), key="tour_bars")
    right.plotly_chart(quality_vs_cost(results), key="tour_cost")


def _report_break_even(facts: tour.Takeaways) -> str:
    """The report's break-even, against its own baseline (the best prompt without training),
    named: a number without its baseline reads as a contradiction of the one above."""
    base, queries = plain(facts.report_against), facts.report_queries
    said = f"about **{queries} queries against {base}**" if queries[:1].isdigit() else \
        f"never, against {base}" if queries == "never" else \
        f"none against {base}: the tuned model is less accurate than it"
    return (f"- **The report's break-even** weighs the training against the best prompt without "
            f"training, here {base}: {said}. Quote each number with its baseline.")


@st.cache_data(max_entries=2, show_spinner="Writing the report...")
def _report(comparison_id: str) -> str:
    return html_report(load_results(comparison_id))


def _downloaded(comparison_id: str) -> None:
    tour.mark_report_downloaded(comparison_id, task())


def report_step() -> None:
    """Step 5: the offline report, and what to tell a stakeholder with this run's numbers."""
    comparison = _comparison()
    if comparison is None or comparison.status != "succeeded":
        st.caption("Unlocks when the comparison of step 4 has finished.")
        return
    results = load_results(comparison.id)
    st.download_button("Download the report (HTML, works offline)", _report(comparison.id),
                       f"prompttune-report-{comparison.id}.html", "text/html", key="tour_report",
                       type="primary", on_click=_downloaded, args=(comparison.id,))
    st.markdown("**What to tell a stakeholder**")
    st.markdown(stakeholder_text(tour.takeaways(results), results["config"].get("task", tour.TASK)))
    advisor_pointer()


def advisor_pointer() -> None:
    """The lesson's last word: the Advisor, opened on the lesson's task, answers the same
    question by measuring more points (shots, LoRA on more and more rows) on one task."""
    st.markdown("**And here is the answer for your own data**: the Advisor measures prompts and "
                "LoRA on more and more of your rows and says which to use.")
    name = task()
    where = "It opens on this lesson's task; pick your own there." if lesson().shipped \
        else "It opens on your task, the one this lesson ran on."
    st.caption("Its figures are measured on this machine too, like this lesson's, every setup "
               f"on the same test rows. {where}")
    if st.button(f"Open the Advisor on {name}", key="tour_advisor",
                 icon=":material/explore:"):
        open_page("advisor", task=name)


def stakeholder_text(facts: tour.Takeaways, task_name: str = tour.TASK) -> str:
    """The closing talk, filled with this comparison's numbers; on another task than the
    shipped one, nothing of the shipped script's figures, and the ordering as measured."""
    acc = {name: f"{p['value']:.2f} [{p['low']:.2f}, {p['high']:.2f}]"
           for name, p in facts.accuracy.items()}
    item = "reviews" if task_name == tour.TASK else "test rows"
    lines = [f"- **Quality**: asking plainly gets {acc.get('zero-shot', '–')} of the {item} "
             f"right; four examples in the prompt {acc.get('few-shot 4', '–')}; the model tuned "
             f"for a few minutes {acc.get(tour.TUNED, '–')} (accuracy, 95% interval)."]
    if facts.token_share:
        lines.append(f"- **Cost per query**: the tuned model reads about "
                     f"{facts.tokens[tour.TUNED]:.0f} prompt tokens a query against "
                     f"{facts.tokens['few-shot 4']:.0f} with four examples: about 1/"
                     f"{1 / facts.token_share:.0f} of the tokens, on every query, forever.")
    if facts.worse_by is not None:
        lines.append(f"- **No break-even**: on this draw the tuned model scores "
                     f"{facts.worse_by:.2f} lower than four examples (their 95% intervals do not "
                     "overlap): its shorter prompts would buy worse answers, so there is nothing "
                     "to pay back. Keep the examples, or train longer (the thorough preset).")
    if facts.break_even is not None:
        lines.append(f"- **Break-even**: training cost {duration(facts.train_seconds)} of CPU "
                     f"time; at $0.10 per million input tokens and $0.05 per CPU-hour it is paid "
                     f"back after about **{facts.break_even:,} queries against four examples in "
                     f"the prompt (few-shot 4)**.")
    if facts.report_against and facts.report_against != "few-shot 4":
        lines.append(_report_break_even(facts))
    if facts.ordering:
        lines.append(f"- **What this comparison showed**: {facts.ordering}")
    if task_name != tour.TASK:
        lines.append("- **Where prompting is enough, say so**: where four examples score as "
                     "well as the tuned model on this task, keep the prompt and skip the "
                     "training; train when the tuned model is clearly ahead or the query volume "
                     "makes the shorter prompt pay.")
        return "\n".join(lines)
    lines.append("- **Where prompting is enough, say so**: on an easy two-label version of this "
                 "task, 4 examples already score 0.93-0.95 and a one-minute LoRA 0.93-0.96 "
                 "(measured on this machine kind): there, keep the prompt and skip the training. "
                 "Train when the task is hard for the model (here: MIXED) or the query volume "
                 "makes the shorter prompt pay.")
    return "\n".join(lines)
