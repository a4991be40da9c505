"""Reference answers for what the Playground asks: is this input one of a sample task's
examples, and does the model's answer match the example's answer?

The Playground's inputs are often a task's own examples (a review of the sentiment task,
a question of the shop-math or handbook sets). When one is, the user should see the
answer the data set holds beside the model's, and whether they match, judged the way the
Compare page judges that kind of task: the label for classification, the number for
numeric answers, the JSON value for structured ones, the reference's words contained in
the answer for questions on documents.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.metrics import contains_answer, normalise as normalise_text
from core.prompting import check_structured, first_label, normalise_number
from core.tasks import available_splits, list_tasks, load_split, load_task

VERDICTS = ("right", "partly", "wrong", "no answer")


@dataclass(frozen=True)
class Reference:
    """The example of a task that an input is, with its answer."""

    task: str
    kind: str
    split: str
    example_id: str
    answer: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """Whether an answer matches its reference, and in words how it was judged."""

    outcome: str   # one of VERDICTS
    detail: str

    @property
    def right(self) -> bool:
        return self.outcome == "right"


def _key(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def find_reference(text: str, tasks: list[str] | None = None) -> Reference | None:
    """The first example, in ``tasks`` (default: every sample task) and any split, whose input
    is ``text`` (case and spacing aside); None when the input is no task's example."""
    key = _key(text)
    if not key:
        return None
    for name in tasks if tasks is not None else list_tasks():
        try:
            task = load_task(name)
        except ConfigError:
            continue
        for split in available_splits(name):
            for i, row in enumerate(load_split(name, split)):
                if _key(row.get(task.input_field, "")) == key:
                    return Reference(name, task.kind, split, str(row.get("id", f"row {i + 1}")),
                                     task.answer_text(row), task.labels)
    return None


def tasks_of(kinds: tuple[str, ...], collection: str | None = None) -> list[str]:
    """The tasks (sample and the user's) of these kinds (and, for question tasks, on this collection)."""
    names = []
    for name in list_tasks():
        try:
            task = load_task(name)
        except ConfigError:  # a damaged task of the user's: its own page names it
            continue
        if task.kind in kinds and (collection is None or task.collection in (None, collection)):
            names.append(name)
    return names


def judge(reference: Reference, answer: Any) -> Verdict:
    """Whether ``answer`` (the text the model wrote, or what was read out of it) matches."""
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return Verdict("no answer", f"The reference answer is {reference.answer}; the model "
                                    "gave none to compare.")
    text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    if reference.kind == "classification":
        return _judge_label(reference, text)
    if reference.kind == "numeric":
        return _judge_number(reference, text)
    if reference.kind == "json":
        return _judge_json(reference, answer)
    return _judge_text(reference, text)


def _judge_label(reference: Reference, text: str) -> Verdict:
    label = first_label(text, reference.labels) or _json_label(text, reference.labels)
    if label is None:
        return Verdict("wrong", f"The answer names none of the labels ({', '.join(reference.labels)}).")
    if label == reference.answer:
        return Verdict("right", f"The answer's label, {label}, is the reference's.")
    return Verdict("wrong", f"The answer says {label}; the reference is {reference.answer}.")


def _json_label(text: str, labels: tuple[str, ...]) -> str | None:
    check = check_structured(text, {})
    value = check.value.get("label") if check.parsed and isinstance(check.value, dict) else None
    return next((lab for lab in labels if isinstance(value, str) and value.casefold() == lab.casefold()),
                None)


NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _judge_number(reference: Reference, text: str) -> Verdict:
    numbers = NUMBER.findall(text)
    if not numbers:
        return Verdict("wrong", f"The answer holds no number; the reference is {reference.answer}.")
    # several numbers: an expression left unworked ("17 * 23 + 348"), or a working that ends
    # on its result ("391 + 29 = 420"), which the last number gives
    said = normalise_number(numbers[-1])
    try:
        same = abs(float(said) - float(normalise_number(reference.answer))) < 1e-6
    except ValueError:
        same = False
    if same:
        return Verdict("right", f"The answer's number, {said}, is the reference's.")
    if len(numbers) > 1:
        return Verdict("wrong", f"The answer is not one number but {text.strip()[:60]!r}; the "
                                f"reference is {reference.answer}.")
    return Verdict("wrong", f"The answer's number is {said}; the reference is {reference.answer}.")


def _judge_json(reference: Reference, answer: Any) -> Verdict:
    expected = json.loads(reference.answer)
    check = check_structured(answer, {}) if isinstance(answer, str) else None
    value = check.value if check is not None else answer
    if check is not None and not check.parsed:
        return Verdict("wrong", "The answer is not a JSON object, so it cannot match the reference.")
    if value == expected:
        return Verdict("right", "Every field matches the reference.")
    if isinstance(value, dict) and isinstance(expected, dict):
        differ = [k for k in sorted(set(expected) | set(value)) if value.get(k) != expected.get(k)]
        same = len(set(expected)) - len([k for k in differ if k in expected])
        shown = ", ".join(f"{k}: {json.dumps(value.get(k))} (reference {json.dumps(expected.get(k))})"
                          for k in differ[:4])
        outcome = "partly" if same > 0 else "wrong"
        return Verdict(outcome, f"{same} of {len(expected)} fields match; these differ: {shown}.")
    return Verdict("wrong", "The answer's JSON differs from the reference.")


def _judge_text(reference: Reference, text: str) -> Verdict:
    if contains_answer(text, reference.answer):
        return Verdict("right", "The answer contains the reference's words.")
    found, wanted = _shared_words(text, reference.answer)
    if found == wanted:  # "costs €349 and weighs 2,140 g" for "€349, 2,140 g"
        return Verdict("right", "The answer holds every word of the reference.")
    if found:
        return Verdict("partly", f"The answer holds {found} of the reference's {wanted} words, "
                                 "not all of them.")
    return Verdict("wrong", "The answer does not contain the reference's words.")


def _shared_words(text: str, reference: str) -> tuple[int, int]:
    """(how many of the reference's words the answer holds, how many it has)."""
    wanted = normalise_text(reference).split()
    said = set(normalise_text(text).split())
    return sum(word in said for word in wanted), len(wanted)
