"""The Playground's answer: generate it through ``core.answers.answer_prompt`` (streamed,
scored, judged, recorded), and draw the last one with its readings and figures."""

from __future__ import annotations

import streamlit as st

from core.answers import Answer, answer_prompt, read_answer
from core.config import GenerationParams
from core.errors import LabError
from core.react import ReActConfig
from core.reference import Reference, find_reference, judge, tasks_of
from ui.controls import figures_row, plain
from ui.engine import current_spec, show_error
from ui.play_editor import Shown
from ui.playground import (answer_box, empty_answer, label_scores, playground_setup, react_speeds,
                           reference_box, run_react_steps, show_check, show_citations,
                           show_react_step)

SCORED = ("Zero-shot", "Few-shot", "System prompt")


def reference_for(mode: str) -> Reference | None:
    """The task example the current input is, if any (ReAct and RAG: a sample question); a
    damaged task of the user's among those searched: none."""
    state = st.session_state
    try:
        if mode == "ReAct":
            return find_reference(state["play_question"],
                                  tasks_of(("numeric", "qa"), state["play_collection"]))
        if mode == "RAG":
            return find_reference(state["play_rag_question"],
                                  tasks_of(("qa",), state["play_collection"]))
        if mode == "Free text":
            return None
        return find_reference(state["play_input"], [state["play_task"]])
    except LabError:
        return None


def generate(mode: str, engine, shown: Shown, raw_params: dict) -> None:
    """Answer what the editor shows; the answer streams here and is kept as ``play_last``."""
    state = st.session_state
    state.pop("play_last", None)
    setup = playground_setup(mode, shown.recipe, current_spec(), raw_params["stop"])
    reference = reference_for(mode)
    try:
        if mode == "ReAct":
            result = run_react_steps(engine, state["play_question"],
                                     ReActConfig(max_steps=int(state["play_steps"]),
                                                 collection=state["play_collection"]), setup)
            state["play_last"] = {"mode": mode, "react": result, "reference": reference}
            return
        params = GenerationParams.from_dict({
            **raw_params, "stop": raw_params["stop"] + list(shown.stops),
            "json_schema": shown.schema if mode == "Structured output"
            and state["play_constrained"] else None})
        st.markdown("**Answer**")
        box, show = _live_box()
        answer = answer_prompt(engine, shown.prompt, params, labels=shown.labels,
                               reading=_reading(mode), reference=reference,
                               source=f"playground:{mode}", setup=setup, on_chunk=show)
        box.code(answer.completion.text or " ", language=None, wrap_lines=True)
        state["play_last"] = {"mode": mode, "answer": answer, "schema": shown.schema,
                              "stops": params.stop, "hits": shown.hits if mode == "RAG" else []}
        if answer.record_error is not None:  # the answer is shown anyway; only the record failed
            exc = answer.record_error
            st.warning("The answer was not saved to history: "
                       + plain(f"{exc.problem} {exc.fix or ''}", keep_format=True))
    except LabError as exc:
        show_error(exc)


def _reading(mode: str) -> str:
    return "reasoning" if mode == "Chain-of-thought" else "scored" if mode in SCORED else "plain"


def _live_box():
    """A callback that shows the answer as it streams, as plain text: exactly what the model
    wrote, with its spaces and newlines (markdown would swallow some of them)."""
    box, parts = st.empty(), []

    def show(chunk: str) -> None:
        parts.append(chunk)
        box.code("".join(parts) + "▌", language=None, wrap_lines=True)
    return box, show


def show_last(mode: str, just_run: bool) -> None:
    """The last answer of this technique, with its readings, checks, reference and figures
    (``just_run``: its text or steps were drawn already, as they came)."""
    last = st.session_state.get("play_last")
    if last is None or last["mode"] != mode:
        return
    if "react" in last:
        _show_react(last, just_run)
    else:
        _show_answer(last, just_run)


def _answer_of(last: dict) -> Answer:
    """The kept answer; one kept in the older flat shape (completion, labels, scores,
    reference) is read again the same way."""
    if "answer" in last:
        return last["answer"]
    completion, reference = last["completion"], last.get("reference")
    scores = tuple(last.get("scores") or ())
    readings = read_answer(completion.text, _reading(last["mode"]), tuple(last.get("labels", ())),
                           scores, reference)
    verdicts = tuple((what, judge(reference, said)) for what, said in readings) \
        if reference is not None else ()
    return Answer(completion, scores, readings, reference, verdicts)


def _show_answer(last: dict, just_run: bool) -> None:
    answer = _answer_of(last)
    completion = answer.completion
    if not just_run:  # just run: it streamed into its place above
        st.markdown("**Answer**")
        st.code(completion.text or " ", language=None, wrap_lines=True)
    empty_answer(completion, last.get("stops", ()))
    if last["mode"] == "Chain-of-thought":
        said = answer.readings[0][1]
        st.info(f"Final answer extracted from the reasoning: **{plain(said)}**" if said else
                "No final answer found in the reasoning (the model never wrote 'Answer: ...' "
                "nor a label).")
    elif answer.scores:
        label_scores(list(answer.scores), completion.text, completion.seed is not None)
    if last["mode"] == "Structured output" and last["schema"]:
        from core.prompting import check_structured

        show_check(check_structured(completion.text, last["schema"]), completion.finish_reason,
                   answer.all_right)
    if last.get("hits"):
        show_citations(completion.text, last["hits"])
    reference_box(answer.reference, list(answer.verdicts))
    figures_row(completion)


def _show_react(last: dict, just_run: bool) -> None:
    result, reference = last["react"], last.get("reference")
    if not just_run:
        for step in result.steps:
            show_react_step(step)
    if result.answer is not None:
        verdict = judge(reference, result.answer) if reference else None
        answer_box(f"Final answer: **{plain(result.answer)}**  ·  {len(result.steps)} steps, "
                   f"{result.prompt_tokens:,} prompt tokens, {result.completion_tokens} "
                   f"answer tokens, {result.latency_s:.1f} s", verdict)
        reference_box(reference, [("The final answer", verdict)] if verdict else [])
    else:
        st.warning(f"No answer within {len(result.steps)} steps: raise the step limit, or see in "
                   "the trace where the model went wrong.")
        reference_box(reference, [("The final answer", judge(reference, None))]
                      if reference else [])
    if result.steps:
        done = result.steps[-1].completion
        st.caption(f"{react_speeds(result)} · engine: {done.engine} · model: "
                   f"{plain(done.model, keep_format=True)} · every step is saved in History")
    with st.expander("The whole transcript the model read"):
        st.code(result.transcript, language=None, wrap_lines=True)
