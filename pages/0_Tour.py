"""Tour: the 10-minute lesson, step by step, each step one click on the real lab."""

import streamlit as st

from core import tour
from core.errors import LabError
from ui.controls import init_state
from ui.engine import show_error
from ui.sidebar import render_sidebar
from ui.tour import (STATE, compare_step, few_shot_step, overview, presenter_script, report_step,
                     restore, status, step_header, training_step, zero_shot_step)
from ui.tour_task import intro, just_picked, lesson, picker, steps, task

# an emoji icon is drawn in the browser; a :material: one is fetched from fonts.gstatic.com
st.set_page_config(page_title="Tour · PromptTune Lab", page_icon="🎓", layout="wide")
engine = render_sidebar()
st.title(":material/school: The 10-minute lesson")
init_state(STATE)
picker()
try:
    lesson_task = lesson()
except LabError as exc:  # a task changed or damaged since the picker listed it
    show_error(exc)
    st.stop()
st.caption(intro(lesson_task))
presenter_script()

restore()  # every render: what the lab holds decides what is done, in any tab or session
top = st.columns([5, 1])
# the strip and the step headers are drawn first from the picked task's state (a browser keeps
# showing the last render's until they are redrawn: after a pick, the other task's times), and
# again last, so a step done by this click counts at once
overview_box = top[0].empty()
before, shown = status(), steps(lesson_task)
with overview_box.container():
    overview(before, shown, estimate=not just_picked())
if top[1].button("Start over", key="tour_reset", help="Earlier runs and comparisons stay in the "
                 "lab; the tour stops counting them and forgets its checks and few-shot set "
                 "(of this task only)."):
    tour.start_over(task())
    st.session_state.update({k: v for k, v in STATE.items() if k != "tour_task"})
    st.rerun()

headers = {}
for number, draw in ((1, lambda: zero_shot_step(engine)), (2, lambda: few_shot_step(engine)),
                     (3, training_step), (4, compare_step), (5, report_step)):
    with st.container(border=True, key=f"tour_step_{number}"):
        headers[number] = st.empty()
        with headers[number].container():
            step_header(shown[number - 1], before[number])
        draw()
done, shown = status(), steps(lesson_task)
for step in shown:
    with headers[step.number].container():
        step_header(step, done[step.number])
with overview_box.container():
    overview(done, shown)
