"""The Compare page's list of setups: one-click presets, saved setups, and setups built from
their parts (model, prompt technique, retrieval), each row described and removable.

Session state holds names and small dicts only: the presets, sets, runs and saved setups
picked (``cmp_basic``, ``cmp_sets``, ``cmp_runs``, ``cmp_saved``) and the setups built here
(``cmp_built``, each a ``Setup.to_dict()``). Adding and removing go through button callbacks,
so the list drawn in the same run is already the new one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from core.compare import CompareConfig, Prices, check_variants
from core.config import DEVICES, DTYPES, ENGINES, ModelSpec
from core.errors import ConfigError, LabError
from core.fewshot import list_sets, load_set
from core.knowledge import SAMPLE_COLLECTION, list_collections
from core.runs import Run
from core.setup_eval import fitting_sets
from core.setups import (MAX_NAME, TOOLS, TECHNIQUES, ModelChoice, PromptChoice,
                         RetrievalChoice, Setup, list_setups, load_setup, setup_from_variant)
from core.tasks import Task
from ui.compare import tuned_variant_names
from ui.controls import plain
from ui.engine import model_title, show_error
from ui.model_picker import OTHER, model_picker
from ui.training import run_label

BUILT = "cmp_built"
ERROR = "cmp_b_error"
NO_RETRIEVAL = "(no retrieval)"
FROM_TRAIN = "(drawn from the train split)"
TECHNIQUE_LABELS = {"zero-shot": "Zero-shot", "few-shot": "Few-shot",
                    "cot": "Chain-of-thought", "structured": "Structured output (JSON)",
                    "react": "ReAct (tools)"}
MODEL_KINDS = {"base": "A base model", "run": "A finished training run"}
PICKED = {"preset": "cmp_basic", "set": "cmp_sets", "run": "cmp_runs", "saved": "cmp_saved"}


@dataclass(frozen=True)
class Row:
    """One setup in the comparison's list, and what put it there (to remove it again)."""

    origin: str  # preset | set | run | saved | built
    key: str     # the preset's, set's or saved setup's name, the run id, or the built name
    setup: Setup


def arrive(asked: dict) -> None:
    """What another page asked Compare to show (``ui.navigate``), put into its own widgets:
    ``task``, ``comparison`` (selected in the Results tab), ``setup`` (a saved setup added to
    the list), ``run`` (a finished run added as a quick setup)."""
    state = st.session_state
    if asked.get("task"):
        state["cmp_task"] = asked["task"]
    if asked.get("comparison"):
        state["cmp_selected"] = asked["comparison"]
    for key, value in (("cmp_saved", asked.get("setup")), ("cmp_runs", asked.get("run"))):
        if value and value not in state[key]:
            state[key] = [*state[key], value]


def builder_defaults(spec: ModelSpec) -> dict:
    """First values of the builder's widgets: the sidebar's model settings, a 2-shot prompt."""
    return {BUILT: [], ERROR: None, "cmp_saved": [], "cmp_draws": 0,
            "cmp_b_kind": "base", "cmp_b_run": None, "cmp_b_engine": spec.engine,
            "cmp_b_device": spec.device.split(":")[0], "cmp_b_dtype": spec.dtype,
            "cmp_b_threads": spec.threads, "cmp_b_technique": "few-shot",
            "cmp_b_examples": FROM_TRAIN, "cmp_b_shots": 2, "cmp_b_constrained": True,
            "cmp_b_tools": list(TOOLS), "cmp_b_steps": 5, "cmp_b_system": "",
            "cmp_b_calibrate": False, "cmp_b_collection": NO_RETRIEVAL, "cmp_b_top_k": 3,
            "cmp_b_name": ""}


def sidebar_model(spec: ModelSpec, run_id: str | None = None) -> ModelChoice:
    """The sidebar's model as a setup's model, with its engine, device, dtype and threads
    (and ``run_id``'s adapter on it, for a tuned run)."""
    return ModelChoice(source=spec.source, engine=spec.engine, device=spec.device,
                       dtype=spec.dtype, threads=spec.threads, run_id=run_id)


def run_base(run: Run, spec: ModelSpec) -> str:
    """The base model a run tuned (the sidebar's model for a run that does not say)."""
    return run.config.get("model") or spec.source


