"""Pieces of the Playground page: technique list, task presets, ReAct trace, answer checks."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core.errors import LabError
from core.generation import CandidateScore
from core.knowledge import ensure_sample_collection, format_hits, search
from core.prompting import StructuredCheck, label_schema
from core.react import ReActConfig, ReActResult, ReActStep, react_steps
from core.tasks import load_split, load_task
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


def apply_task() -> None:
    """Fill instruction, template, input and schema from the chosen sample task."""
    task = load_task(st.session_state["play_task"])
    first = load_split(task.name, "test", limit=1)[0]
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
        st.warning(f"The sample collection could not be built: {exc.problem}")
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
            st.markdown(f"{icon} **Observation** ({step.observation.tool})")
            st.code(step.observation.text, language=None, wrap_lines=True)
        st.caption(f"{step.completion.prompt_tokens:,} prompt tokens · "
                   f"{step.completion.completion_tokens} tokens · {step.completion.latency_s:.2f} s")


def run_react_steps(engine, question: str, config: ReActConfig) -> ReActResult:
    """Run the ReAct loop, drawing each step as it completes; each step's generation is
    saved to the history like any other answer."""
    from core.history import record_generation

    search_fn = _searcher(config.collection) if config.collection else None
    result = ReActResult(question)
    unsaved: list[str] = []

    def generate_and_record(prompt, params):
        completion = engine.generate(prompt, params)
        try:
            record_generation(prompt, params, completion, source="playground:ReAct")
        except LabError as exc:  # the step goes on; only its record failed
            unsaved.append(f"{exc.problem} {exc.fix or ''}")
        return completion

    with st.spinner("The agent is working..."):
        for step in react_steps(generate_and_record, question, config, search_fn, result):
            show_react_step(step)
    if unsaved:
        st.warning(f"{len(unsaved)} step(s) were not saved to history: {unsaved[0]}")
    return result


def show_citations(answer: str, hits) -> None:
    """Which retrieved passages the answer cites, and all of them for reference."""
    from core.rag import cited

    used = cited(answer, hits)
    st.caption("Cites: " + (", ".join(f"[{h.rank}] {plain(h.chunk.doc)}" for h in used)
                            if used else "no passage cited"))
    with st.expander(f"The {len(hits)} retrieved passages"):
        for hit in hits:
            st.markdown(f"**[{hit.rank}]** {plain(hit.chunk.doc)} · {plain(hit.chunk.heading)} · "
                        f"similarity {hit.score:.3f}")
            st.text(hit.chunk.text)


def show_check(check: StructuredCheck, finish_reason: str = "stop") -> None:
    """Whether a structured answer parsed and passed the schema."""
    if not check.valid and finish_reason == "length":
        st.error("The answer was cut off by max new tokens before the JSON was complete: raise "
                 "max new tokens and generate again.", icon=":material/content_cut:")
    elif check.valid:
        st.success("Valid: the answer parses as JSON and passes the schema.", icon=":material/check:")
    elif check.parsed:
        st.error("Parses as JSON but fails the schema: " + "; ".join(map(plain, check.errors[:5])),
                 icon=":material/rule:")
    else:
        st.error("Not JSON: " + "; ".join(map(plain, check.errors)), icon=":material/data_object:")


def label_scores(scores: list[CandidateScore]) -> None:
    """How likely the model finds each label after this prompt (log-likelihood scoring)."""
    ordered = sorted(scores, key=lambda s: s.probability)
    figure = go.Figure(go.Bar(x=[s.probability for s in ordered],
                              y=[s.candidate.strip() for s in ordered], orientation="h",
                              text=[f"{s.probability:.0%}" for s in ordered]))
    figure.update_layout(height=60 + 40 * len(ordered), margin=dict(l=10, r=10, t=30, b=10),
                         title="Probability of each label (log-likelihood)",
                         xaxis=dict(range=[0, 1], tickformat=".0%"))
    st.plotly_chart(figure, key="play_label_chart")
    best = ordered[-1]
    st.markdown(f"**Prediction: {plain(best.candidate.strip())}** ({best.probability:.0%}), the "
                "label the model finds most likely after this prompt: what an evaluation counts. "
                "The answer above is what it wrote freely, which may be something else.")
