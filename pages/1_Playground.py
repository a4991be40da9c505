"""Playground: pick a technique and a task, see the exact prompt, stream the answer and its figures."""

import streamlit as st

from core.config import GenerationParams
from core.errors import LabError
from core.fewshot import list_sets, load_set
from core.engines import score_labels
from core.history import record_generation
from core.prompting import PromptRecipe, build_prompt, check_structured, extract_answer
from core.rag import DEFAULT_RAG_TEMPLATE, RagConfig, build_rag_prompt
from core.react import ReActConfig, react_prompt
from core.reference import find_reference, judge, tasks_of
from core.tasks import list_tasks, load_task, task_title
from ui.controls import figures_row, generation_controls, init_state, plain, stream_answer
from ui.engine import current_spec, show_error
from ui.playground import (TECHNIQUES, answer_box, apply_task, collection_choice, empty_answer,
                           label_scores, on_technique_change, playground_setup, react_speeds,
                           reference_box,
                           run_react_steps, show_check, show_citations, show_react_step)
from ui.sidebar import render_sidebar

st.set_page_config(page_title="Playground · PromptTune Lab", page_icon="💬", layout="wide")
engine = render_sidebar()
st.title(":material/chat: Playground")
if st.session_state.get("play_reopened"):
    st.info(plain(st.session_state.pop("play_reopened"), keep_format=True),
            icon=":material/history:")
if st.session_state.get("play_notice"):
    st.warning(plain(st.session_state.pop("play_notice"), keep_format=True))
if engine is None:
    # keep drawing the editor below, so that nothing the user typed is lost
    st.warning("No model is loaded: pick a working model in the sidebar. Your prompt and "
               "settings stay as they are.")

init_state({"play_mode": "Free text", "play_prompt": "The three primary colours are",
            "play_system": "You are a helpful assistant. Answer in one word.",
            "play_user": "What is the capital of France?", "play_task": "review-sentiment",
            "play_instruction": "", "play_template": "Input: {input}\nAnswer:", "play_input": "",
            "play_set": None, "play_k": 4, "play_schema": "", "play_constrained": True,
            "play_steps": 5, "play_question": "What is 17 * 23 + 348 / 12?",
            "play_collection": "lumen-outfitters", "play_rag_k": 3,
            # a question of the sample collection's set, so its reference answer shows
            "play_rag_question": "How much does the Karsk 2P tent cost and how much does it weigh?",
            "play_rag_template": DEFAULT_RAG_TEMPLATE})
if not st.session_state["play_instruction"] and st.session_state["play_task"] in list_tasks():
    apply_task()

mode = st.radio("Technique", list(TECHNIQUES), horizontal=True, key="play_mode",
                on_change=on_technique_change, format_func=lambda m: TECHNIQUES[m][0], help="\n\n".join(
                    f"**{label}**: {why}" for label, why in TECHNIQUES.values()))
st.caption(TECHNIQUES[mode][1])
editor, settings = st.columns([3, 1])
with settings:
    raw_params = generation_controls("play")
    if mode == "ReAct":
        st.caption("ReAct steps decode greedily, up to 80 tokens a step, stopping before "
                   "each Observation: the settings above apply to the other techniques.")

