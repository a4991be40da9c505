"""A setup: one way of answering a task, as one validated, frozen config.

A ``Setup`` names the model (a base model with its engine, device, dtype and threads, or a
training run's adapter on it, or a run's merged model), the prompting technique (zero-shot,
few-shot with k examples or a saved set, chain-of-thought, structured output, ReAct with its
tools; a system prompt and calibrated label scoring with any technique that allows them),
optional retrieval from a document collection, and the generation settings. The same object
is built by the Compare page and the Playground, read by the CLI from JSON, saved with a
comparison and in ``$PROMPTTUNE_HOME/setups/<name>.json``, and drawn by the report (grouped by
its ``parts``). ``setup_from_variant`` turns each kind of the old comparison variants into one.

Rules that need the task (ReAct only on number and question tasks, calibration only for
classification) are checked by ``check_setup_for_task``, before anything runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from core.config import (DEFAULT_MODEL, EMBEDDED_PREFIX, GenerationParams, ModelSpec,
                         check_field_types, check_known_settings)
from core.errors import ConfigError, LabError
from core.knowledge import check_name
from core.paths import data_dir, storage_error, write_json
from core.rag import DEFAULT_RAG_TEMPLATE, check_rag_template

TECHNIQUES = ("zero-shot", "few-shot", "cot", "structured", "react")
TOOLS = ("calculator", "search")
MAX_NAME = 100  # a setup's name is a table column and a chart label
MAX_SHOTS = 64
SHOWN = {"zero-shot": "zero-shot", "cot": "chain-of-thought", "structured": "structured",
         "react": "ReAct"}


def _bad(what: str, value: Any, allowed: tuple[str, ...]) -> ConfigError:
    return ConfigError(f"Unknown {what} {value!r}.", f"Use one of {', '.join(allowed)}.")


@dataclass(frozen=True)
class ModelChoice:
    """Which model answers: a base model as the sidebar sets it, or a training run of the lab
    (its adapter on ``source``, or its merged model)."""

    source: str = DEFAULT_MODEL
    engine: str = "auto"
    device: str = "auto"
    dtype: str = "auto"
    threads: int = 0
    run_id: str | None = None

    def __post_init__(self) -> None:
        check_field_types(self, "Setup model")
        ModelSpec(source=self.source, engine=self.engine, device=self.device, dtype=self.dtype,
                  threads=self.threads)  # the same checks and messages as everywhere
        object.__setattr__(self, "source", self.source.strip())
        if self.run_id is not None and (not self.run_id.strip() or not self.run_id.isprintable()):
            raise ConfigError(f"The training run id {self.run_id[:40]!r} is empty or holds "
                              "control characters.", "Pick a finished run on the Runs page.")

    def model_spec(self) -> ModelSpec:
        """The model to load: for a run, its adapter on ``source`` or its merged model
        (a ConfigError when the run is unfinished or tuned another base model)."""
        base = ModelSpec(source=self.source, engine=self.engine, device=self.device,
                         dtype=self.dtype, threads=self.threads)
        if self.run_id is None:
            return base
        folder = run_folder(self)
        if (folder / "adapter").is_dir():
            return ModelSpec(source=self.source, engine=self.engine, device=self.device,
                             dtype=self.dtype, threads=self.threads, adapter=str(folder / "adapter"))
        return ModelSpec(source=str(folder / "model"), engine="transformers", device=self.device,
                         dtype=self.dtype, threads=self.threads)

    @property
    def short(self) -> str:
        """The model in a few words: 'gemma-3-270m', or 'run <id>'."""
        if self.run_id:
            return f"run {self.run_id}"
        source = self.source.removeprefix(EMBEDDED_PREFIX)
        return Path(source).name if "/" in source and Path(source).exists() else source


def run_folder(choice: ModelChoice) -> Path:
    """The folder of the choice's training run, checked: it has a saved model and tuned the
    choice's base model."""
    from core.runs import get_run

    run = get_run(choice.run_id)
    if not run.has_outputs:
        raise ConfigError(f"Run {choice.run_id} has status {run.status} and no saved model; only "
                          "finished runs (or runs cancelled after a step) compare.",
                          "Pick a run that succeeded, or resume this one.")
    base = run.base_model
    if base and base != choice.source:
        raise ConfigError(f"Run {choice.run_id} tuned {base}, but this comparison uses "
                          f"{choice.source}.", f"Set the comparison's model to {base}, pick a run "
                          f"of {choice.source}, or add the run through Compare's 'Add a setup', "
                          "which runs it on its own base model.")
    return Path(run.run_dir)


