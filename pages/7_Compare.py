"""Compare: the same examples through several setups (a model + a prompt technique +
retrieval, quick presets or built from their parts); which is best, by how much, at what cost;
and a blind review of their answers by people (and a judge model checked against them)."""


from collections.abc import Callable

import streamlit as st

from core.compare import CompareConfig
from core.compare_runs import (cancel_comparison, get_comparison, list_comparisons, load_results,
                               start_comparison)
from core.errors import LabError
from core.runs import list_runs
from core.tasks import Task, list_tasks, load_task, task_title
from ui.compare import (ended_why, follow_comparison, free_form, price_inputs, show_progress,
                        show_results, show_version_warnings, variant_choices)
from ui.controls import init_state
from ui.engine import current_spec, show_error
from ui.navigate import arrival
from ui.review import review_defaults, review_tab
from ui.setup_builder import (arrive, builder_defaults, chosen_config, draws_input,
                              listed_setups, quick_setups, setup_builder, show_rows)
from ui.sidebar import render_sidebar

st.set_page_config(page_title="Compare · PromptTune Lab", page_icon="⚖️", layout="wide")
render_sidebar()  # the sidebar; each setup loads its own model where it answers
st.title(":material/compare: Compare")
st.caption("Prompting, few-shot, chain-of-thought, RAG, fine-tuned runs and their hybrids (a "
           "tuned model with few-shot examples or retrieval) on the same test examples with the "
           "same seed: quality with 95% intervals, paired differences, tokens, latency and cost, "
           "and a report for people who have never heard of LoRA.")


def chosen_task() -> Task | None:
    """Task, number of examples and seed; the task loaded (None, with why, when damaged)."""
    tasks = list_tasks()
    left, middle, right = st.columns([2, 1, 1])
    if st.session_state["cmp_task"] not in tasks:  # a task of yours deleted meanwhile
        st.session_state["cmp_task"] = tasks[0]
    # task_title: the user's tasks read "(yours)", and a damaged one cannot break the picker
    left.selectbox("Task", tasks, key="cmp_task", format_func=task_title)
    middle.number_input("Test examples", 5, 2000, key="cmp_n",
                        help="The first N of the task's test split; ~60 run in a few minutes on a CPU.")
    right.number_input("Seed", 0, 10_000, key="cmp_seed")
    try:
        return load_task(st.session_state["cmp_task"])
    except LabError as exc:  # a damaged task of yours: say which and how to repair it
        show_error(exc)
        return None


def run_button(config: Callable[[], CompareConfig]) -> None:
    """The task's version and tuned-run warnings, Run, and the comparison started here."""
    try:  # before Run: the task's version, and what the chosen tuned runs were trained on
        show_version_warnings(config())
    except LabError:  # nothing chosen yet, or a run gone: Run says why
        pass
    if st.button("Run comparison", type="primary", key="cmp_run"):
        try:
            st.session_state["cmp_selected"] = st.session_state["cmp_started"] = \
                start_comparison(config())
        except LabError as exc:
            show_error(exc)
    if st.session_state["cmp_started"]:
        try:
            follow_comparison(st.session_state["cmp_started"])
        except LabError:  # its folder is gone (another data folder): nothing left to follow
            st.session_state["cmp_started"] = None


def new_comparison() -> None:
    """The setups to compare (quick ones, saved ones, built ones), draws, prices and Run."""
    task = chosen_task()
    if task is None:
        return
    runs = [r for r in list_runs() if r.has_outputs]
    by_id = {r.id: r for r in runs}
    presets = variant_choices(task)
    quick_setups(task, presets, by_id)
    rows, problems = listed_setups(task, presets, by_id, current_spec())
    setup_builder(task, current_spec(), runs, [row.setup.name for row in rows])
    show_rows(rows, problems)
    draws_input()
    price_inputs()
    run_button(lambda: chosen_config(task, rows, current_spec()))


@st.fragment(run_every=2)
def progress_view() -> None:
    """The selected comparison while it runs (redrawn every 2 s), or why it did not finish."""
    comparison = get_comparison(st.session_state["cmp_selected"])
    if comparison.status in ("queued", "running"):
        show_progress(comparison)
        if st.button("Cancel", key="cmp_cancel"):
            cancel_comparison(comparison.id)
    elif comparison.status != "succeeded":
        lead = "" if comparison.status == "damaged" else f"This comparison {comparison.status}: "
        st.error(lead + ended_why(comparison))  # a damaged one's problem says so itself
    elif st.session_state.get("cmp_shown") != comparison.id:
        st.session_state["cmp_shown"] = comparison.id
        st.rerun(scope="app")


def past_comparisons() -> None:
    """Pick a comparison; its progress, or its results when it succeeded."""
    past = list_comparisons()
    if not past:
        st.info("No comparison yet: start one in the first tab, or run `python -m core compare CONFIG.json`.")
        return
    ids = [c.id for c in past]
    if st.session_state["cmp_selected"] not in ids:
        st.session_state["cmp_selected"] = ids[0]
    st.selectbox("Comparison", ids, key="cmp_selected", format_func=lambda i: next(
        f"{c.id} · {c.task} · {len(c.variants)} setups · {c.status}" for c in past if c.id == i))
    try:
        progress_view()
        chosen = get_comparison(st.session_state["cmp_selected"])
        if chosen.status == "succeeded":
            show_results(load_results(chosen.id))
    except LabError as exc:  # deleted meanwhile, or its results damaged
        show_error(exc)


def free_form_columns() -> None:
    """One input through every setup in the comparison's list, side by side."""
    st.caption("One input, every setup in this comparison (quick presets, saved sets, runs, "
               "saved and built setups) answering in its own column, streaming: the prompt "
               "shown is the one the comparison scores.")
    st.text_area("Input", key="cmp_free", height=80)
    if st.button("Ask all", key="cmp_free_run"):
        try:
            task = load_task(st.session_state["cmp_task"])
            runs = {r.id: r for r in list_runs() if r.has_outputs}
            rows, problems = listed_setups(task, variant_choices(task), runs, current_spec())
            for exc in problems:  # a saved setup unreadable since: named, the rest answer
                show_error(exc)
            free_form(task, st.session_state["cmp_free"], [row.setup for row in rows],
                      int(st.session_state["cmp_seed"]))
        except LabError as exc:
            show_error(exc)


init_state({"cmp_task": "review-sentiment", "cmp_n": 60, "cmp_seed": 0, "cmp_basic": ["zero-shot", "few-shot 4"],
            "cmp_sets": [], "cmp_runs": [], "cmp_price_in": 0.10, "cmp_price_out": 0.40,
            "cmp_gpu_hour": 1.20, "cmp_cpu_hour": 0.05, "cmp_selected": None, "cmp_free": "",
            "cmp_started": None, **review_defaults(), **builder_defaults(current_spec())})
arrive(arrival("compare"))  # what another page sent the user here to see
new_tab, results_tab, free_tab, review_tab_ = st.tabs(
    ["New comparison", "Results", "Free-form", "Review"], key="cmp_tab", on_change="rerun")
with new_tab:
    new_comparison()
with results_tab:
    past_comparisons()
with free_tab:
    free_form_columns()
with review_tab_:
    review_tab()
