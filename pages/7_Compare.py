"""Compare: the same examples through several variants; which is best, by how much, at what cost."""


import streamlit as st

from core.compare import CompareConfig, Prices, fitting_sets
from core.compare_runs import (cancel_comparison, get_comparison, list_comparisons, load_results,
                               start_comparison)
from core.errors import LabError
from core.fewshot import list_sets, load_set
from core.runs import list_runs
from core.tasks import list_tasks, load_task, task_title
from ui.compare import (ended_why, follow_comparison, free_form, show_progress, show_results,
                        show_version_warnings, tuned_variant_names, variant_choices)
from ui.controls import init_state
from ui.engine import current_spec, show_error
from ui.sidebar import render_sidebar
from ui.training import run_label

st.set_page_config(page_title="Compare · PromptTune Lab", page_icon="⚖️", layout="wide")
engine = render_sidebar()
st.title(":material/compare: Compare")
st.caption("Prompting, few-shot, chain-of-thought, RAG and fine-tuned variants on the same test "
           "examples with the same seed: quality with 95% intervals, tokens, latency and cost, "
           "and a report for people who have never heard of LoRA.")

init_state({"cmp_task": "review-sentiment", "cmp_n": 60, "cmp_seed": 0, "cmp_basic": ["zero-shot", "few-shot 4"],
            "cmp_sets": [], "cmp_runs": [], "cmp_price_in": 0.10, "cmp_price_out": 0.40,
            "cmp_gpu_hour": 1.20, "cmp_cpu_hour": 0.05, "cmp_selected": None, "cmp_free": "",
            "cmp_started": None})
new_tab, results_tab, free_tab = st.tabs(["New comparison", "Results", "Free-form"], key="cmp_tab",
                                         on_change="rerun")

with new_tab:
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
        task = load_task(st.session_state["cmp_task"])
    except LabError as exc:  # a damaged task of yours: say which and how to repair it
        show_error(exc)
        st.stop()
    runs = [r for r in list_runs() if r.has_outputs]
    basic = variant_choices(task)
    st.multiselect("Prompt variants", list(basic), key="cmp_basic")
    c1, c2 = st.columns(2)
    sets = fitting_sets(task)  # a set of bug/feature/question examples has no place here
    st.session_state["cmp_sets"] = [n for n in st.session_state["cmp_sets"] if n in sets]
    c1.multiselect("Saved few-shot sets", sets, key="cmp_sets",
                   help="Only sets whose answers are this task's labels are offered.")
    if len(sets) < len(list_sets()):
        c1.caption(f"{len(list_sets()) - len(sets)} saved set(s) hidden: their examples are "
                   f"not labelled for {task.title}.")
    by_id = {r.id: r for r in runs}
    c2.multiselect("Fine-tuned runs (same base model)", list(by_id), key="cmp_runs",
                   format_func=lambda i: f"{run_label(by_id[i])} · {by_id[i].data}" if i in by_id else i)
    st.markdown("**Prices** (leave empty when unknown: the cost columns then say so)")
    p1, p2, p3, p4 = st.columns(4)
    # value=None makes each field clearable: empty reads None, "unknown", never a price of 0
    p1.number_input("$ per 1M prompt tokens", 0.0, 1000.0, None, key="cmp_price_in", format="%.4f",
                    placeholder="unknown")
    p2.number_input("$ per 1M answer tokens", 0.0, 1000.0, None, key="cmp_price_out", format="%.4f",
                    placeholder="unknown")
    p3.number_input("$ per GPU-hour (training)", 0.0, 1000.0, None, key="cmp_gpu_hour",
                    placeholder="unknown")
    p4.number_input("$ per CPU-hour (training)", 0.0, 1000.0, None, key="cmp_cpu_hour",
                    placeholder="unknown")

    def chosen_config() -> CompareConfig:
        """The comparison the widgets describe (a ConfigError says what is missing)."""
        variants = [basic[name] for name in st.session_state["cmp_basic"]]
        variants += [{"name": f"set {name}", "kind": "few-shot", "fewshot_set": name,
                      "shots": min(len(load_set(name).examples), 64)}
                     for name in st.session_state["cmp_sets"]]
        variants += [{"name": name, "kind": "fine-tuned", "run_id": rid} for rid, name in
                     tuned_variant_names([by_id[i] for i in st.session_state["cmp_runs"]
                                          if i in by_id]).items()]
        return CompareConfig(task.name, tuple(variants), int(st.session_state["cmp_n"]),
                             int(st.session_state["cmp_seed"]), current_spec().source,
                             current_spec().engine,
                             Prices(st.session_state["cmp_price_in"], st.session_state["cmp_price_out"],
                                    st.session_state["cmp_gpu_hour"], st.session_state["cmp_cpu_hour"]))

    try:  # before Run: the task's version, and what the chosen tuned runs were trained on
        show_version_warnings(chosen_config())
    except LabError:  # nothing chosen yet, or a run gone: Run says why
        pass
    if st.button("Run comparison", type="primary", key="cmp_run"):
        try:
            st.session_state["cmp_selected"] = st.session_state["cmp_started"] = \
                start_comparison(chosen_config())
        except LabError as exc:
            show_error(exc)
    if st.session_state["cmp_started"]:
        try:
            follow_comparison(st.session_state["cmp_started"])
        except LabError:  # its folder is gone (another data folder): nothing left to follow
            st.session_state["cmp_started"] = None

with results_tab:
    past = list_comparisons()
    if not past:
        st.info("No comparison yet: start one in the first tab, or run `python -m core compare CONFIG.json`.")
    else:
        ids = [c.id for c in past]
        if st.session_state["cmp_selected"] not in ids:
            st.session_state["cmp_selected"] = ids[0]
        st.selectbox("Comparison", ids, key="cmp_selected", format_func=lambda i: next(
            f"{c.id} · {c.task} · {len(c.variants)} variants · {c.status}" for c in past if c.id == i))

        @st.fragment(run_every=2)
        def progress_view() -> None:
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

        try:
            progress_view()
            chosen = get_comparison(st.session_state["cmp_selected"])
            if chosen.status == "succeeded":
                show_results(load_results(chosen.id))
        except LabError as exc:  # deleted meanwhile, or its results damaged
            show_error(exc)

with free_tab:
    st.caption("One input, every selected prompt variant answering in its own column, streaming.")
    st.text_area("Input", key="cmp_free", height=80)
    if st.button("Ask all", key="cmp_free_run", disabled=engine is None):
        try:
            free_form(engine, load_task(st.session_state["cmp_task"]), st.session_state["cmp_free"],
                      [variant_choices(load_task(st.session_state["cmp_task"]))[n]
                       for n in st.session_state["cmp_basic"]], st.session_state["cmp_sets"])
        except LabError as exc:
            show_error(exc)