def _quick_rows(task: Task, presets: dict[str, dict], by_id: dict[str, Run],
                spec: ModelSpec) -> list[Row]:
    """The one-click setups picked: prompt presets, saved few-shot sets, fine-tuned runs."""
    state = st.session_state
    rows = [Row("preset", name, replace(setup_from_variant(presets[name], spec.source,
                                                           spec.engine, task.collection),
                                        model=sidebar_model(spec)))
            for name in state["cmp_basic"] if name in presets]
    for name in state["cmp_sets"]:
        try:
            count = len(load_set(name).examples)
        except LabError as exc:  # deleted or damaged since the picker listed it
            show_error(exc)
            continue
        rows.append(Row("set", name, Setup(f"set {name}", sidebar_model(spec), PromptChoice(
            "few-shot", shots=0 if count <= 64 else 64, fewshot_set=name))))
    chosen = [by_id[i] for i in state["cmp_runs"] if i in by_id]
    # on the sidebar's model as every quick setup (a run of another base is refused at Run,
    # naming both); the builder puts a run on its own base
    rows += [Row("run", rid, Setup(name, sidebar_model(spec, rid)))
             for rid, name in tuned_variant_names(chosen).items()]
    return rows


def listed_setups(task: Task, presets: dict[str, dict], by_id: dict[str, Run],
                  spec: ModelSpec) -> tuple[list[Row], list[LabError]]:
    """Every setup the comparison will run, in order (presets, sets, runs, saved, built), and
    the problems of saved setups that could not be read (they are left out)."""
    rows, problems = _quick_rows(task, presets, by_id, spec), []
    for name in st.session_state["cmp_saved"]:
        try:
            rows.append(Row("saved", name, load_setup(name)))
        except LabError as exc:
            problems.append(exc)
    for saved in st.session_state[BUILT]:
        setup = Setup.from_dict(saved)
        rows.append(Row("built", setup.name, setup))
    return rows, problems


def quick_setups(task: Task, presets: dict[str, dict], by_id: dict[str, Run]) -> None:
    """The one-click pickers: prompt presets, saved few-shot sets, finished runs, saved setups
    (choices that no longer exist are dropped first: a widget must hold only its options)."""
    state = st.session_state
    st.markdown("**Quick setups** (on the sidebar's model, with its engine, device, dtype and "
                "threads)")
    st.multiselect("Prompt variants", list(presets), key="cmp_basic")
    c1, c2 = st.columns(2)
    sets = fitting_sets(task)  # a set of bug/feature/question examples has no place here
    state["cmp_sets"] = [n for n in state["cmp_sets"] if n in sets]
    c1.multiselect("Saved few-shot sets", sets, key="cmp_sets",
                   help="Only sets whose answers are this task's labels are offered.")
    hidden = len(list_sets()) - len(sets)
    if hidden > 0:
        c1.caption(f"{hidden} saved set(s) hidden: their examples are not labelled for "
                   f"{task.title}.")
    state["cmp_runs"] = [i for i in state["cmp_runs"] if i in by_id]
    c2.multiselect("Fine-tuned runs", list(by_id), key="cmp_runs",
                   format_func=lambda i: f"{run_label(by_id[i])} · {by_id[i].data}",
                   help="On the sidebar's model, which each must have been tuned from; "
                        "'Add a setup' puts a run on its own base model.")
    saved = list_setups()
    state["cmp_saved"] = [n for n in state["cmp_saved"] if n in saved]
    st.multiselect("Saved setups", saved, key="cmp_saved",
                   placeholder="Choose saved setups" if saved else
                   "None saved yet: the Playground saves what it shows as a setup")


def _remove(origin: str, key: str) -> None:
    """Button callback: take one setup off the list, whatever put it there."""
    if origin == "built":
        st.session_state[BUILT] = [d for d in st.session_state[BUILT] if d["name"] != key]
    else:
        st.session_state[PICKED[origin]] = [k for k in st.session_state[PICKED[origin]]
                                            if k != key]


def show_rows(rows: list[Row], problems: list[LabError]) -> None:
    """The setups in the comparison, each with what it is in words and a Remove button."""
    st.markdown(f"**Setups in this comparison ({len(rows)})**")
    for exc in problems:
        show_error(exc)
    if not rows:
        st.caption("None yet: pick quick setups above, or add one below.")
    for number, row in enumerate(rows):
        left, right = st.columns([9, 1], vertical_alignment="center")
        described = row.setup.describe()
        said = "" if described == row.setup.name else f" — {plain(described)}"
        marks = " · calibrated label scores" if row.setup.prompt.calibrate else ""
        left.markdown(f"{number + 1}. **{plain(row.setup.name)}**{said}{marks}")
        right.button("Remove", key=f"cmp_rm_{number}", on_click=_remove,
                     args=(row.origin, row.key), help=f"Take {row.setup.name} off this list.")


