"""What the Playground shows, as a setup (``core.setups``): the same technique, examples,
system prompt, constrained flag, retrieval and model, saved under a name so that Compare and
the CLI run it as the Playground showed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.config import GenerationParams, ModelSpec
from core.errors import ConfigError, LabError
from core.rag import DEFAULT_RAG_TEMPLATE
from core.setups import ModelChoice, PromptChoice, RetrievalChoice, Setup, list_setups, save_setup

# the Playground's technique -> the setup's (a system prompt and RAG go with zero-shot)
TECHNIQUE = {"Zero-shot": "zero-shot", "Few-shot": "few-shot", "System prompt": "zero-shot",
             "Chain-of-thought": "cot", "Structured output": "structured", "RAG": "zero-shot",
             "ReAct": "react"}


@dataclass(frozen=True)
class PlaygroundView:
    """What the Playground shows, in its own terms: the technique and the settings it reads."""

    technique: str
    model: ModelSpec
    fewshot_set: str | None = None
    k: int = 0
    system: str = ""
    constrained: bool = True
    collection: str | None = None
    top_k: int = 3
    rag_template: str = DEFAULT_RAG_TEMPLATE
    max_steps: int = 5
    generation: GenerationParams | None = None

    def __post_init__(self) -> None:
        if self.technique == "Free text":
            raise ConfigError("Free text has no technique to save: it is the exact prompt you "
                              "typed, with no task, instruction or examples.",
                              "Pick a technique (zero-shot, few-shot, a system prompt...) above, "
                              "then save it as a setup.")
        if self.technique not in TECHNIQUE:
            raise ConfigError(f"Unknown Playground technique {self.technique!r}.",
                              f"Use one of {', '.join(TECHNIQUE)}.")


def model_choice(spec: ModelSpec) -> ModelChoice:
    """The setup's model for the sidebar's spec: a lab run's adapter (or merged model) becomes
    its run; an adapter folder from elsewhere cannot be named by a setup."""
    run_folder = Path(spec.adapter).parent if spec.adapter else Path(spec.source).parent
    run = _lab_run(run_folder) if spec.adapter or not spec.is_embedded else None
    if spec.adapter and run is None:
        raise ConfigError(f"The adapter {spec.adapter} is not a training run of this lab, and a "
                          "setup names a model by its run.", "Train it on the Train page, or "
                          "clear the adapter in the sidebar, then save the setup.")
    source = run.config.get("model", spec.source) if run is not None else spec.source
    return ModelChoice(source=source, engine=spec.engine, device=spec.device, dtype=spec.dtype,
                       threads=spec.threads, run_id=run.id if run is not None else None)


def _lab_run(folder: Path):
    """The lab's run whose folder ``folder`` is, or None."""
    from core.runs import get_run

    try:
        run = get_run(folder.name)
    except (LabError, OSError, ValueError):
        return None
    return run if Path(run.run_dir).resolve() == folder.resolve() else None


def setup_of(name: str, view: PlaygroundView) -> Setup:
    """The setup ``name`` that answers as the Playground shows (a ConfigError names what
    does not fit)."""
    technique = TECHNIQUE[view.technique]
    shots = view.k if technique == "few-shot" else 0
    prompt = PromptChoice(
        technique, shots=shots, fewshot_set=view.fewshot_set if technique == "few-shot" else None,
        system=view.system if view.technique == "System prompt" else "",
        constrained=view.constrained, max_steps=view.max_steps)
    retrieval = RetrievalChoice()
    if view.technique in ("RAG", "ReAct") and view.collection:
        retrieval = RetrievalChoice(view.collection, view.top_k,
                                    view.rag_template if view.technique == "RAG"
                                    else DEFAULT_RAG_TEMPLATE)
    return Setup(name.strip(), model_choice(view.model), prompt, retrieval, view.generation)


def save_playground_setup(name: str, view: PlaygroundView, replace: bool = False) -> Setup:
    """Save what the Playground shows as setup ``name``; an existing name is refused unless
    ``replace``, so no setup is overwritten by a slip."""
    if not name.strip():
        raise ConfigError("The setup has no name.", "Type a name such as 'tuned + 4 shots'.")
    setup = setup_of(name, view)
    if not replace and setup.name in list_setups():
        raise ConfigError(f"A setup named {setup.name!r} is saved already.",
                          "Type another name, or tick 'Replace it' to save over it.")
    save_setup(setup)
    return setup


def view_of(setup: Setup) -> tuple[PlaygroundView, list[str]]:
    """How the Playground shows ``setup`` (the inverse of ``setup_of``), with notes on what it
    cannot show as the setup says: examples drawn from a task's train split rather than a
    saved set, calibrated scoring, a structured setup's worked examples."""
    prompt, retrieval, notes = setup.prompt, setup.retrieval, []
    technique = {"few-shot": "Few-shot", "cot": "Chain-of-thought",
                 "structured": "Structured output", "react": "ReAct"}.get(prompt.technique)
    if technique is None:  # zero-shot: with retrieval, a system prompt, or neither
        technique = "RAG" if retrieval.collection else \
            "System prompt" if prompt.system.strip() else "Zero-shot"
    if prompt.technique == "few-shot" and not prompt.fewshot_set:
        notes.append(f"It draws {prompt.shots} examples from the task's train split, which the "
                     "Playground cannot: pick a saved set (the Few-shot builder makes one).")
    if prompt.calibrate:
        notes.append("Its calibrated label scoring shows on Compare only.")
    if prompt.technique == "structured" and prompt.shots:
        notes.append(f"Its {prompt.shots} worked examples show on Compare only.")
    if retrieval.collection and technique not in ("RAG", "ReAct"):
        notes.append(f"Its retrieval from {retrieval.collection} shows on Compare only.")
    view = PlaygroundView(technique, _spec_of(setup.model, notes), prompt.fewshot_set,
                          prompt.shots, prompt.system, prompt.constrained, retrieval.collection,
                          retrieval.top_k, retrieval.template, prompt.max_steps, setup.generation)
    return view, notes


def _spec_of(model: ModelChoice, notes: list[str]) -> ModelSpec:
    """The model to load for a setup's model; a run that cannot serve is said, and its base
    model is used."""
    try:
        return model.model_spec()
    except LabError as exc:
        notes.append(f"{exc.problem} The base model {model.source} is used instead.")
        return ModelSpec(source=model.source, engine=model.engine, device=model.device,
                         dtype=model.dtype, threads=model.threads)
