"""What every engine returns: completions with their figures, label scores, streams.

These types know nothing of the engine that filled them, so a page can show a
``Completion`` from transformers and, later, from llama.cpp the same way.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from core.config import GenerationParams
from core.errors import ConfigError

FINISH_REASONS = ("stop", "length", "cancelled")


@dataclass(frozen=True)
class Completion:
    """One answer and the figures a user sees beside it."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    finish_reason: str
    engine: str
    model: str
    time_to_first_token_s: float | None = None
    seed: int | None = None  # what sampling used: given, or drawn for this call; None if greedy

    @property
    def tokens_per_s(self) -> float:
        """Answer tokens per second of the whole wall time, prompt processing included (what
        History has always stored); ``decode_tokens_per_s`` is the decoding speed alone."""
        return self.completion_tokens / self.latency_s if self.latency_s > 0 else 0.0

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Decoding speed, as llama.cpp's "eval" figure: see ``decode_speed``."""
        return decode_speed(self.completion_tokens, self.latency_s, self.time_to_first_token_s)

    @property
    def prompt_tokens_per_s(self) -> float | None:
        """Prompt-processing speed, as llama.cpp's "prompt eval" figure: see ``prompt_speed``."""
        return prompt_speed(self.prompt_tokens, self.time_to_first_token_s)

    def figures(self) -> dict[str, Any]:
        """The figures without the text, speeds rounded (None where they are unknown)."""
        data = asdict(self)
        data.pop("text")
        data["tokens_per_s"] = round(self.tokens_per_s, 2)
        for name in ("decode_tokens_per_s", "prompt_tokens_per_s"):
            value = getattr(self, name)
            data[name] = round(value, 2) if value is not None else None
        return data


def decode_speed(completion_tokens: int, latency_s: float, first_token_s: float | None) -> float | None:
    """Answer tokens after the first, per second after the first token: the model's decoding
    speed, without the prompt processing that the wait for the first token holds. None where
    it cannot be told: the first token's time unknown, or nothing decoded after it."""
    if first_token_s is None or completion_tokens < 2 or latency_s - first_token_s <= 0:
        return None
    return (completion_tokens - 1) / (latency_s - first_token_s)


def prompt_speed(prompt_tokens: int, first_token_s: float | None) -> float | None:
    """Prompt tokens per second of the wait for the first token (the prompt is read then,
    and the first token sampled). None where the first token's time is unknown."""
    if first_token_s is None or first_token_s <= 0 or prompt_tokens <= 0:
        return None
    return prompt_tokens / first_token_s


@dataclass(frozen=True)
class CandidateScore:
    """How likely the model finds one candidate answer after the prompt."""

    candidate: str
    logprob: float        # sum of the candidate's token log-probabilities
    n_tokens: int
    probability: float    # normalised over the candidates given


@dataclass(frozen=True)
class LabelScore:
    """How likely the model finds one label, in whichever form it would write it."""

    label: str
    probability: float                 # summed over the forms, normalised over the labels
    forms: tuple[CandidateScore, ...]  # each written form (" Mixed", " MIXED"...), most likely first

    @property
    def likeliest_form(self) -> str:
        """The form of the label the model finds most likely, as it would write it."""
        return self.forms[0].candidate


def normalise(candidates: list[str], logprobs: list[float], n_tokens: list[int]) -> list[CandidateScore]:
    """Attach probabilities that sum to one over the candidates (softmax of log-probs)."""
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    return [CandidateScore(c, lp, n, w / total)
            for c, lp, n, w in zip(candidates, logprobs, n_tokens, weights)]


# no token of the lab's models spans more characters than this (measured: SmolLM2's longest is
# 81, a newline and 80 spaces; Gemma 3's 31), so a prompt longer than this many characters per
# token of the window can never fit, whatever it says
MAX_CHARS_PER_TOKEN = 128


def check_prompt_size(prompt: str, info) -> None:
    """Refuse, before any tokenizer reads it, a prompt too long to fit the context window in any
    tokenization (tokenizing 50 MB takes minutes and gigabytes, only to be refused)."""
    from core.errors import PromptTooLongError

    window = info.context_window
    if len(prompt) > window * MAX_CHARS_PER_TOKEN:
        raise PromptTooLongError(
            f"The prompt is {len(prompt):,} characters: far more than {info.title} can read, "
            f"{window:,} tokens in all (no token spans more than {MAX_CHARS_PER_TOKEN} "
            "characters, so it cannot fit).",
            f"Shorten the prompt to well under {window * 4:,} characters (English text runs "
            "about 4 characters a token), or pick a model with a longer context.")


def check_prompt(prompt: str, n_tokens: int, params, info) -> None:
    """Refuse an empty prompt, or one that with its answer would overflow the window."""
    from core.errors import ConfigError, PromptTooLongError

    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError("The prompt is empty.", "Type a prompt for the model to continue.")
    window = info.context_window
    if n_tokens + params.max_new_tokens > window:
        over = n_tokens + params.max_new_tokens - window
        raise PromptTooLongError(
            f"The prompt is {n_tokens} tokens and asks for {params.max_new_tokens} new ones, "
            f"but {info.title} reads at most {window} tokens in all ({over} too many).",
            f"Shorten the prompt by {over} tokens or lower max new tokens.")