def _title(source: str) -> str:
    """A model's name as the sidebar says it; the source as written where it is no model
    name at all (a damaged run's config)."""
    try:
        return model_title(ModelSpec(source=source))
    except LabError:
        return source


def _model_widgets(spec: ModelSpec, runs: list[Run]) -> None:
    """A base model (the lab's one model picker) or a finished run, then how it runs."""
    kind = st.radio("Model", tuple(MODEL_KINDS), key="cmp_b_kind", horizontal=True,
                    format_func=MODEL_KINDS.get)
    if kind == "base":
        model_picker("cmp_b", spec, runtime=False, label="Base model")
    elif not runs:
        st.caption("No finished training run yet: train one on the Train page.")
    else:
        labels = {r.id: f"{run_label(r)} · tuned from {_title(run_base(r, spec))}" for r in runs}
        if st.session_state["cmp_b_run"] not in labels:  # deleted meanwhile, or none yet
            st.session_state["cmp_b_run"] = runs[0].id
        st.selectbox("Training run", list(labels), key="cmp_b_run", format_func=labels.get,
                     help="Its adapter on the base model it was tuned from (or its merged model).")
    c1, c2, c3, c4 = st.columns(4)
    c1.selectbox("Engine", ENGINES, key="cmp_b_engine")
    c2.selectbox("Device", DEVICES, key="cmp_b_device")
    c3.selectbox("Weights dtype", DTYPES, key="cmp_b_dtype")
    c4.number_input("CPU threads (0 = measured)", 0, 256, key="cmp_b_threads")


def _built_model(spec: ModelSpec, runs: dict[str, Run]) -> ModelChoice:
    """The model part the builder's widgets describe."""
    state = st.session_state
    run = None
    if state["cmp_b_kind"] == "run":
        run = runs.get(state["cmp_b_run"])
        if run is None:
            raise ConfigError("No finished training run is picked.",
                              "Pick a run, train one on the Train page, or pick a base model.")
        source = run_base(run, spec)
    else:
        source = state.get("cmp_b_model_choice", spec.source)
        if source == OTHER:
            source = str(state.get("cmp_b_model_source", "")).strip()
    return ModelChoice(source, state["cmp_b_engine"], state["cmp_b_device"],
                       state["cmp_b_dtype"], int(state["cmp_b_threads"]), run.id if run else None)


def _prompt_widgets(task: Task) -> None:
    technique = st.selectbox("Prompt technique", TECHNIQUES, key="cmp_b_technique",
                             format_func=TECHNIQUE_LABELS.get)
    if technique == "few-shot":
        c1, c2 = st.columns(2)
        sets = [FROM_TRAIN] + fitting_sets(task)
        if st.session_state["cmp_b_examples"] not in sets:
            st.session_state["cmp_b_examples"] = FROM_TRAIN
        c1.selectbox("Examples", sets, key="cmp_b_examples",
                     format_func=lambda s: s if s == FROM_TRAIN else f"saved set {s}")
        c2.number_input("How many (k; for a saved set 0 = all)", 0, 64, key="cmp_b_shots",
                        help="Drawn balanced across the labels from the task's train split, "
                             "or the first k of the saved set.")
    elif technique == "structured":
        c1, c2 = st.columns(2)
        c1.number_input("Worked examples (k)", 0, 64, key="cmp_b_shots")
        c2.checkbox("Constrain decoding to the schema", key="cmp_b_constrained")
    elif technique == "react":
        c1, c2 = st.columns(2)
        c1.multiselect("Tools", TOOLS, key="cmp_b_tools")
        c2.number_input("Step limit", 1, 12, key="cmp_b_steps")
    if technique != "react":  # ReAct writes its own prompt
        st.text_area("System prompt (optional)", key="cmp_b_system", height=68,
                     help="Sent through the model's chat template (or the lab's turn format).")
    if task.kind == "classification":
        st.checkbox("Calibrate label scores", key="cmp_b_calibrate",
                    help="Contextual calibration (Zhao et al. 2021): each label's probability is "
                         "divided by the one the same prompt gives a content-free input, so a "
                         "label the prompt favours for no reason loses that favour.")


