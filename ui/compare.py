"""Pieces of the Compare page: variant presets per task kind, results, free-form columns."""

from __future__ import annotations

import streamlit as st

from core.config import ModelSpec
from core.errors import LabError
from core.setup_answer import answer_one, setup_prompt
from core.setups import Setup
from core.compare_runs import Comparison, cancel_comparison, get_comparison
from core.report import (break_even, break_even_missing, break_even_rows, disagreements,
                         html_report, metrics_table, notes, paired_caption, paired_sentences,
                         paired_table, results_csv, verdict, when_to_use)
from core.report_charts import (confusion_figures, metric_bars, metric_label, metric_names,
                                primary_metric,
                                quality_vs_cost, quality_vs_examples)
from core.compare import CompareConfig
from core.task_versions import (check_warnings, comparison_checks, result_warnings, short,
                                task_line)
from core.tasks import Task, load_split, load_task, task_title
from ui.controls import plain, price_fields
from ui.engine import (check_spec, load_engine, loaded_engine, model_title, show_error,
                       unexpected_load_error)
from ui.review import reviews_by_people


def variant_choices(task: Task) -> dict[str, dict]:
    """The prompt variants that make sense for this kind of task, by name."""
    if task.kind == "classification":
        names = {"zero-shot": {"kind": "zero-shot"}, "few-shot 2": {"kind": "few-shot", "shots": 2},
                 "few-shot 4": {"kind": "few-shot", "shots": 4},
                 "few-shot 8": {"kind": "few-shot", "shots": 8},
                 "chain-of-thought": {"kind": "cot"}}
    elif task.kind == "json":
        names = {"structured, free": {"kind": "structured", "constrained": False, "shots": 2},
                 "structured, constrained": {"kind": "structured", "constrained": True, "shots": 2}}
    elif task.kind == "text":  # free text: a reasoning chain would end up in the reply itself
        names = {"zero-shot": {"kind": "zero-shot"}, "few-shot 2": {"kind": "few-shot", "shots": 2},
                 "few-shot 4": {"kind": "few-shot", "shots": 4}}
    elif task.kind == "qa":
        names = {"zero-shot": {"kind": "zero-shot"},
                 "RAG top-3": {"kind": "rag", "top_k": 3}, "RAG top-1": {"kind": "rag", "top_k": 1}}
    else:
        names = {"zero-shot": {"kind": "zero-shot"}, "few-shot 4": {"kind": "few-shot", "shots": 4},
                 "chain-of-thought": {"kind": "cot"}}
    return {name: {"name": name, **spec} for name, spec in names.items()}


def tuned_variant_names(runs: list) -> dict[str, str]:
    """A variant name for each chosen run (by id): "tuned <its name>", or its id where it has
    no name or shares its name with another chosen run (variant names must differ)."""
    names = [run.name for run in runs]
    return {run.id: f"tuned {run.name if run.name and names.count(run.name) == 1 else run.id}"
            for run in runs}