prompt, stops, recipe, labels, schema = "", (), None, (), None
with editor:
    try:
        if mode == "Free text":
            prompt = st.text_area("Prompt", key="play_prompt", height=180)
        elif mode in ("ReAct", "RAG"):
            collections = collection_choice()
            if st.session_state["play_collection"] not in collections and collections:
                st.session_state["play_collection"] = collections[0]
            st.selectbox("Document collection (Knowledge page)", collections, key="play_collection")
            collection = st.session_state["play_collection"] if collections else None
            if mode == "ReAct":
                st.text_input("Question", key="play_question")
                st.number_input("Step limit", 1, 12, key="play_steps")
                prompt = react_prompt(st.session_state["play_question"], collection)
            else:
                st.text_input("Question", key="play_rag_question")
                st.number_input("Passages (top-k)", 1, 20, key="play_rag_k")
                st.text_area("RAG prompt ({context} = passages, {question})", key="play_rag_template",
                             height=100)
                rag = build_rag_prompt(RagConfig(collection or "", int(st.session_state["play_rag_k"]),
                                                 st.session_state["play_rag_template"]),
                                       st.session_state["play_rag_question"])
                prompt, stops = rag.text, rag.stops
        else:
            task_names = list_tasks()
            if st.session_state["play_task"] not in task_names:
                st.session_state["play_task"] = task_names[0]
            st.selectbox("Task", task_names, key="play_task", on_change=apply_task,
                         format_func=task_title,
                         help="A task (a sample, or yours from the Tasks page) fills the "
                              "instruction, template and an input; edit any of them.")
            if mode == "Few-shot":
                sets = list_sets()
                if not sets:
                    st.info("No saved few-shot set yet: build one in the Few-shot builder.")
                    st.page_link("pages/3_Few-shot_builder.py", label="Open the Few-shot builder",
                                 icon=":material/format_list_numbered:")
                else:
                    if st.session_state["play_set"] not in sets:
                        st.session_state["play_set"] = sets[0]
                    st.selectbox("Few-shot set", sets, key="play_set")
                    chosen = load_set(st.session_state["play_set"])
                    top = max(2, len(chosen.examples))
                    st.session_state["play_k"] = min(max(1, st.session_state["play_k"]), top)
                    st.slider("Examples to use (k)", 1, top, key="play_k")
                    recipe = chosen.recipe(k=st.session_state["play_k"])
            if mode == "System prompt":
                st.text_area("System", key="play_system", height=68)
            if mode == "Structured output":
                st.text_area("JSON Schema", key="play_schema", height=160)
                st.toggle("Constrained decoding (the answer always parses)", key="play_constrained",
                          help="llama.cpp turns the schema into a grammar; transformers uses "
                               "xgrammar. Off: the model writes freely and the lab only checks.")
            if mode != "Few-shot":
                st.text_area("Instruction", key="play_instruction", height=68)
                st.text_area("Template ({input} is replaced by the input)", key="play_template",
                             height=68)  # several lines: a newline in it shows as one
            st.text_area("Input", key="play_input", height=90)
            if recipe is None and mode != "Few-shot":
                task = load_task(st.session_state["play_task"])
                technique = {"Zero-shot": "zero-shot", "System prompt": "system",
                             "Chain-of-thought": "chain-of-thought",
                             "Structured output": "structured"}[mode]
                recipe = PromptRecipe(technique, st.session_state["play_instruction"],
                                      st.session_state["play_template"],
                                      system=st.session_state["play_system"], labels=task.labels,
                                      json_schema=(st.session_state["play_schema"] or None)
                                      if technique == "structured" else None,
                                      constrained=st.session_state["play_constrained"])
            if recipe is not None:
                built = build_prompt(recipe, st.session_state["play_input"],
                                     engine.chat_prompt if engine is not None else None)
                prompt, stops, labels, schema = built.text, built.stops, built.labels, \
                    recipe.json_schema
                if mode == "System prompt" and engine is not None:
                    # the turn's end and the template's own stops (a next 'Review:')
                    stops = tuple(dict.fromkeys(built.stops + engine.chat_stops()))
    except LabError as exc:
        show_error(exc)
        prompt = ""

    n_tokens = engine.count_tokens(prompt) if engine is not None and prompt else 0
    window = f" of {engine.info.context_window:,}" if engine is not None else ""
    # a key per technique: switching from Free text opens it, whatever the last one's state
    with st.expander(f"The exact text the model sees · {n_tokens} tokens{window}",
                     expanded=mode != "Free text", key=f"play_exact_{mode}"):
        st.code(prompt or " ", language=None, wrap_lines=True)
        if stops:
            st.caption("Stops at: " + ", ".join(repr(s) for s in stops))
    run = st.button("Generate", type="primary", key="play_run",
                    disabled=engine is None or not prompt)


def _reference():
    """The task example the current input is, if any (ReAct and RAG: a sample question)."""
    if mode == "ReAct":
        return find_reference(st.session_state["play_question"],
                              tasks_of(("numeric", "qa"), st.session_state["play_collection"]))
    if mode == "RAG":
        return find_reference(st.session_state["play_rag_question"],
                              tasks_of(("qa",), st.session_state["play_collection"]))
    if mode == "Free text":
        return None
    return find_reference(st.session_state["play_input"], [st.session_state["play_task"]])