def _retrieval_widgets() -> None:
    # the shipped sample is offered before its first use: a setup that searches it builds it
    collections = [NO_RETRIEVAL] + sorted({*list_collections(), SAMPLE_COLLECTION})
    if st.session_state["cmp_b_collection"] not in collections:
        st.session_state["cmp_b_collection"] = NO_RETRIEVAL
    c1, c2 = st.columns(2)
    chosen = c1.selectbox("Retrieval", collections, key="cmp_b_collection",
                          format_func=lambda c: c if c == NO_RETRIEVAL else f"from collection {c}")
    if chosen != NO_RETRIEVAL:
        c2.number_input("Passages (k)", 1, 20, key="cmp_b_top_k")


def built_setup(task: Task, spec: ModelSpec, runs: dict[str, Run]) -> Setup:
    """The setup the builder's widgets describe, named as typed or by its description
    (a ConfigError says what does not fit)."""
    state = st.session_state
    model = _built_model(spec, runs)
    technique = state["cmp_b_technique"]
    shots = int(state["cmp_b_shots"]) if technique in ("few-shot", "structured") else 0
    from_set = technique == "few-shot" and state["cmp_b_examples"] != FROM_TRAIN
    prompt = PromptChoice(
        technique, shots=shots,
        fewshot_set=state["cmp_b_examples"] if from_set else None,
        system="" if technique == "react" else state["cmp_b_system"],
        constrained=bool(state["cmp_b_constrained"]),
        calibrate=bool(state["cmp_b_calibrate"]) and task.kind == "classification",
        tools=tuple(state["cmp_b_tools"]), max_steps=int(state["cmp_b_steps"]))
    collection = state["cmp_b_collection"]
    retrieval = RetrievalChoice(None if collection == NO_RETRIEVAL else collection,
                                int(state["cmp_b_top_k"]))
    setup = Setup("setup", model, prompt, retrieval)
    return replace(setup, name=state["cmp_b_name"].strip() or setup.describe()[:MAX_NAME])


def _add(task: Task, spec: ModelSpec, runs: dict[str, Run], taken: list[str]) -> None:
    """Button callback: check the built setup against the task (core's checks, as Run does)
    and append it; else keep why, for the builder to show. The other rows stay as they are."""
    try:
        setup = built_setup(task, spec, runs)
        if setup.name in taken:
            raise ConfigError(f"A setup named {setup.name!r} is already in the list.",
                              "Type another name for this one, or remove the other first.")
        check_variants(CompareConfig(task.name, (setup,)))
    except LabError as exc:
        st.session_state[ERROR] = {"problem": exc.problem, "fix": exc.fix}
        return
    st.session_state[BUILT] = [*st.session_state[BUILT], setup.to_dict()]
    st.session_state[ERROR] = None
    st.session_state["cmp_b_name"] = ""


def setup_builder(task: Task, spec: ModelSpec, runs: list[Run], taken: list[str]) -> None:
    """'Add a setup': a model, a prompt technique and retrieval, composed into one setup."""
    with st.expander("Add a setup from its parts: model + prompt + retrieval",
                     icon=":material/add:"):
        _model_widgets(spec, runs)
        _prompt_widgets(task)
        _retrieval_widgets()
        st.text_input("Name (optional)", key="cmp_b_name", max_chars=MAX_NAME,
                      placeholder="its description, e.g. tuned run + 2-shot")
        st.button("Add this setup", key="cmp_b_add", on_click=_add,
                  args=(task, spec, {r.id: r for r in runs}, taken))
        problem = st.session_state[ERROR]
        if problem:
            show_error(ConfigError(problem["problem"], problem["fix"]))


def draws_input() -> None:
    """How many other draws of each drawn few-shot setup's examples to measure as well."""
    st.columns(3)[0].number_input(
        "Other draws of the few-shot examples", 0, 20, key="cmp_draws",
        help="For each few-shot setup drawn from the train split, evaluate this many other "
             "draws and orders of its k examples too, and show how far its score moves. Each "
             "draw takes as long as the setup itself.")


def chosen_config(task: Task, rows: list[Row], spec: ModelSpec) -> CompareConfig:
    """The comparison the page describes (a ConfigError says what is missing)."""
    state = st.session_state
    return CompareConfig(task.name, tuple(row.setup for row in rows), int(state["cmp_n"]),
                         int(state["cmp_seed"]), spec.source, spec.engine,
                         Prices(state["cmp_price_in"], state["cmp_price_out"],
                                state["cmp_gpu_hour"], state["cmp_cpu_hour"]),
                         draws=int(state["cmp_draws"]))
