"""Advisor: prompt, fine-tune or retrieve? A sweep of few-shot prompts and LoRA runs on more and
more training rows, measured on the same test examples, and the answer for this task."""

import streamlit as st

from core.advice_job import list_advice, start_advice
from core.compare import EXAMPLE_PRICES
from core.errors import LabError
from core.tasks import list_tasks, task_title
from ui.advisor import BUDGETS, LIVE, config_from_state, job_label, job_view, planned, show_plan
from ui.controls import init_state, price_fields
from ui.engine import current_spec, show_error
from ui.navigate import arrival
from ui.sidebar import render_sidebar

# an emoji page icon: a ':material/' one is fetched from the network, which the lab never asks
st.set_page_config(page_title="Advisor · PromptTune Lab", page_icon="🧭", layout="wide")
render_sidebar()
st.title(":material/explore: Advisor")
st.caption("Prompt it, fine-tune it, or feed it documents? For one task, the advisor measures "
           "few-shot prompts (k = 0, 1, 2, 4, 8) and LoRA models trained on more and more of "
           "your rows on the same test examples, draws quality against labelled examples, and "
           "says which to use and how many rows fine-tuning needs to beat your best prompt.")


def advanced() -> None:
    """Test examples, shots, rows, repeats, hybrids, model and prices: empty counts follow the
    budget."""
    with st.expander("Advanced"):
        a, b, c = st.columns(3)
        a.number_input("Test examples", 5, 500, None, key="adv_n", placeholder="by budget",
                       help="The first N test rows, the same for every point. Empty: 60 for "
                            "quick, 150 for thorough, all (up to 500) without a limit.")
        b.text_input("Shots (few-shot k)", key="adv_shots",
                     help="Examples in the prompt; those that do not fit the context are left out.")
        c.text_input("Training rows", key="adv_rows",
                     help="LoRA trained on the first n training rows; 'all' is every row.")
        d, e, f = st.columns(3)
        d.number_input("Repeats (seeds and draws)", 1, 10, None, key="adv_seeds",
                       placeholder="by budget",
                       help="Tuned points trained again with other seeds, shot points drawn "
                            "again, so the spread shows. Empty: 1 for quick, 3 otherwise.")
        e.text_input("Model", key="adv_model", help="The model the sweep prompts and tunes.")
        f.toggle("Hybrids (tuned model + shots or retrieval)", key="adv_hybrids")
        price_inputs()


def price_inputs() -> None:
    """The prices cost and break-even are figured at, as on Compare: the lab's example prices
    to start from; each may be left empty (unknown, never a price of 0)."""
    st.markdown("**Prices** for the cost per 1,000 queries and the break-even (leave empty "
                "when unknown: the advice then says so). Changing them runs nothing again: "
                "finished points are reused and priced anew.")
    price_fields("adv")


def new_advice() -> None:
    """Task, budget, the advanced choices, the plan with its ETA, and Start."""
    tasks = list_tasks()
    if st.session_state["adv_task"] not in tasks:  # a task of yours deleted meanwhile
        st.session_state["adv_task"] = tasks[0]
    st.selectbox("Task", tasks, key="adv_task", format_func=task_title)
    st.radio("Time budget", list(BUDGETS), key="adv_budget", horizontal=True)
    if st.session_state["adv_budget"] == "Custom":
        st.text_input("Custom budget", key="adv_custom", placeholder="minutes, or 90s, 1.5h",
                      help="A bare number is minutes; between 1 minute and 24 hours.")
    advanced()
    spec = current_spec()
    engine = spec.engine if st.session_state["adv_model"].strip() == spec.source else "auto"
    try:
        config = config_from_state(engine)
        show_plan(planned(config))
    except LabError as exc:  # a bad budget, a list that cannot be read, a task without rows
        show_error(exc)
        return
    if st.button("Start", type="primary", key="adv_start"):
        try:
            st.session_state["adv_go"] = start_advice(config)
            st.rerun()
        except LabError as exc:
            show_error(exc)


def past_advice() -> None:
    """Every advice job, newest first; the chosen one live, finished, or resumable."""
    jobs = list_advice()  # newest first
    if not jobs:
        st.info("No advice yet: choose a task and a budget in the first tab and press Start, "
                "or run `python -m core advise TASK --budget 10m`.")
        return
    by_id = {job.id: job for job in jobs}
    if st.session_state["adv_selected"] not in by_id:  # deleted, or from another data folder
        st.session_state["adv_selected"] = jobs[0].id
    st.selectbox("Advice", list(by_id), key="adv_selected",
                 format_func=lambda i: job_label(by_id[i]))
    st.query_params["advice"] = st.session_state["adv_selected"]  # a reload reopens it
    try:
        job_view(st.session_state["adv_selected"])
    except LabError as exc:  # deleted meanwhile, its advice damaged
        show_error(exc)


def opening(asked: dict) -> None:
    """What to show on arrival: a started advice; what another page asked for (``task`` on the
    New advice tab, ``advice`` opened: ui.navigate); else, once a session, the advice in the
    address or the latest live one."""
    state = st.session_state
    started = state.pop("adv_go", None)
    if started:
        state["adv_selected"], state["adv_tab"] = started, "Advice"
        return
    if asked.get("task") or asked.get("advice"):  # a request wins over the address and live
        state["adv_opened"] = True
        if asked.get("task"):
            state["adv_task"], state["adv_tab"] = asked["task"], "New advice"
        if asked.get("advice"):
            state["adv_selected"], state["adv_tab"] = asked["advice"], "Advice"
        return
    if "adv_opened" in state:
        return
    state["adv_opened"] = True
    asked = st.query_params.get("advice")
    live = [j for j in list_advice() if j.status in LIVE]  # newest first
    if asked or live:
        state["adv_selected"], state["adv_tab"] = asked or live[0].id, "Advice"


init_state({"adv_task": "review-sentiment", "adv_budget": next(iter(BUDGETS)), "adv_custom": "",
            "adv_n": None, "adv_shots": "0, 1, 2, 4, 8", "adv_rows": "25, 50, 100, 200, all",
            "adv_seeds": None, "adv_hybrids": True, "adv_model": current_spec().source,
            "adv_selected": None, "adv_price_in": EXAMPLE_PRICES.input_per_million,
            "adv_price_out": EXAMPLE_PRICES.output_per_million,
            "adv_gpu_hour": EXAMPLE_PRICES.gpu_hour, "adv_cpu_hour": EXAMPLE_PRICES.cpu_hour})
opening(arrival("advisor"))  # what another page sent the user here to see
new_tab, advice_tab = st.tabs(["New advice", "Advice"], key="adv_tab", on_change="rerun")
with advice_tab:  # drawn first: a reopened tab shows its advice while the other tab still
    past_advice()  # plans (timing the model takes seconds to minutes on a busy machine)
with new_tab:
    new_advice()
