"""What the Playground opens on when another page sends the user to it (``ui.navigate``):
an answer from History as it was asked, a training run's model, a task with a technique.

``receive`` is called once at the top of the Playground, before the sidebar and the editor
are drawn, so it may set both their widgets.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from core.config import ModelSpec
from core.errors import LabError
from ui.playground import MODE_KEYS, apply_task


def receive(request: dict[str, Any]) -> None:
    """Set the Playground's widgets from what it was asked to show: ``history_entry`` (an id),
    ``run`` (a training run id), ``task`` with ``technique``, ``input``, ``fewshot_set``,
    ``k``, or ``setup`` (a saved setup's name). Notes on what could not be restored are shown
    by the page."""
    if not request:
        return
    st.session_state.pop("play_last", None)
    if "history_entry" in request:
        _reopen_entry(request["history_entry"])
    elif "run" in request:
        _open_run(request["run"])
    elif "task" in request:
        _open_task(request)
    elif "setup" in request:
        _open_setup(request["setup"])


def _open_setup(name: str) -> None:
    """A saved setup: its technique and settings in the editor, its model in the sidebar, its
    generation settings on the right; the task stays the one picked."""
    from core.playground import view_of
    from core.setups import load_setup
    from ui.controls import preset_generation
    from ui.sidebar import use_model

    try:
        view, notes = view_of(load_setup(name))
    except LabError as exc:
        st.session_state["play_notice"] = f"{exc.problem} {exc.fix or ''}"
        return
    st.session_state.update({
        "play_mode": view.technique, "play_system": view.system, "play_k": view.k or 64,  # 0: all of the set
        "play_constrained": view.constrained, "play_rag_k": view.top_k,
        "play_rag_template": view.rag_template, "play_steps": view.max_steps})
    if view.fewshot_set:
        st.session_state["play_set"] = view.fewshot_set
    if view.collection:
        st.session_state["play_collection"] = view.collection
    if view.generation is not None:
        clamped = preset_generation("play", view.generation)
        if clamped:
            notes.append("Some of its settings are beyond the Playground's controls and were "
                         "clamped: " + ", ".join(clamped))
    use_model(view.model)
    st.session_state["play_reopened"] = f"Opened setup {name}: {view.technique}, with its model."
    st.session_state["play_notice"] = " ".join(notes) or None


def _open_task(request: dict[str, Any]) -> None:
    """A task with a technique (the Tour's steps, the Tasks page's "Use it in Playground"):
    the task's instruction, template and first input, then the input and set asked for."""
    from core.tasks import load_task

    state = st.session_state
    try:
        task = load_task(request["task"])
    except LabError as exc:
        state["play_notice"] = f"{exc.problem} {exc.fix or ''}"
        return
    state["play_mode"] = request.get("technique") or (
        "Structured output" if task.schema else "Zero-shot")
    state["play_task"] = task.name
    state.pop("play_task_before_structured", None)
    apply_task()
    if request.get("input"):
        state["play_input"] = request["input"]
    if request.get("fewshot_set"):
        state["play_set"] = request["fewshot_set"]
    if request.get("k"):
        state["play_k"] = int(request["k"])


def _open_run(run_id: str) -> None:
    """A training run's adapter (or full model) becomes the sidebar's model, and the editor
    gets a prompt in the format it was trained on (a test example of its task)."""
    from core.runs import get_run
    from ui.engine import current_spec
    from ui.sidebar import use_model
    from ui.training import spec_for, trained_prompt

    try:
        run = get_run(run_id)
    except LabError as exc:
        st.session_state["play_notice"] = f"{exc.problem} {exc.fix or ''}"
        return
    prompt = trained_prompt(run)
    if prompt:
        st.session_state.update(play_mode="Free text", play_prompt=prompt)
    tuned = spec_for(run)
    use_model(replace(current_spec(), source=tuned.source, adapter=tuned.adapter))


def _reopen_entry(entry_id: int) -> None:
    """Put an answer's technique, task, fields, settings and model back as they were, and
    leave notes on what could not be restored or differs."""
    from core.history import get_generation

    try:
        entry = get_generation(int(entry_id))
    except LabError as exc:
        st.session_state["play_notice"] = f"{exc.problem} {exc.fix or ''}"
        return
    if entry is None:
        st.session_state["play_notice"] = f"History entry #{entry_id} was deleted meanwhile."
        return
    reopen(entry)


def reopen(entry) -> None:
    """The widgets of History entry ``entry`` as it was asked; ``play_reopened`` says what was
    reopened and ``play_notice`` what differs."""
    from core.fewshot import list_sets
    from ui.controls import preset_generation

    setup, notes = entry.setup, []
    mode = (setup or {}).get("technique")
    if mode not in MODE_KEYS:
        setup = None
    elif mode == "Few-shot" and setup["fields"].get("play_set") not in list_sets():
        notes.append(f"The few-shot set {setup['fields'].get('play_set')!r} it used is gone: the "
                     "answer opens as free text with its exact prompt.")
        setup = None
    if setup is None:
        if not notes:
            notes.append("This answer was saved before the lab kept how it was asked for (or by "
                         "the CLI): it opens as free text with its exact prompt; its technique "
                         "and task are not known.")
        st.session_state.update({"play_mode": "Free text", "play_prompt": entry.prompt})
    else:
        st.session_state.update({**setup["fields"], "play_mode": mode})
        st.session_state.pop("play_task_before_structured", None)
    if mode != "ReAct" or setup is None:  # ReAct's steps use fixed settings, not the widgets'
        clamped = preset_generation("play", entry.generation_params)
        if clamped:
            notes.append("Some saved settings are beyond the Playground's controls and were "
                         "clamped: " + ", ".join(clamped))
        if setup is not None:
            st.session_state["play_stops"] = "\n".join(
                s.replace("\n", "\\n") for s in setup.get("user_stops", []))
    notes += _restore_model(entry, (setup or {}).get("model"))
    st.session_state["play_reopened"] = (
        f"Reopened History entry #{entry.id}: " + (f"{mode}, task {setup['task']}" if setup and
                                                   setup.get("task") else mode or "free text")
        + ", with its settings.")
    st.session_state["play_notice"] = " ".join(notes) or None


def _restore_model(entry, saved: dict | None) -> list[str]:
    """Switch the sidebar's model to the one that wrote the answer; notes on what differs."""
    from ui.engine import current_spec
    from ui.sidebar import use_model

    current = current_spec()
    if saved is None:
        return [] if entry.model == current.source else [
            f"It was answered by {entry.model} ({entry.engine}); the Playground's model is "
            f"{current.source}: pick {entry.model} in the sidebar to redo it."]
    try:
        spec = ModelSpec(**saved)
    except (TypeError, LabError):
        return [f"Its model ({entry.model}) could not be restored: pick it in the sidebar."]
    wanted = replace(current, source=spec.source, engine=spec.engine, adapter=spec.adapter)
    if wanted == current:
        return []
    use_model(wanted)
    return [f"The model is switched back to {spec.source} on {spec.engine}"
            + (f" with adapter {spec.adapter}" if spec.adapter else "")
            + f", which wrote this answer (it was {current.source} on {current.engine})."]