@dataclass(frozen=True)
class PromptChoice:
    """How the model is asked: the technique and its settings."""

    technique: str = "zero-shot"
    shots: int = 0                    # few-shot/structured: examples drawn from train
    fewshot_set: str | None = None    # or a saved set (its first `shots`, all when 0)
    system: str = ""                  # a system prompt (through the model's chat template)
    constrained: bool = True          # structured: constrain decoding to the schema
    calibrate: bool = False           # classification: contextual calibration of label scores
    tools: tuple[str, ...] = TOOLS    # react
    max_steps: int = 5                # react

    def __post_init__(self) -> None:
        if isinstance(self.tools, list):  # JSON gives lists
            object.__setattr__(self, "tools", tuple(self.tools))
        check_field_types(self, "Setup prompt")
        if self.technique not in TECHNIQUES:
            raise _bad("technique", self.technique, TECHNIQUES)
        if not 0 <= self.shots <= MAX_SHOTS:
            raise ConfigError(f"shots must be 0 to {MAX_SHOTS}, got {self.shots}.",
                              "4 to 8 worked examples are usual.")
        if self.fewshot_set is not None:
            object.__setattr__(self, "fewshot_set", check_name(self.fewshot_set, "few-shot set"))
        self._check_technique()

    def _check_technique(self) -> None:
        examples = self.shots or self.fewshot_set
        if self.technique == "few-shot" and not examples:
            raise ConfigError("Few-shot needs examples: shots is 0 and no saved set is named.",
                              "Set shots to 4 (drawn from the task's train split), or name a "
                              "saved few-shot set.")
        if examples and self.technique in ("zero-shot", "cot", "react"):
            raise ConfigError(f"{SHOWN[self.technique]} shows no worked examples, but shots or "
                              "a few-shot set is set.", "Use the few-shot technique, or set "
                              "shots to 0 and no set.")
        if self.calibrate and self.technique not in ("zero-shot", "few-shot"):
            raise ConfigError(f"Calibration corrects label scores; {SHOWN.get(self.technique)} "
                              "answers are generated, not scored.",
                              "Turn calibrate off, or use zero-shot or few-shot.")
        if self.technique == "react":
            if self.system.strip():
                raise ConfigError("ReAct writes its own prompt (tools and worked steps); a "
                                  "system prompt has no place in it.",
                                  "Leave the system prompt empty for ReAct.")
            unknown = [t for t in self.tools if t not in TOOLS]
            if unknown or len(set(self.tools)) != len(self.tools) \
                    or "calculator" not in self.tools:  # core.react always offers it
                raise ConfigError(f"ReAct tools must be some of {', '.join(TOOLS)}, each once, "
                                  f"the calculator always among them; got {list(self.tools)}.",
                                  'Use ["calculator", "search"], or ["calculator"] alone.')
        if isinstance(self.max_steps, int) and not 1 <= self.max_steps <= 12:
            raise ConfigError(f"The ReAct step limit must be 1 to 12, got {self.max_steps}.",
                              "Use 3-6 steps for the sample questions.")

    @property
    def short(self) -> str:
        """The technique in a few words: 'zero-shot', '4-shot', 'set reviews', 'ReAct'."""
        if self.technique == "few-shot":
            words = f"set {self.fewshot_set}" if self.fewshot_set else f"{self.shots}-shot"
            if self.fewshot_set and self.shots:
                words += f" (first {self.shots})"
        else:
            words = SHOWN[self.technique]
            if self.technique == "structured":
                words += "" if self.constrained else " (free)"
                words += f" + {self.shots} shots" if self.shots else ""
        words += " + system prompt" if self.system.strip() else ""
        return words + (" calibrated" if self.calibrate else "")


@dataclass(frozen=True)
class RetrievalChoice:
    """Passages from a document collection put before the question; no collection: none."""

    collection: str | None = None
    top_k: int = 3
    template: str = DEFAULT_RAG_TEMPLATE

    def __post_init__(self) -> None:
        check_field_types(self, "Setup retrieval")
        if self.collection is not None:
            object.__setattr__(self, "collection", check_name(self.collection))
        if not 1 <= self.top_k <= 20:  # what RAG's own settings allow
            raise ConfigError(f"Retrieval top_k must be 1 to 20, got {self.top_k}.",
                              "Use 2-5 passages.")
        check_rag_template(self.template)

    @property
    def short(self) -> str:
        return "none" if self.collection is None else f"{self.collection} (k={self.top_k})"


