"""Reading an answer back: why it is empty.

The pages show an answer beside its figures; ``empty_answer_reason`` gives the
sentence that goes with a blank one, so "3 answer tokens · finish: stop" is
never shown without a word of why. (Whether an answer matches a task's
reference answer is ``core.reference``.)
"""

from __future__ import annotations


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
