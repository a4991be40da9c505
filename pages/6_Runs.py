"""Runs: every training run, and the chosen one live: curves, progress, actions, outputs.

Everything here is read from the run folders and the runs index, so the view is the same
after a refresh, a closed tab or an app restart.
"""

import json

import streamlit as st

from core.errors import LabError
from core.runs import (FINAL, LIVE, cancel_run, delete_run, index_problem, list_runs,
                       resume_run, speed_warning, zip_run)
from core.task_versions import run_data_line
from ui.controls import init_state, plain
from ui.engine import show_error
from ui.navigate import arrival, open_page
from ui.sidebar import render_sidebar
from ui.training import (cancelling_note, loss_chart, metrics_frame, output_folder, poll_events,
                         progress_row, refreshed, run_label, run_setup_line, runs_frame)

st.set_page_config(page_title="Runs · PromptTune Lab", page_icon="📋",
                   layout="wide")
render_sidebar()
st.title(":material/list_alt: Runs")
st.caption("Each run trains in its own process and writes into its folder; this page only reads "
           "them. One run trains at a time: the others wait in line.")

runs = list_runs()
index_trouble = index_problem()
if index_trouble is not None:  # the list is still whole: it comes from the run folders
    st.warning(f"**{plain(index_trouble.problem, keep_format=True)}**\n\n**Fix:** "
               f"{plain(index_trouble.fix, keep_format=True)}", icon=":material/warning:")
if not runs:
    st.info("No training runs yet.", icon=":material/info:")
    st.page_link("pages/5_Train.py", label="Start one on the Train page",
                 icon=":material/model_training:")
    st.stop()

st.dataframe(runs_frame(runs), hide_index=True, width="stretch",
             column_config={"status": st.column_config.TextColumn("status", width="medium")})
ids = [run.id for run in runs]
init_state({"runs_selected": ids[0]})
sent = arrival("runs").get("run")  # a run another page sent the user to (Train, the Tour)
if sent:
    st.session_state["runs_selected"] = sent
if st.session_state["runs_selected"] not in ids:  # deleted, or from another lab folder
    st.session_state["runs_selected"] = ids[0]
by_id = {run.id: run for run in runs}
st.selectbox("Run", ids, key="runs_selected", format_func=lambda i: run_label(by_id[i]))
run = by_id[st.session_state["runs_selected"]]


def live_view(run_id: str, shown_status: str) -> None:
    """Status, progress and curves, polled every 2 s while the run is queued or running."""
    current = refreshed(run_id, shown_status)
    if current is None:
        return
    if current.status == "queued":
        st.info(f"Queued: #{current.queue_position or '?'} in line. It starts when the runs "
                "before it finish.", icon=":material/hourglass_top:")
    elif current.cancelling:
        st.warning(cancelling_note(poll_events(current)), icon=":material/hourglass_top:")
    elif current.status == "running":
        st.info("Training...", icon=":material/model_training:")
    elif current.finished_despite_cancel:
        st.success("Finished: the cancel arrived with its last step already done, so the run "
                   "completed (evaluation included).", icon=":material/check_circle:")
    elif current.status == "succeeded":
        st.success("Finished.", icon=":material/check_circle:")
    elif current.status == "cancelled":
        st.warning("Cancelled" + (": the adapter saved at the stop is in the outputs."
                                  if current.metrics else "."), icon=":material/cancel:")
    if current.problem:
        show_error(LabError(f"{current.status.capitalize()}: {current.problem}", current.fix))
    events = poll_events(current)
    for warning in (e for e in events if e.get("type") == "warning"):
        st.warning(plain(warning.get("message", ""), keep_format=True), icon=":material/warning:")
    setup = run_setup_line(events)
    if setup:
        st.caption(plain(setup, keep_format=True))
    if current.status == "running":  # queued: the line above says where it waits
        progress_row(events)
        slow = speed_warning(events)
        if slow:
            st.warning(slow, icon=":material/speed:")
    loss_chart(events, key=f"runs_loss_{run_id}")


st.subheader(f"Run {plain(run.name or run.id)}")
if run.name:
    st.caption(f"id {run.id}")
st.caption(plain(run_data_line(run)))  # the task version and rows it trained on, for Compare
st.fragment(run_every=2 if run.status in LIVE else None)(live_view)(
    run.id, "cancelling" if run.cancelling else run.status)

# actions: chosen by the status at this rerun; the live view reruns the page when it changes
row = st.container(horizontal=True)
try:
    if run.cancelling:  # asked already: say so where it was pressed, and not twice
        row.button("Cancelling after this step...", key="runs_cancel", disabled=True)
    elif run.status in LIVE and row.button("Cancel", key="runs_cancel",
                                            help="Stops after the current step; keeps the adapter."):
        cancel_run(run.id)
        st.rerun()
    resumable = run.status in ("crashed", "cancelled", "failed") and run.has_checkpoint
    if resumable and row.button("Resume", key="runs_resume",
                                 help="From the last checkpoint."):
        resume_run(run.id)
        st.rerun()
    if run.status in FINAL and row.button("Delete", key="runs_delete"):
        st.session_state["runs_confirm_delete"] = run.id  # asked below, before anything goes
    done = run.status in ("succeeded", "cancelled") and output_folder(run).is_dir()
    if done:
        row.download_button("Download zip", zip_run(run.id), file_name=f"{run.id}.zip",
                             mime="application/zip", key="runs_zip")
        if row.button("Use in Playground", key="runs_use", type="primary"):
            open_page("playground", run=run.id)
    if st.session_state.get("runs_confirm_delete") == run.id:
        st.warning(f"Delete run {plain(run.name or run.id)} with its folder (adapter, checkpoints, "
                   "events, log)? This cannot be undone.", icon=":material/delete:")
        confirm = st.container(horizontal=True)
        if confirm.button("Delete for good", key="runs_delete_confirm", type="primary"):
            delete_run(run.id)
            st.session_state.pop("runs_selected", None)
            st.session_state.pop("runs_confirm_delete", None)
            st.toast(f"Deleted run {plain(run.name or run.id)}.", icon=":material/delete:")
            st.rerun()
        if confirm.button("Keep it", key="runs_delete_keep"):
            st.session_state.pop("runs_confirm_delete", None)
            st.rerun()
except LabError as exc:
    show_error(exc)

st.subheader("Outputs")
left, right = st.columns(2)
with left:
    folder = output_folder(run)
    st.markdown(f"**{'Model' if run.method == 'full' else 'Adapter'} folder**")
    if not folder.is_dir():
        st.caption("Not written yet: it appears when the run finishes or is cancelled.")
    st.code(str(folder), language=None, wrap_lines=True)
    if folder.is_dir() and run.method != "full":
        st.caption("A standard PEFT adapter: `PeftModel.from_pretrained(base, folder)`.")
    template = run.run_dir / "template.json"
    if template.exists():
        st.markdown("**Template** (how to prompt the tuned model)")
        try:
            st.code(json.loads(template.read_text(encoding="utf-8")).get("template", ""),
                    language=None)
        except (OSError, ValueError, AttributeError) as exc:  # damaged: the rest still shows
            st.warning(f"template.json in the run folder cannot be read: {plain(str(exc))}",
                       icon=":material/warning:")
with right:
    if run.metrics:
        st.markdown("**Metrics**")
        st.dataframe(metrics_frame(run.metrics), hide_index=True, width="stretch")
        with st.expander("metrics.json"):
            st.json(run.metrics)
    with st.expander("Config"):
        st.json(run.config)
