"""Reading an answer back: why it is empty.

The pages show an answer beside its figures; ``empty_answer_reason`` gives the
sentence that goes with a blank one, so "3 answer tokens · finish: stop" is
never shown without a word of why. (Whether an answer matches a task's
reference answer is ``core.reference``.)

``answer_prompt`` is the one path from a prompt to a kept answer, for the Playground
and the CLI: generate (streamed or not), score the labels, read and judge the answer
against a reference answer, and save it in the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from core.config import GenerationParams
from core.errors import ConfigError, LabError
from core.generation import Completion, LabelScore
from core.history import record_generation
from core.prompting import extract_answer
from core.reference import Reference, Verdict, judge


def empty_answer_reason(text: str, finish_reason: str, stops: tuple[str, ...] | list[str],
                        completion_tokens: int | None = None) -> str | None:
    """Why an answer is empty, in the user's words; None when it is not empty."""
    if text.strip():
        return None
    count = f"{completion_tokens} answer token{'s' if completion_tokens != 1 else ''}"
    made = f" ({count} made and cut off)" if completion_tokens else ""
    if finish_reason == "cancelled":
        return "The generation was stopped before the model wrote a word."
    if finish_reason == "length":
        return (f"The model wrote only spaces and newlines until the token limit"
                f"{f' ({count})' if completion_tokens else ''}. "
                "Raise the limit, or end the prompt on a cue such as 'Answer:'.")
    line_stops = [s for s in stops if s.startswith("\n")]
    listed = ("the stop sequence " if len(line_stops) == 1 else "one of the stop sequences ") \
        + ", ".join(repr(s) for s in line_stops)
    advice = ("A small base model does this when the prompt's last line does not read as the "
              "start of an answer: end the prompt on a cue it can complete (e.g. 'Sentiment:'), "
              "or add worked examples (few-shot).")
    if line_stops and completion_tokens == 1:  # an end token and a one-token stop look alike
        return (f"The model's first token ended the answer: its end-of-text token, or a newline "
                f"that matches {listed}. {advice}")
    if line_stops:
        which = "it" if len(line_stops) == 1 else "them"
        return (f"The model's first token was a newline, the start of {listed}: the answer "
                f"ended before its first word{made}. {advice} Remove {which} from the stop "
                "sequences to see what it meant to write.")
    return ("The model ended its answer at once: its first token was its end-of-text token. "
            + advice)


# -- one answer: generate, score, judge, record (the Playground and the CLI) -----------------

READINGS = ("plain", "scored", "reasoning")


@dataclass(frozen=True)
class Answer:
    """One answer and what the lab read in it.

    ``readings`` are the ways the answer is read, each ``(what, said)``: the text written;
    the likeliest label where labels were scored; the final answer extracted from a
    chain of thought. ``verdicts`` judge each reading against ``reference`` (none without
    one). ``record_error``: the history could not be written (the answer stands)."""

    completion: Completion
    scores: tuple[LabelScore, ...] = ()
    readings: tuple[tuple[str, str | None], ...] = ()
    reference: Reference | None = None
    verdicts: tuple[tuple[str, Verdict], ...] = ()
    record_id: int | None = None
    record_error: LabError | None = None

    @property
    def scored_label(self) -> str | None:
        """The label scoring finds likeliest; None where no labels were scored."""
        return max(self.scores, key=lambda s: s.probability).label if self.scores else None

    @property
    def all_right(self) -> bool:
        """Every reading matches the reference (True where there is nothing to judge)."""
        return all(verdict.right for _, verdict in self.verdicts)


def answer_prompt(engine, prompt: str, params: GenerationParams, *,
                  labels: tuple[str, ...] = (), reading: str = "plain",
                  reference: Reference | None = None, record: bool = True, source: str = "ui",
                  setup: dict[str, Any] | None = None,
                  on_chunk: Callable[[str], None] | None = None) -> Answer:
    """Generate an answer to ``prompt`` (streamed to ``on_chunk`` when given), score the
    labels (``reading="scored"``), read it as ``reading`` says, judge it against
    ``reference`` and save it in the history (``record``) with ``source`` and ``setup``.

    A history that cannot be written costs the record, never the answer: the error comes
    back in ``record_error``."""
    if reading not in READINGS:
        raise ConfigError(f"Unknown way to read an answer: {reading!r}.",
                          f"Use one of {', '.join(READINGS)}.")
    completion = complete(engine, prompt, params, on_chunk)
    scores = ()
    if reading == "scored" and labels:
        from core.engines import score_labels

        scores = tuple(score_labels(engine, [prompt], labels)[0])
    readings = read_answer(completion.text, reading, labels, scores, reference)
    verdicts = tuple((what, judge(reference, said)) for what, said in readings) \
        if reference is not None else ()
    record_id, record_error = None, None
    if record:
        try:
            record_id = record_generation(prompt, params, completion, source=source, setup=setup)
        except LabError as exc:
            record_error = exc
    return Answer(completion, scores, readings, reference, verdicts, record_id, record_error)


def complete(engine, prompt: str, params: GenerationParams,
             on_chunk: Callable[[str], None] | None = None) -> Completion:
    """The completion, each piece of text handed to ``on_chunk`` as it comes (generated
    whole without one)."""
    if on_chunk is None:
        return engine.generate(prompt, params)
    stream = engine.stream(prompt, params)
    try:
        for chunk in stream:
            on_chunk(chunk)
    finally:  # a stop mid-stream (a rerun, a closed pipe) must free the engine at once
        stream.close()
    return stream.completion


def read_answer(text: str, reading: str, labels: tuple[str, ...] = (),
                scores: tuple[LabelScore, ...] = (),
                reference: Reference | None = None) -> tuple[tuple[str, str | None], ...]:
    """The readings of an answer, each ``(what, said)``, as the Playground shows and judges
    them: the final answer of a reasoning; the written answer and the scored label; else
    the answer itself (nothing for an empty answer with no reference to judge it by)."""
    if reading == "reasoning":
        numeric = reference is not None and reference.kind == "numeric"
        return (("The extracted answer", extract_answer(text, labels, numeric=numeric)),)
    if scores:
        best = max(scores, key=lambda s: s.probability).label
        return (("The answer it wrote", text), ("The scored prediction", best))
    if text.strip() or reference is not None:
        return (("The answer", text),)
    return ()
