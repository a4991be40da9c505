"""Which engine serves a model: llama.cpp or transformers, behind one interface.

Two concrete classes, no registry: ``LlamaCppEngine`` for GGUF models on the
CPU (three to seven times faster here), ``TransformersEngine`` for any Hugging
Face model, for GPUs and for training. ``engine="auto"`` picks llama.cpp for the
embedded models on the CPU where llama-cpp-python is installed, and always for a
local .gguf file: transformers can only read one by dequantizing every tensor on
each load (a minute here), so the lab does not offer that path.
"""

from __future__ import annotations

import importlib.util
from typing import Protocol

from core.chat import Message
from core.config import GenerationParams, ModelSpec
from core.errors import ModelError
from core.generation import CandidateScore, Completion, LabelScore, TokenStream
from core.models import ModelInfo, resolve_device


class Engine(Protocol):
    """What every page and the CLI may ask of an engine."""

    name: str
    info: ModelInfo

    def count_tokens(self, text: str) -> int: ...
    def chat_prompt(self, messages: list[Message]) -> str: ...
    def chat_stops(self) -> tuple[str, ...]: ...
    def generate(self, prompt: str, params: GenerationParams = ...) -> Completion: ...
    def generate_batch(self, prompts: list[str], params: GenerationParams = ...) -> list[Completion]: ...
    def stream(self, prompt: str, params: GenerationParams = ...) -> TokenStream: ...
    def score_candidates(self, prompt: str, candidates: list[str]) -> list[CandidateScore]: ...
    def score_batch(self, prompts: list[str], candidates: list[str],
                    batch_size: int = 16) -> list[list[CandidateScore]]: ...


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def choose_engine(spec: ModelSpec) -> str:
    """The engine ``spec`` will run on: its own choice, or for ``auto`` the fast one where it can."""
    return engine_choice(spec)[0]


def engine_choice(spec: ModelSpec) -> tuple[str, str]:
    """(engine, the reason in the user's words) for ``spec``."""
    if spec.engine != "auto":
        return spec.engine, "chosen by you"
    if spec.is_gguf and not spec.is_embedded:
        return "llama.cpp", "GGUF files run on llama.cpp"
    on_cpu = spec.device == "cpu" or (spec.device == "auto" and resolve_device("auto") == "cpu")
    if not spec.is_gguf:
        return "transformers", "Hugging Face models run on transformers"
    if not on_cpu:
        return "transformers", "the GPU runs on transformers"
    if not llama_cpp_available():
        return "transformers", "llama-cpp-python is not installed"
    if spec.adapter:
        from core.adapters import llama_cpp_support

        exportable, why = llama_cpp_support(spec.adapter)
        if not exportable:
            return "transformers", why
    return "llama.cpp", "GGUF model on a CPU: llama.cpp is 3-7x faster here"


def load_engine(spec: ModelSpec, threads: int | None = None, work: str = "generate") -> Engine:
    """Load the model of ``spec`` on the engine ``choose_engine`` names. ``work`` (generate,
    or prefill for label scoring) picks the transformers engine's dtype where it is auto."""
    name = choose_engine(spec)
    if name == "llama.cpp":
        from core.llama_engine import LlamaCppEngine

        return LlamaCppEngine.load(spec, threads)
    if spec.is_gguf and not spec.is_embedded:
        raise ModelError("The transformers engine in the lab loads safetensors folders, not "
                         "single GGUF files.", "Choose the llama.cpp engine (or auto) for this file.")
    from core.hf_engine import TransformersEngine

    return TransformersEngine.load(spec, threads, work)


def label_forms(label: str, prefix: str = " ") -> tuple[str, ...]:
    """The ways a model may write ``label`` after ``prefix``: as the task writes it, and
    Capitalised, UPPER and lower case (a model that writes "Mixed." gives " MIXED" little
    probability). Punctuation after the word needs no form of its own: the probability of
    " Mixed" already holds every way of going on after it, "." included."""
    forms: list[str] = []
    for form in (label, label.capitalize(), label.upper(), label.lower()):
        if prefix + form not in forms:
            forms.append(prefix + form)
    return tuple(forms)


def answer_prefix(prompt: str) -> str:
    """What comes before an answer's first word: nothing after a space or a new line (a chat
    turn opens on its own line), else one space ("Sentiment:" + " Mixed")."""
    return "" if not prompt or prompt[-1].isspace() else " "


def score_labels(engine: Engine, prompts: list[str], labels: tuple[str, ...] | list[str],
                 prefix: str | None = None) -> list[list[LabelScore]]:
    """Each label's probability after each prompt, summed over the forms the model may write
    it in (``label_forms``), in the order of ``labels``. ``prefix``: what precedes the
    answer; None reads it from each prompt (``answer_prefix``)."""
    leads = [answer_prefix(p) if prefix is None else prefix for p in prompts]
    results: list[list[LabelScore]] = [[] for _ in prompts]
    for lead in dict.fromkeys(leads):  # one batch per prefix (usually one in all)
        owner: dict[str, str] = {}  # a form belongs to the first label that has it
        for label in labels:
            for form in label_forms(label, lead):
                owner.setdefault(form, label)
        rows = [i for i, other in enumerate(leads) if other == lead]
        scored = engine.score_batch([prompts[i] for i in rows], list(owner))
        for i, row in zip(rows, scored):
            results[i] = [_label_score(label, [s for s in row if owner[s.candidate] == label])
                          for label in labels]
    return results


def _label_score(label: str, forms: list[CandidateScore]) -> LabelScore:
    return LabelScore(label, sum(s.probability for s in forms),
                      tuple(sorted(forms, key=lambda s: -s.probability)))
