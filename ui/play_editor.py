"""The Playground's editor: the fields of each technique in, the exact prompt out; and the
"Save as setup" box under it."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from core.errors import LabError
from core.fewshot import list_sets, load_set
from core.prompting import PromptRecipe, build_prompt
from core.rag import DEFAULT_RAG_TEMPLATE, RagConfig, build_rag_prompt
from core.react import react_prompt
from core.tasks import list_tasks, load_task, task_title
from ui.controls import plain
from ui.engine import show_error
from ui.playground import apply_task, collection_choice

DEFAULTS = {"play_mode": "Free text", "play_prompt": "The three primary colours are",
            "play_system": "You are a helpful assistant. Answer in one word.",
            "play_user": "What is the capital of France?", "play_task": "review-sentiment",
            "play_instruction": "", "play_template": "Input: {input}\nAnswer:", "play_input": "",
            "play_set": None, "play_k": 4, "play_schema": "", "play_constrained": True,
            "play_steps": 5, "play_question": "What is 17 * 23 + 348 / 12?",
            "play_collection": "lumen-outfitters", "play_rag_k": 3,
            # a question of the sample collection's set, so its reference answer shows
            "play_rag_question": "How much does the Karsk 2P tent cost and how much does it "
                                 "weigh?",
            "play_rag_template": DEFAULT_RAG_TEMPLATE, "play_setup_name": ""}
RECIPES = {"Zero-shot": "zero-shot", "System prompt": "system",
           "Chain-of-thought": "chain-of-thought", "Structured output": "structured"}


@dataclass
class Shown:
    """The prompt the editor builds, with what goes with it."""

    prompt: str = ""
    stops: tuple[str, ...] = ()
    recipe: PromptRecipe | None = None
    labels: tuple[str, ...] = ()
    schema: str | None = None
    hits: list = field(default_factory=list)


def editor(mode: str, engine) -> Shown:
    """Draw the technique's fields; the prompt they build (empty, with the reason shown, when
    they do not build one)."""
    try:
        if mode == "Free text":
            return Shown(st.text_area("Prompt", key="play_prompt", height=180))
        if mode in ("ReAct", "RAG"):
            return _retrieval_fields(mode)
        return _task_fields(mode, engine)
    except LabError as exc:
        show_error(exc)
        return Shown()


def _retrieval_fields(mode: str) -> Shown:
    state = st.session_state
    collections = collection_choice()
    if state["play_collection"] not in collections and collections:
        state["play_collection"] = collections[0]
    st.selectbox("Document collection (Knowledge page)", collections, key="play_collection")
    collection = state["play_collection"] if collections else None
    if mode == "ReAct":
        st.text_input("Question", key="play_question")
        st.number_input("Step limit", 1, 12, key="play_steps")
        return Shown(react_prompt(state["play_question"], collection))
    st.text_input("Question", key="play_rag_question")
    st.number_input("Passages (top-k)", 1, 20, key="play_rag_k")
    st.text_area("RAG prompt ({context} = passages, {question})", key="play_rag_template",
                 height=100)
    rag = build_rag_prompt(RagConfig(collection or "", int(state["play_rag_k"]),
                                     state["play_rag_template"]), state["play_rag_question"])
    return Shown(rag.text, rag.stops, hits=rag.hits)


def _task_fields(mode: str, engine) -> Shown:
    state = st.session_state
    names = list_tasks()
    if state["play_task"] not in names:
        state["play_task"] = names[0]
    st.selectbox("Task", names, key="play_task", on_change=apply_task, format_func=task_title,
                 help="A task (a sample, or yours from the Tasks page) fills the instruction, "
                      "template and an input; edit any of them.")
    recipe = _fewshot_fields() if mode == "Few-shot" else None
    if mode == "System prompt":
        st.text_area("System", key="play_system", height=68)
    if mode == "Structured output":
        st.text_area("JSON Schema", key="play_schema", height=160)
        st.toggle("Constrained decoding (the answer always parses)", key="play_constrained",
                  help="llama.cpp turns the schema into a grammar; transformers uses xgrammar. "
                       "Off: the model writes freely and the lab only checks.")
    if mode != "Few-shot":
        st.text_area("Instruction", key="play_instruction", height=68)
        st.text_area("Template ({input} is replaced by the input)", key="play_template",
                     height=68)  # several lines: a newline in it shows as one
    st.text_area("Input", key="play_input", height=90)
    if mode != "Few-shot":
        recipe = _recipe(mode)
    return _built(mode, recipe, engine) if recipe is not None else Shown()


def _fewshot_fields() -> PromptRecipe | None:
    state = st.session_state
    sets = list_sets()
    if not sets:
        st.info("No saved few-shot set yet: build one in the Few-shot builder.")
        st.page_link("pages/3_Few-shot_builder.py", label="Open the Few-shot builder",
                     icon=":material/format_list_numbered:")
        return None
    if state["play_set"] not in sets:
        state["play_set"] = sets[0]
    st.selectbox("Few-shot set", sets, key="play_set")
    chosen = load_set(state["play_set"])
    top = max(2, len(chosen.examples))
    state["play_k"] = min(max(1, state["play_k"]), top)
    st.slider("Examples to use (k)", 1, top, key="play_k")
    return chosen.recipe(k=state["play_k"])


def _recipe(mode: str) -> PromptRecipe:
    state = st.session_state
    technique = RECIPES[mode]
    return PromptRecipe(technique, state["play_instruction"], state["play_template"],
                        system=state["play_system"], labels=load_task(state["play_task"]).labels,
                        json_schema=(state["play_schema"] or None)
                        if technique == "structured" else None,
                        constrained=state["play_constrained"])


def _built(mode: str, recipe: PromptRecipe, engine) -> Shown:
    built = build_prompt(recipe, st.session_state["play_input"],
                         engine.chat_prompt if engine is not None else None)
    stops = built.stops
    if mode == "System prompt" and engine is not None:
        # the turn's end and the template's own stops (a next 'Review:')
        stops = tuple(dict.fromkeys(built.stops + engine.chat_stops()))
    return Shown(built.text, stops, recipe, built.labels, recipe.json_schema)


def exact_text(shown: Shown, engine, mode: str) -> None:
    """The exact text the model reads, its token count against the window, its stops."""
    n_tokens = engine.count_tokens(shown.prompt) if engine is not None and shown.prompt else 0
    window = f" of {engine.info.context_window:,}" if engine is not None else ""
    # a key per technique: switching from Free text opens it, whatever the last one's state
    with st.expander(f"The exact text the model sees · {n_tokens} tokens{window}",
                     expanded=mode != "Free text", key=f"play_exact_{mode}"):
        st.code(shown.prompt or " ", language=None, wrap_lines=True)
        if shown.stops:
            st.caption("Stops at: " + ", ".join(repr(s) for s in shown.stops))


def save_as_setup(mode: str, raw_params: dict) -> None:
    """Name what the Playground shows and save it as a setup (Compare and the CLI run it). A
    bad name is said under the field, which keeps what was typed, as does the editor."""
    from core.config import GenerationParams
    from core.playground import PlaygroundView, save_playground_setup
    from ui.engine import current_spec

    state = st.session_state
    with st.expander("Save as setup", icon=":material/bookmark_add:"):
        st.caption("The model (with its engine, device, dtype, threads and any training run), "
                   "the technique with its examples, system prompt or constrained flag, the "
                   "retrieval and the generation settings, under one name: Compare and the CLI "
                   "can run it on a whole task.")
        left, right = st.columns([3, 1])
        left.text_input("Setup name", key="play_setup_name", placeholder="e.g. tuned + 4 shots")
        replace = right.checkbox("Replace it", key="play_setup_replace",
                                 help="Save over a setup of that name.")
        if not st.button("Save as setup", key="play_setup_save"):
            return
        try:
            view = PlaygroundView(
                mode, current_spec(), state["play_set"], int(state["play_k"]),
                state["play_system"], bool(state["play_constrained"]), state["play_collection"],
                int(state["play_rag_k"]), state["play_rag_template"], int(state["play_steps"]),
                GenerationParams.from_dict(raw_params))
            setup = save_playground_setup(state["play_setup_name"], view, replace=replace)
        except LabError as exc:
            show_error(exc)
            return
        st.success(f"Saved setup **{plain(setup.name)}**: {plain(setup.describe())}.",
                   icon=":material/bookmark_added:")


def open_saved_setup() -> None:
    """Open a saved setup back in the Playground: its technique, settings and model."""
    from core.setups import list_setups
    from ui.navigate import open_page

    names = list_setups()
    if not names:
        return
    with st.expander("Open a saved setup", icon=":material/bookmark:"):
        st.selectbox("Saved setup", names, key="play_setup_open")
        if st.button("Open in the Playground", key="play_setup_open_go"):
            open_page("playground", setup=st.session_state["play_setup_open"])