def _clock(seconds: float | None) -> str:
    seconds = int(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _open_results(comparison_id: str) -> None:
    """Button callback: show this comparison in the Results tab (before the widgets exist)."""
    st.session_state["cmp_selected"] = comparison_id
    st.session_state["cmp_tab"] = "Results"


def _finished(comparison: Comparison) -> None:
    """How a started comparison ended, with the way to its results."""
    took = f"{comparison.total} variant(s) in {_clock(comparison.elapsed_s)}"
    if comparison.status == "succeeded":
        st.success(f"Finished: comparison {comparison.id}, {took}. Its verdict, charts and "
                   "report are in the Results tab.", icon=":material/check_circle:")
        st.button("Show the results", type="primary", key="cmp_open", on_click=_open_results,
                  args=(comparison.id,))
    elif comparison.status == "cancelled":
        st.warning(f"Cancelled after {_clock(comparison.elapsed_s)}: comparison {comparison.id}.")
    else:
        st.error(f"Comparison {comparison.id} {comparison.status} after "
                 f"{_clock(comparison.elapsed_s)}: {ended_why(comparison)}")


def ended_why(comparison: Comparison) -> str:
    """Why a comparison failed, crashed or is damaged, and the fix, as Markdown: its problem
    text may quote a variant's or a run's name, which shows as typed (never a link or image)."""
    said = plain(comparison.problem or "see its log.txt")
    return said + (f"\n\n**Fix:** {plain(comparison.fix)}" if comparison.fix else "")


def show_progress(comparison: Comparison) -> None:
    """A live comparison's bar: variant, example within it, and time elapsed."""
    step = min(comparison.done + 1, comparison.total)
    examples = f" · example {comparison.examples_done} of {comparison.examples}" \
        if comparison.examples else ""
    st.progress(comparison.fraction,
                f"{comparison.status.capitalize()}: variant {step} of {comparison.total}"
                f"{' · ' + plain(comparison.current) if comparison.current else ''}{examples} · "
                f"{_clock(comparison.elapsed_s)} elapsed")


@st.fragment(run_every=2)
def _live_progress(comparison_id: str) -> None:
    comparison = get_comparison(comparison_id)
    if not comparison.live:  # draw the finish once, outside this two-second loop
        st.rerun(scope="app")
    show_progress(comparison)
    st.caption("It runs in its own process: closing this tab loses nothing; the Results tab "
               "lists it too.")
    if (comparison.folder / "cancel").exists():
        st.caption("Cancelling after the current example…")
    elif st.button("Cancel", key="cmp_new_cancel"):
        cancel_comparison(comparison.id)
        st.caption("Cancelling after the current example…")


def follow_comparison(comparison_id: str) -> None:
    """The comparison started from this page: live progress while it runs, then how it ended
    and a button to its results, where the user pressed Run."""
    comparison = get_comparison(comparison_id)
    if comparison.live:
        _live_progress(comparison_id)
    else:
        _finished(comparison)


def show_version_warnings(config: CompareConfig) -> None:
    """Before Run: the task's version, and a warning for each chosen tuned run trained on
    another version of the task or on some of the test rows (with their count)."""
    task = load_task(config.task)
    held = len(load_split(task.name, "test"))
    rows = (f"the first {config.n_examples:,} test rows" if config.n_examples <= held else
            f"all {held:,} of its test rows ({config.n_examples:,} asked: it has no more)")
    st.caption(f"{plain(task_title(task.name))}: {short(task.fingerprint)}, {rows}.")
    for warning in check_warnings(comparison_checks(config)):
        st.warning(plain(warning), icon=":material/warning:")


def show_results(results: dict) -> None:
    """Verdict, metrics, charts, per-example table, when to use which, break-even, downloads."""
    st.caption(plain(task_line(results)))
    for warning in result_warnings(results):  # before any figure: they change its meaning
        st.warning(plain(warning), icon=":material/warning:")
    st.subheader("Verdict")
    # names in the verdict and notes are the user's (variants, runs, sets): shown as typed
    st.info(plain(verdict(results)))
    for note in notes(results):
        st.caption(plain(note))
    st.dataframe(metrics_table(results), hide_index=True, width="stretch")
    show_paired(results)
    review = reviews_by_people(results)  # people's blind ratings, when there are some
    metrics = metric_names(results)
    if metrics:
        chosen = st.selectbox("Metric", metrics, index=metrics.index(primary_metric(results)),
                              key="cmp_metric", format_func=metric_label)
        st.plotly_chart(metric_bars(results, chosen), key="cmp_bars")
    left, right = st.columns(2)
    left.plotly_chart(quality_vs_cost(results), key="cmp_cost")
    right.plotly_chart(quality_vs_examples(results), key="cmp_examples")
    figures = confusion_figures(results)
    if figures:
        with st.expander(f"Confusion matrices ({len(figures)})"):
            for i, figure in enumerate(figures):
                st.plotly_chart(figure, key=f"cmp_confusion_{i}")
    st.subheader("Per example")
    f1, f2 = st.columns(2)
    only_disagree = f1.toggle("Only where variants disagree", key="cmp_only_disagree")
    only_errors = f2.toggle("Only errors", key="cmp_only_errors")
    st.dataframe(disagreements(results, only_disagree, only_errors), hide_index=True, width="stretch")
    st.subheader("When to use which: this experiment's numbers")
    # a static table wraps its cells, as the report's does: a data grid cut them and hid
    # the RAG and fine-tuning columns off to the right
    st.table(when_to_use(results).map(plain))  # st.table renders Markdown in its cells
    st.markdown("**Break-even**: after how many queries a fine-tuned model's one-time training "
                "cost is paid back by its shorter prompts")
    missing = break_even_missing(results)
    if missing:
        st.info(plain(missing))
    else:
        st.dataframe(break_even_rows(results), hide_index=True, width="stretch")
    break_even_calculator(results)
    d1, d2 = st.columns(2)
    carried = {"pack": None, "summary": review} if review else None
    # made when clicked (about 2 s with its charts), not on every redraw of the page
    d1.download_button("Download the report (HTML, works offline)",
                       lambda: html_report(results, review=carried),
                       f"prompttune-report-{results.get('id', 'comparison')}.html", "text/html",
                       key="cmp_report", type="primary")
    d2.download_button("Per-example results (CSV)", results_csv(results),
                       f"prompttune-results-{results.get('id', 'comparison')}.csv", "text/csv",
                       key="cmp_csv")


def price_inputs() -> None:
    """The four price fields; each may be left empty (unknown, never a price of 0)."""
    st.markdown("**Prices** (leave empty when unknown: the cost columns then say so)")
    price_fields("cmp")


def show_paired(results: dict) -> None:
    """Each difference between two setups, taken example by example: the table, how to read
    it, and the same rows in words (nothing when fewer than two setups kept their answers)."""
    table = paired_table(results)
    if table.empty:
        return
    st.subheader("Paired differences")
    st.caption(plain(paired_caption(results)))
    # the verdict beside the names: the table is wide, and its last columns scroll off
    first = ["Leader", "Other", "Verdict"]
    st.dataframe(table[first + [c for c in table.columns if c not in first]], hide_index=True,
                 width="stretch",
                 column_config={"Difference": st.column_config.NumberColumn(format="%.2f")})
    with st.expander("The paired differences in words"):
        for sentence in paired_sentences(results):
            st.markdown(f"- {plain(sentence)}")


def break_even_calculator(results: dict) -> None:
    """Try other prices and training costs: the measured prompt lengths stay, the rest is yours."""
    working = [v for v in results["variants"] if not v.get("error") and v.get("prompt_tokens_mean")]
    tuned = [v for v in working if v["kind"] == "fine-tuned"]
    prompted = [v for v in working if v["kind"] != "fine-tuned"]
    if not tuned or not prompted:
        return
    with st.expander("Break-even calculator: your prices, this experiment's prompt lengths"):
        c1, c2 = st.columns(2)
        base = c1.selectbox("Prompted variant", [v["name"] for v in prompted], key="cmp_be_base")
        tuned_name = c2.selectbox("Fine-tuned variant", [v["name"] for v in tuned], key="cmp_be_tuned")
        b = next(v for v in prompted if v["name"] == base)
        t = next(v for v in tuned if v["name"] == tuned_name)
        c3, c4 = st.columns(2)
        price = c3.number_input("$ per 1M prompt tokens", 0.0, 1000.0,
                                value=float(results["prices"].get("input_per_million") or 0.10),
                                format="%.4f", key="cmp_be_price")
        cost = c4.number_input("Training cost, one time ($)", 0.0, 1e6,
                               value=float(t.get("training_cost") or 1.0), format="%.4f",
                               key="cmp_be_cost")
        queries = break_even(cost, b["prompt_tokens_mean"], t["prompt_tokens_mean"], price)
        saved = b["prompt_tokens_mean"] - t["prompt_tokens_mean"]
        if queries is None:
            st.warning(f"{plain(tuned_name)} never pays back against {plain(base)}: its prompts "
                       f"are not shorter ({saved:+.0f} tokens a query).")
        else:
            st.success(f"{plain(tuned_name)} saves {saved:.0f} prompt tokens a query against "
                       f"{plain(base)}; at \\${price:g} per million it pays back \\${cost:g} of "
                       f"training after **{queries:,.0f} queries**.")


FREE_COLUMNS = 4  # setups side by side in the Free-form tab; more wrap into further rows


def setup_engine(spec: ModelSpec):
    """The setup's model from the lab's engine shelf, loaded here under a spinner the first
    time (a ModelError says why it cannot load)."""
    check_spec(spec)
    if loaded_engine(spec) is not None:
        return loaded_engine(spec)
    try:
        with st.spinner(f"Loading {plain(model_title(spec), keep_format=True)}…"):
            return load_engine(spec)
    except LabError:
        raise
    except Exception as exc:  # last resort: a failure the core did not foresee
        raise unexpected_load_error(spec, exc) from exc


def _answer_column(task: Task, text: str, setup: Setup, seed: int) -> None:
    """One setup's column: its name and parts, the exact prompt, the streamed answer (and the
    label Compare counts), tokens and time; or why it cannot answer."""
    head = st.empty()
    head.markdown(f"**{plain(setup.name)}**")
    calibrated = " · calibrated label scores" if setup.prompt.calibrate else ""
    st.caption(plain(setup.describe()) + calibrated)
    try:
        engine = setup_engine(setup.model.model_spec())
        prompt, _ = setup_prompt(setup, task, text, engine, seed)
        head.markdown(f"**{plain(setup.name)}** · {engine.count_tokens(prompt)} prompt tokens")
        with st.expander("The exact prompt"):
            st.code(prompt, language=None, wrap_lines=True)
        box, written = st.empty(), []

        def show(chunk: str) -> None:
            written.append(chunk)
            box.code("".join(written) + "▌", language=None, wrap_lines=True)

        answer = answer_one(setup, task, text, engine, show, seed)
        box.code(answer.text or " ", language=None, wrap_lines=True)
    except LabError as exc:  # a run deleted since, a collection gone: the others still answer
        show_error(exc)
        return
    if answer.label is not None:
        st.markdown(f"Label Compare counts: **{plain(answer.label)}**"
                    + (" (calibrated)" if answer.calibrated else ""))
    elif setup.prompt.technique == "react":
        final = "none (the step limit ended it)" if answer.prediction is None \
            else f"**{plain(str(answer.prediction))}**"
        st.markdown(f"Final answer: {final}")
    st.caption(f"{answer.completion_tokens} tokens · {answer.seconds:.2f} s")


def free_form(task: Task, text: str, setups: list[Setup], seed: int = 0) -> None:
    """One input through every setup of the comparison, each answering in its own column
    (rows of four), streaming; the prompts are the ones the comparison would score."""
    if not setups:
        st.warning("No setup to ask: pick quick setups or add one in the New comparison tab.")
        return
    if not text.strip():
        st.warning("The input is empty: type something for the setups to answer.")
        return
    for start in range(0, len(setups), FREE_COLUMNS):
        for column, setup in zip(st.columns(FREE_COLUMNS), setups[start:start + FREE_COLUMNS]):
            with column:
                _answer_column(task, text, setup, seed)