def _non_default(obj: Any, keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of ``obj`` that differ from their defaults, and those in ``keep``."""
    data = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        default = f.default_factory() if callable(f.default_factory) else f.default
        if f.name in keep or value != default:
            data[f.name] = list(value) if isinstance(value, tuple) else value
    return data


def _prompt_dict(prompt: PromptChoice) -> dict[str, Any]:
    """Only the prompt settings its technique reads."""
    data = _non_default(prompt, ("technique",))
    if prompt.technique != "structured":
        data.pop("constrained", None)
    if prompt.technique != "react":
        data.pop("tools", None)
        data.pop("max_steps", None)
    return data


@dataclass(frozen=True)
class Setup:
    """A named way of answering: model, prompt, retrieval and generation settings."""

    name: str
    model: ModelChoice = field(default_factory=ModelChoice)
    prompt: PromptChoice = field(default_factory=PromptChoice)
    retrieval: RetrievalChoice = field(default_factory=RetrievalChoice)
    generation: GenerationParams | None = None  # None: the lab's defaults for the task kind

    def __post_init__(self) -> None:
        for name, cls in (("model", ModelChoice), ("prompt", PromptChoice),
                          ("retrieval", RetrievalChoice)):
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, _part(cls, getattr(self, name), name))
        if isinstance(self.generation, dict):
            object.__setattr__(self, "generation", GenerationParams.from_dict(self.generation))
        check_field_types(self, "Setup")
        if not self.name.strip():
            raise ConfigError("A setup has no name.", "Give every setup a short name.")
        if len(self.name) > MAX_NAME or not self.name.isprintable():
            raise ConfigError(f"Setup name {self.name[:40]!r} is longer than {MAX_NAME} "
                              "characters or holds control characters.",
                              f"Give it a short name of printable characters (up to {MAX_NAME}).")

    @property
    def kind(self) -> str:
        """The old comparison kind this setup reads as (the report's colours and break-even):
        fine-tuned for a run, rag with retrieval, else the technique."""
        if self.model.run_id:
            return "fine-tuned"
        if self.retrieval.collection and self.prompt.technique != "react":
            return "rag"
        return self.prompt.technique

    # what an old comparison variant had, for code that reads setups as variants
    @property
    def run_id(self) -> str | None:
        """The training run of the setup's model, None for a base model."""
        return self.model.run_id

    @property
    def shots(self) -> int:
        return self.prompt.shots

    @property
    def fewshot_set(self) -> str | None:
        return self.prompt.fewshot_set

    @property
    def constrained(self) -> bool:
        return self.prompt.constrained

    @property
    def collection(self) -> str | None:
        return self.retrieval.collection

    @property
    def top_k(self) -> int:
        return self.retrieval.top_k

    @property
    def parts(self) -> dict[str, str]:
        """The setup's parts in short words, for grouping tables and charts."""
        retrieval = self.retrieval.short
        if self.prompt.technique == "react" and self.retrieval.collection:
            retrieval = f"search tool in {self.retrieval.collection}"  # no passages up front
        return {"model": self.model.short, "prompt": self.prompt.short, "retrieval": retrieval}

    def describe(self) -> str:
        """The setup in one line: 'run 2026-x (LoRA) + 4-shot + retrieval from handbook (k=3)'."""
        model = self.model.short
        if self.model.run_id:
            model += f" ({_run_method(self.model.run_id)})"
        words = [model, self.prompt.short]
        if self.retrieval.collection and self.prompt.technique == "react":
            words[-1] += f" (searching {self.retrieval.collection})"
        elif self.retrieval.collection:
            words.append(f"retrieval from {self.retrieval.collection} (k={self.retrieval.top_k})")
        return " + ".join(words)

    def to_dict(self) -> dict[str, Any]:
        """Nested dicts with only the settings that differ from the defaults and apply."""
        data: dict[str, Any] = {"name": self.name,
                                "model": _non_default(self.model, ("source",)),
                                "prompt": _prompt_dict(self.prompt)}
        if self.retrieval.collection is not None:
            data["retrieval"] = _non_default(self.retrieval, ("collection",))
        if self.generation is not None:
            data["generation"] = self.generation.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Setup:
        """A setup from its saved JSON; unknown keys and wrong types are ConfigErrors."""
        if not isinstance(data, dict):
            raise ConfigError(f"A setup must be a JSON object, got {type(data).__name__}.",
                              'Write {"name": ..., "model": {...}, "prompt": {...}}.')
        check_known_settings(cls, data, "setup")
        if "name" not in data:
            raise ConfigError("A setup has no name.", 'Give it a "name".')
        if data.get("generation") is not None and not isinstance(data["generation"], dict):
            raise ConfigError("Setup generation must be an object of generation settings.",
                              'Write e.g. "generation": {"max_new_tokens": 64}.')
        return cls(**data)


def _part(cls: type, data: dict[str, Any], what: str) -> Any:
    check_known_settings(cls, data, f"setup {what}")
    return cls(**data)


def _run_method(run_id: str) -> str:
    """A run's method as people write it (LoRA, QLoRA, full), 'tuned' when unreadable."""
    try:
        from core.runs import get_run

        method = get_run(run_id).config.get("method") or ""
    except (LabError, OSError, ValueError):
        return "tuned"
    return {"lora": "LoRA", "qlora": "QLoRA", "ia3": "IA3", "prompt-tuning": "prompt tuning",
            "full": "full fine-tuning"}.get(method, "tuned")


# -- old comparison variants -------------------------------------------------------------------

def setup_from_variant(variant: Any, model: str = DEFAULT_MODEL, engine: str = "auto",
                       task_collection: str | None = None) -> Setup:
    """The setup an old comparison variant (a ``core.compare.VariantSpec`` or its saved dict)
    stands for, on the comparison's ``model`` and ``engine``; an old RAG variant without a
    collection searched its task's (``task_collection``)."""
    if isinstance(variant, dict):
        from core.compare import VariantSpec, variant_settings

        check_known_settings(VariantSpec, variant, "variant")
        variant = VariantSpec(**variant_settings(variant))
    kind, choice = variant.kind, ModelChoice(source=model, engine=engine)
    prompt, retrieval = PromptChoice(), RetrievalChoice()
    if kind == "few-shot":
        prompt = PromptChoice("few-shot", shots=variant.shots, fewshot_set=variant.fewshot_set)
    elif kind == "cot":
        prompt = PromptChoice("cot")
    elif kind == "structured":
        prompt = PromptChoice("structured", shots=variant.shots, constrained=variant.constrained)
    elif kind == "rag":
        collection = variant.collection or task_collection
        if not collection:
            raise ConfigError(f"RAG variant {variant.name!r} needs a document collection, and "
                              "its task has none.", "Name a collection for the variant, or use "
                              "a question-answering task such as handbook-qa.")
        retrieval = RetrievalChoice(collection, variant.top_k)
    elif kind == "fine-tuned":
        choice = ModelChoice(source=model, engine=engine, run_id=variant.run_id)
    return Setup(variant.name, choice, prompt, retrieval)


# -- rules that need the task --------------------------------------------------------------------

def check_setup_for_task(setup: Setup, kind: str, has_schema: bool) -> None:
    """Refuse a setup that cannot answer a task of ``kind`` (classification, json, numeric, qa)."""
    technique = setup.prompt.technique
    if technique == "react" and kind not in ("numeric", "qa"):
        raise ConfigError(f"Setup {setup.name!r}: ReAct answers questions with tools (arithmetic, "
                          f"lookups); a {kind} task has no use for them.",
                          "Use ReAct on shop-math or a question task; use zero-shot or few-shot "
                          "here.")
    if setup.prompt.calibrate and kind != "classification":
        raise ConfigError(f"Setup {setup.name!r}: calibration corrects label scores, and this "
                          f"task ({kind}) has no labels.", "Turn calibrate off.")
    if technique == "structured" and not has_schema:
        raise ConfigError(f"Setup {setup.name!r}: structured output needs the task's JSON Schema, "
                          "and this task has none.",
                          "Use structured output on a JSON task such as event-extraction.")


# -- saved setups ------------------------------------------------------------------------------

def _setups_dir() -> Path:
    return data_dir() / "setups"


def save_setup(setup: Setup) -> Path:
    """Write the setup as ``setups/<name>.json`` (atomically); its name must be a usable file
    name (letters, digits, spaces, '-', '_', '.')."""
    name = check_name(setup.name, "setup")
    path = _setups_dir() / f"{name}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, setup.to_dict())
    except OSError as exc:
        raise storage_error(exc, f"save the setup '{name}'") from exc
    return path


def list_setups() -> list[str]:
    """The names of the saved setups, sorted."""
    folder = _setups_dir()
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def load_setup(name: str) -> Setup:
    """A saved setup; a missing or damaged one is a ConfigError naming it."""
    path = _setups_dir() / f"{check_name(name, 'setup')}.json"
    if not path.is_file():
        raise ConfigError(f"There is no saved setup named {name!r}.",
                          f"Pick one of: {', '.join(list_setups()) or '(none saved yet)'}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"The saved setup {name!r} ({path}) is damaged or unreadable: {exc}",
                          "Delete it and save it again.") from None
    try:
        return Setup.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"The saved setup {name!r} ({path}) is damaged: {exc.problem}",
                          exc.fix or "Delete it and save it again.") from None


def delete_setup(name: str) -> None:
    """Remove a saved setup; a missing one is a ConfigError."""
    path = _setups_dir() / f"{check_name(name, 'setup')}.json"
    if not path.is_file():
        raise ConfigError(f"There is no saved setup named {name!r}.", "Nothing to delete.")
    try:
        path.unlink()
    except OSError as exc:
        raise storage_error(exc, f"delete the setup '{name}'") from exc
