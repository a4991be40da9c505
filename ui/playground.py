"""Pieces of the Playground page: technique list, task presets, ReAct trace, answer checks."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core.errors import LabError
from core.generation import LabelScore
from core.knowledge import ensure_sample_collection, format_hits, search
from core.prompting import StructuredCheck, first_label, label_schema
from core.react import ReActConfig, ReActResult, ReActStep, react_steps
from core.reference import Reference, Verdict
from core.tasks import list_tasks, load_split, load_task
from ui.controls import plain

TECHNIQUES = {
    "Free text": ("Free text", "The model continues exactly what you type: no instruction, "
                  "no template."),
    "Zero-shot": ("Zero-shot", "An instruction and the input, no examples: what the model "
                  "does on its own."),
    "Few-shot": ("Few-shot", "Worked examples from a saved few-shot set, then the input: the "
                 "model copies the pattern."),
    "System prompt": ("System prompt", "A system text and the instruction, put through the "
                      "model's chat template (the lab's plain turn format where it has none)."),
    "Chain-of-thought": ("Chain-of-thought", "The model reasons step by step first; the lab "
                         "reads the final answer out of the reasoning."),
    "Structured output": ("Structured output", "JSON under a JSON Schema, validated with "
                          "jsonschema; constrained decoding makes every answer parse."),
    "RAG": ("RAG", "Passages retrieved from a document collection go in the prompt: the model "
            "answers from your documents and cites them as [n]."),
    "ReAct": ("ReAct", "Thought, action, observation: the model calls a real calculator and "
              "searches the sample handbook, step by step, until it answers."),
}


# the Playground's fields each technique reads: what History keeps to reopen an answer as it was
MODE_KEYS = {
    "Free text": ("play_prompt",),
    "Zero-shot": ("play_task", "play_instruction", "play_template", "play_input"),
    "Few-shot": ("play_task", "play_set", "play_k", "play_input"),
    "System prompt": ("play_task", "play_system", "play_instruction", "play_template", "play_input"),
    "Chain-of-thought": ("play_task", "play_instruction", "play_template", "play_input"),
    "Structured output": ("play_task", "play_instruction", "play_template", "play_input",
                          "play_schema", "play_constrained"),
    "RAG": ("play_collection", "play_rag_k", "play_rag_question", "play_rag_template"),
    "ReAct": ("play_collection", "play_steps", "play_question"),
}
STRUCTURED = "Structured output"
STRUCTURED_TOKENS = 160  # max new tokens structured output opens with, at least


def schema_tasks() -> list[str]:
    """The tasks made for structured output: those with a JSON Schema (a damaged task of the
    user's is none of them: it must not break the technique switch)."""
    names = []
    for name in list_tasks():
        try:
            if load_task(name).schema:
                names.append(name)
        except LabError:
            continue
    return names


def on_technique_change() -> None:
    """on_change of the technique: structured output opens on a task made for it (one with
    a schema); leaving it goes back to the task the user had, if it was switched for them."""
    mode, task = st.session_state["play_mode"], st.session_state.get("play_task")
    if mode == STRUCTURED and st.session_state.get("play_max_new", 0) < STRUCTURED_TOKENS:
        # a whole JSON object of the sample schema needs ~100-150 tokens: 64 cut it every time
        st.session_state["play_max_new"] = STRUCTURED_TOKENS
    if mode == STRUCTURED:
        made_for = schema_tasks()
        if made_for and task not in made_for:
            st.session_state["play_task_before_structured"] = task
            st.session_state["play_task"] = made_for[0]
            apply_task()
    else:
        before = st.session_state.pop("play_task_before_structured", None)
        if before and task in schema_tasks() and before in list_tasks():
            st.session_state["play_task"] = before
            apply_task()


def apply_task() -> None:
    """Fill instruction, template, input and schema from the chosen task (a sample or the
    user's). A damaged task fills nothing: the page names it with its fix below the picker."""
    try:
        task = load_task(st.session_state["play_task"])
        first = load_split(task.name, "test", limit=1)[0]
    except (LabError, IndexError):
        return
    values = {"play_instruction": task.instruction,
              "play_template": task.prompt_template,
              "play_input": first[task.input_field]}
    if task.schema:
        values["play_schema"] = task.schema
    elif task.labels:  # a classification task answers as {"label": ...}
        values["play_schema"] = label_schema(task.labels)
    st.session_state.update(values)


@st.cache_resource(show_spinner="Indexing the sample handbook (once)...")
def _sample_collection() -> str:
    return ensure_sample_collection()


def collection_choice() -> list[str]:
    """The collections to pick from, building the sample one the first time."""
    from core.knowledge import list_collections

    try:
        _sample_collection()
    except LabError as exc:
        st.warning("The sample collection could not be built: "
                   + plain(exc.problem, keep_format=True))
    return list_collections()


def _searcher(collection: str):
    return lambda query: format_hits(search(collection, query, k=2), max_chars=400)


def show_react_step(step: ReActStep) -> None:
    """One step of the trace: what the model wrote, the action, what the tool answered."""
    title = f"Step {step.number}: " + plain(f"finish[{step.argument}]" if step.action == "finish"
                                             else f"{step.action}[{step.argument}]" if step.action
                                             else "no action")
    with st.container(border=True):
        st.markdown(f"**{title}**")
        st.code("Thought:" + step.model_text, language=None, wrap_lines=True)
        if step.observation is not None:
            icon = "✅" if step.observation.ok else "⚠️"
            st.markdown(f"{icon} **Observation** ({plain(step.observation.tool)})")
            st.code(step.observation.text, language=None, wrap_lines=True)
        st.caption(f"{step.completion.prompt_tokens:,} prompt tokens · "
                   f"{step.completion.completion_tokens} tokens · {step.completion.latency_s:.2f} s")


def run_react_steps(engine, question: str, config: ReActConfig,
                    setup: dict | None = None) -> ReActResult:
    """Run the ReAct loop, drawing each step as it completes; each step's generation is
    saved to the history like any other answer (with ``setup``, to reopen it)."""
    from core.history import record_generation

    search_fn = _searcher(config.collection) if config.collection else None
    result = ReActResult(question)
    unsaved: list[str] = []

    def generate_and_record(prompt, params):
        completion = engine.generate(prompt, params)
        try:
            record_generation(prompt, params, completion, source="playground:ReAct",
                              setup=setup)
        except LabError as exc:  # the step goes on; only its record failed
            unsaved.append(f"{exc.problem} {exc.fix or ''}")
        return completion

    with st.spinner("The agent is working..."):
        for step in react_steps(generate_and_record, question, config, search_fn, result):
            show_react_step(step)
    if unsaved:
        st.warning(f"{len(unsaved)} step(s) were not saved to history: "
                   + plain(unsaved[0], keep_format=True))
    return result


def show_citations(answer: str, hits) -> None:
    """Which retrieved passages the answer cites, and all of them for reference."""
    from core.rag import cited, unknown_citations

    used = cited(answer, hits)
    st.caption("Cites: " + (", ".join(f"[{h.rank}] {plain(h.chunk.doc)}" for h in used)
                            if used else "no passage cited"))
    missing = unknown_citations(answer, len(hits))
    if missing:
        which = "that passage" if len(missing) == 1 else "those passages"
        st.warning(f"The answer cites {', '.join(f'[{n}]' for n in missing)}, but the prompt "
                   f"held {len(hits)} passage{'s' if len(hits) != 1 else ''} ([1] to "
                   f"[{len(hits)}]): the model invented {which}, so what it says from there is "
                   "not from your documents.", icon=":material/link_off:")
    with st.expander(f"The {len(hits)} retrieved passages"):
        for hit in hits:
            st.markdown(f"**[{hit.rank}]** {plain(hit.chunk.doc)} · {plain(hit.chunk.heading)} · "
                        f"similarity {hit.score:.3f}")
            st.text(hit.chunk.text)


def show_check(check: StructuredCheck, finish_reason: str = "stop", right: bool = True) -> None:
    """Whether a structured answer parsed and passed the schema. ``right``: False where a
    reference answer says the values are wrong, so valid JSON is not shown in green."""
    if not check.valid and finish_reason == "length":
        st.error("The answer was cut off by max new tokens before the JSON was complete: raise "
                 "max new tokens and generate again.", icon=":material/content_cut:")
    elif check.valid:
        (st.success if right else st.info)(
            "Valid: the answer parses as JSON and passes the schema" +
            ("." if right else " (which says nothing of its values: see the reference below)."),
            icon=":material/check:")
    elif check.parsed:
        st.error("Parses as JSON but fails the schema: " + "; ".join(map(plain, check.errors[:5])),
                 icon=":material/rule:")
    else:
        st.error("Not JSON: " + "; ".join(map(plain, check.errors)), icon=":material/data_object:")


def label_scores(scores: list[LabelScore], answer: str, sampled: bool = False) -> None:
    """The two readings of a classification answer side by side: the label the model wrote
    freely, and the label that scoring finds likeliest (what an evaluation counts), with why
    they can differ."""
    ordered = sorted(scores, key=lambda s: s.probability)
    labels = tuple(s.label for s in scores)
    written = first_label(answer, labels)
    best = ordered[-1]
    left, right = st.columns(2)
    with left.container(border=True):
        st.markdown("**The answer it wrote**")
        st.markdown(f"names **{plain(written)}**" if written else
                    "names none of the labels " + plain(f"({', '.join(labels)})"))
        st.caption("Decoded a token at a time with the settings on the right; what a user of "
                   "the model would read.")
    with right.container(border=True):
        st.markdown("**Scored prediction (what Compare counts)**")
        st.markdown(f"**{plain(best.label)}**, {best.probability:.0%}")
        st.caption("Each label's probability as the next words, summed over the forms the model "
                   "may write it in (" + plain(", ".join(repr(f.candidate) for f in best.forms)) +
                   "). An evaluation counts this: every example gets exactly one label, with no "
                   "free text to parse, and the same label on every run.")
    if written is None:
        st.caption("The written answer names no label, so only the scored prediction can be "
                   "counted.")
    elif written != best.label:
        why = ("sampling (temperature above 0) drew it" if sampled else
               f"the first token of {plain(written)} led (a label of several tokens can win its "
               "first token and lose as a whole)")
        st.warning(f"They differ. Scoring compares whole labels: {plain(best.label)} is likelier "
                   "in all its forms together, while decoding writes one token at a time, and "
                   f"here {why}. The forms below show where the probability went.",
                   icon=":material/call_split:")
    figure = go.Figure(go.Bar(x=[s.probability for s in ordered], y=[s.label for s in ordered],
                              orientation="h", text=[f"{s.probability:.0%}" for s in ordered]))
    figure.update_layout(height=60 + 40 * len(ordered), margin=dict(l=10, r=10, t=30, b=10),
                         title="Probability of each label (all its forms)",
                         xaxis=dict(range=[0, 1], tickformat=".0%"))
    st.plotly_chart(figure, key="play_label_chart")
    with st.expander("Each form of each label"):
        st.dataframe([{"label": s.label, "form": repr(f.candidate), "tokens": f.n_tokens,
                       "probability": f"{f.probability:.1%}"} for s in reversed(ordered)
                      for f in s.forms], hide_index=True)


COLOURS = {"right": st.success, "partly": st.warning, "wrong": st.error, "no answer": st.error}


def reference_box(reference: Reference | None, verdicts: list[tuple[str, Verdict]]) -> None:
    """The example's reference answer and whether each reading of the answer matches it, in
    the colour that says so: green only when every reading is right."""
    if reference is None:
        return
    outcomes = {v.outcome for _, v in verdicts}
    show = (st.success if outcomes == {"right"} else
            st.error if outcomes and outcomes <= {"wrong", "no answer"} else st.warning)
    lines = [f"**Reference answer: {plain(reference.answer)}** (task {plain(reference.task)}, "
             f"{reference.split} split, example {plain(reference.example_id)})"]
    lines += [f"- {what}: **{verdict.outcome}**. {plain(verdict.detail)}" for what, verdict in verdicts]
    show("\n".join(lines), icon=":material/fact_check:")


def answer_box(text: str, verdict: Verdict | None) -> None:
    """A final answer in the colour of its verdict; neutral where there is no reference."""
    show = st.info if verdict is None else COLOURS[verdict.outcome]
    show(text)


def playground_setup(mode: str, recipe, spec, user_stops: list[str]) -> dict:
    """What History keeps of an answer to reopen it as it was: the technique, the fields it
    read, the recipe as built (schema, constrained flag, examples), the model, the stops the
    user typed (the technique adds its own)."""
    from dataclasses import asdict

    fields = {key: st.session_state.get(key) for key in MODE_KEYS[mode]}
    return {"technique": mode, "task": fields.get("play_task"), "fields": fields,
            "recipe": recipe.to_dict() if recipe is not None else None,
            "model": asdict(spec), "user_stops": list(user_stops)}


def empty_answer(completion, stops) -> None:
    """Say why an answer is empty (nothing when it is not): the model's end token, a stop
    sequence that matched at once, the token limit, a cancel."""
    if completion.text.strip():
        return
    from core.answers import empty_answer_reason

    reason = empty_answer_reason(completion.text, completion.finish_reason, tuple(stops),
                                 completion.completion_tokens)
    if reason:
        st.warning(f"Empty answer. {plain(reason, keep_format=True)}", icon=":material/block:")


def react_speeds(result: ReActResult) -> str:
    """Decoding and prompt-reading speeds over a ReAct run's steps, in words (each step reads
    its prompt before its first token, then decodes the rest)."""
    from core.generation import prompt_speed

    done = [s.completion for s in result.steps if s.completion.time_to_first_token_s is not None]
    first = sum(c.time_to_first_token_s for c in done)
    after = sum(max(c.completion_tokens - 1, 0) for c in done)
    span = sum(c.latency_s for c in done) - first
    parts = [f"decoding {after / span:.1f} tokens/s" if after and span > 0 else None,
             f"prompt reading {read:.0f} tokens/s"
             if (read := prompt_speed(sum(c.prompt_tokens for c in done), first or None)) else None]
    steps = f"{len(result.steps)} step{'s' if len(result.steps) != 1 else ''}"
    return (", ".join(p for p in parts if p) or "speeds unknown") + f" over the {steps}"
