"""Tour: the 10-minute lesson, step by step, each step one click on the real lab."""

import streamlit as st

from core import tour
from ui.controls import init_state
from ui.sidebar import render_sidebar
from ui.tour import (STATE, compare_step, few_shot_step, overview, presenter_script, report_step,
                     restore, status, step_header, training_step, zero_shot_step)

# an emoji icon is drawn in the browser; a :material: one is fetched from fonts.gstatic.com
st.set_page_config(page_title="Tour · PromptTune Lab", page_icon="🎓", layout="wide")
engine = render_sidebar()
st.title(":material/school: The 10-minute lesson")
st.caption("Prompt it or fine-tune it? Five steps on a sample task, three-label review sentiment "
           "(POSITIVE / NEGATIVE / MIXED), with the embedded Gemma 3 270M on this machine's CPU. "
           "Each step is one click on the real lab. Learning alone? Follow the steps; the "
           "presenter's notes under each are what a teacher says.")
presenter_script()

init_state(STATE)
restore()  # every render: what the lab holds decides what is done, in any tab or session
top = st.columns([5, 1])
overview_box = top[0].container()  # filled last, so a step done by this click counts at once
if top[1].button("Start over", key="tour_reset", help="Earlier runs and comparisons stay in the "
                 "lab; the tour stops counting them and forgets its checks and few-shot set."):
    tour.start_over()
    st.session_state.update(STATE)
    st.rerun()

done = status()
steps = {s.number: s for s in tour.STEPS}
for number, draw in ((1, lambda: zero_shot_step(engine)), (2, lambda: few_shot_step(engine)),
                     (3, training_step), (4, compare_step), (5, report_step)):
    with st.container(border=True, key=f"tour_step_{number}"):
        step_header(steps[number], done[number])
        draw()
with overview_box:
    overview(status())