if run:
    st.session_state.pop("play_last", None)
    setup = playground_setup(mode, recipe, current_spec(), raw_params["stop"])
    try:
        reference = _reference()
    except LabError:  # a damaged task of the user's among those searched: no reference shown
        reference = None
    try:
        with editor:
            if mode == "ReAct":
                result = run_react_steps(engine, st.session_state["play_question"],
                                         ReActConfig(max_steps=int(st.session_state["play_steps"]),
                                                     collection=st.session_state["play_collection"]),
                                         setup)
                st.session_state["play_last"] = {"mode": mode, "react": result,
                                                 "reference": reference}
            else:
                params = GenerationParams.from_dict({
                    **raw_params, "stop": raw_params["stop"] + list(stops),
                    "json_schema": schema if mode == "Structured output"
                    and st.session_state["play_constrained"] else None})
                st.markdown("**Answer**")
                completion = stream_answer(engine.stream(prompt, params))
                last = {"mode": mode, "completion": completion, "labels": labels,
                        "schema": schema, "stops": params.stop, "reference": reference}
                if mode == "RAG":
                    last["hits"] = rag.hits
                if labels and mode in ("Zero-shot", "Few-shot", "System prompt"):
                    last["scores"] = score_labels(engine, [prompt], labels)[0]
                st.session_state["play_last"] = last
                try:
                    record_generation(prompt, params, completion, source=f"playground:{mode}",
                                      setup=setup)
                except LabError as exc:  # the answer is shown anyway; only the record failed
                    st.warning("The answer was not saved to history: "
                               + plain(f"{exc.problem} {exc.fix or ''}", keep_format=True))
    except LabError as exc:
        with editor:
            show_error(exc)

last = st.session_state.get("play_last")
if last is not None and last["mode"] == mode:
    reference = last.get("reference")
    with editor:
        if "react" in last:
            if not run:
                for step in last["react"].steps:
                    show_react_step(step)
            result = last["react"]
            if result.answer is not None:
                verdict = judge(reference, result.answer) if reference else None
                answer_box(f"Final answer: **{plain(result.answer)}**  ·  {len(result.steps)} steps, "
                           f"{result.prompt_tokens:,} prompt tokens, {result.completion_tokens} "
                           f"answer tokens, {result.latency_s:.1f} s", verdict)
                reference_box(reference, [("The final answer", verdict)] if verdict else [])
            else:
                st.warning(f"No answer within {len(result.steps)} steps: raise the step limit, or "
                           "see in the trace where the model went wrong.")
                reference_box(reference, [("The final answer", judge(reference, None))]
                              if reference else [])
            if result.steps:
                done = result.steps[-1].completion
                st.caption(f"{react_speeds(result)} · engine: {done.engine} · model: "
                           f"{plain(done.model, keep_format=True)} "
                           "· every step is saved in History")
            with st.expander("The whole transcript the model read"):
                st.code(result.transcript, language=None, wrap_lines=True)
        else:
            completion = last["completion"]
            if not run:
                st.markdown("**Answer**")
                st.code(completion.text or " ", language=None, wrap_lines=True)
            empty_answer(completion, last.get("stops", ()))
            verdicts = []
            if last["mode"] == "Chain-of-thought":
                numeric = reference is not None and reference.kind == "numeric"
                answer = extract_answer(completion.text, last["labels"], numeric=numeric)
                st.info(f"Final answer extracted from the reasoning: **{plain(answer)}**" if answer else
                        "No final answer found in the reasoning (the model never wrote "
                        "'Answer: ...' nor a label).")
                verdicts.append(("The extracted answer", answer))
            elif last.get("scores"):
                label_scores(last["scores"], completion.text, completion.seed is not None)
                best = max(last["scores"], key=lambda s: s.probability)
                verdicts += [("The answer it wrote", completion.text),
                             ("The scored prediction", best.label)]
            elif completion.text.strip() or reference is not None:
                verdicts.append(("The answer", completion.text))
            judged = [(what, judge(reference, said)) for what, said in verdicts] if reference else []
            if last["mode"] == "Structured output" and last["schema"]:
                show_check(check_structured(completion.text, last["schema"]), completion.finish_reason,
                           all(v.right for _, v in judged))
            if last.get("hits"):
                show_citations(completion.text, last["hits"])
            reference_box(reference, judged)
            figures_row(completion)