def call_seed(params: GenerationParams) -> int | None:
    """The seed one call samples with: the one asked for, or without one a fresh random
    seed per call (so two calls differ, and the answer reports it so it can be redone).
    Greedy decoding needs none."""
    if params.seed is not None:
        return params.seed
    return None if params.greedy else secrets.randbelow(2**32)


# keywords that grammar compilers (llama.cpp's GBNF converter, xgrammar) support only in
# part: a schema that uses them is valid, but may not become a grammar
PARTLY_SUPPORTED = ("pattern", "patternProperties", "format", "not", "if", "then", "else",
                    "dependentSchemas", "dependentRequired", "unevaluatedProperties",
                    "unevaluatedItems", "contains", "uniqueItems", "multipleOf", "$dynamicRef")


def grammar_error(schema: str, exc: Exception, engine: str) -> ConfigError:
    """The ConfigError for a valid JSON Schema that ``engine`` could not compile to a grammar,
    naming the schema features that are the likely cause."""
    found = sorted(_schema_features(json.loads(schema), ""))
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    detail = re.sub(r"^\[[\d:]+\]\s*\S+:\d+:\s*", "", detail)  # xgrammar's "[time] file.cc:83: "
    detail = detail.rstrip(".")
    uses = f" It uses {', '.join(found)}, which grammar compilers support only in part." if found else ""
    return ConfigError(
        f"The {engine} engine cannot turn this JSON Schema into a grammar for constrained "
        f"decoding ({type(exc).__name__}: {detail}).{uses}",
        "Simplify the schema (e.g. anchor a `pattern` as ^...$ and drop lookahead or lookbehind "
        "from it, or leave the feature out), or turn constrained decoding off: answers are "
        "still checked against the schema afterwards.")


def _schema_features(node, path: str) -> set[str]:
    """``keyword at path`` for every partly supported keyword in a schema."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in PARTLY_SUPPORTED and not path.endswith("properties"):
                found.add(f"`{key}` at {path or 'the top level'}")
            found |= _schema_features(value, f"{path}/{key}".lstrip("/"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found |= _schema_features(value, f"{path}/{i}")
    return found


def cut_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop sequence; say whether one was found."""
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[:min(hits)], True) if hits else (text, False)


class StopFilter:
    """Streams text while holding back what might be the start of a stop sequence."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.pending = ""
        self.stopped = False

    def feed(self, chunk: str) -> str:
        """Add a chunk; return the part that is safe to show now."""
        if self.stopped:
            return ""
        self.pending += chunk
        text, found = cut_at_stop(self.pending, self.stops)
        if found:
            self.stopped = True
            self.pending = ""
            return text
        hold = max((k for s in self.stops for k in range(1, len(s))
                    if self.pending.endswith(s[:k])), default=0)
        ready, self.pending = self.pending[:len(self.pending) - hold], self.pending[len(self.pending) - hold:]
        return ready

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return "" if self.stopped else rest


class TokenStream:
    """An iterator of text chunks; ``completion`` holds the figures once it is exhausted.

    ``close()``, or a consumer that stops iterating early, asks the engine to
    stop generating and closes the engine's own generator, so an abandoned
    stream frees the cores and the model's lock at once (a llama.cpp stream
    holds its engine's lock for as long as its generator is open).
    """

    def __init__(self, chunks: Iterator[str], cancel: threading.Event,
                 finish: Callable[[str, float | None, bool], Completion]) -> None:
        self._chunks = chunks
        self._cancel = cancel
        self._finish = finish
        self._running: Iterator[str] | None = None
        self.completion: Completion | None = None

    def __iter__(self) -> Iterator[str]:
        self._running = self._run()
        return self._running

    def _run(self) -> Iterator[str]:
        import time

        first_at: float | None = None
        parts: list[str] = []
        exhausted = False
        try:
            for chunk in self._chunks:
                if chunk:
                    first_at = first_at or time.perf_counter()
                    parts.append(chunk)
                    yield chunk
            exhausted = True
        finally:
            # the consumer stopped it: close() was called, or it stopped iterating
            cancelled = self._cancel.is_set() or not exhausted
            self._cancel.set()
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()  # let the engine release its model at once
            self.completion = self._finish("".join(parts), first_at, cancelled)

    def close(self) -> None:
        """Stop the stream now: the engine stops generating and releases its model."""
        self._cancel.set()
        try:
            if self._running is not None:
                self._running.close()  # runs the finally blocks that release the engine
        except ValueError:
            return  # it is being iterated in another thread, which the cancel flag stops
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        if self.completion is None:  # closed before the first chunk was asked for
            self.completion = self._finish("", None, True)

    @property
    def text(self) -> str:
        return self.completion.text if self.completion else ""
