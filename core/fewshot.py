"""Few-shot sets: pick, order and budget in-context examples; measure how many are worth it.

A ``FewShotSet`` is a named, saved recipe (instruction, template, labels and
the ordered examples) in ``$PROMPTTUNE_HOME/fewshot/<name>.json``; the
Playground and the comparison read the same files. ``select_examples`` holds
the strategies (manual, random, balanced per label, most similar to the
query), ``prompt_budget`` says how much of the context window the examples
take, and ``shots_curve`` measures accuracy for k = 0, 1, 2, 4, 8.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import check_field_types, check_known_settings
from core.engines import score_labels
from core.errors import ConfigError
from core.knowledge import check_name
from core.metrics import wilson  # noqa: F401 - the shots curve's interval (tests import it here)
from core.paths import data_dir, storage_error, write_json
from core.prompting import (DEFAULT_TEMPLATE, EXAMPLE_SEPARATOR, Example, PromptRecipe,
                            build_prompt, check_template, normal_text, render, same_text)

STRATEGIES = ("manual", "random", "balanced", "similar")
DEFAULT_KS = (0, 1, 2, 4, 8)
PLACEHOLDER_QUERY = "(your input here)"


@dataclass(frozen=True)
class FewShotSet:
    """A saved, named set of worked examples with the prompt they go in."""

    name: str
    examples: tuple[Example, ...]
    instruction: str = ""
    template: str = DEFAULT_TEMPLATE
    labels: tuple[str, ...] = field(default_factory=tuple)
    task: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.examples, (list, tuple)):  # a saved set gives dicts
            object.__setattr__(self, "examples", tuple(
                _example(e) if isinstance(e, dict) else e for e in self.examples))
        check_field_types(self, "few-shot set")
        object.__setattr__(self, "name", check_name(self.name, "few-shot set"))
        check_template(self.template)
        object.__setattr__(self, "labels", tuple(self.labels))
        if not self.examples:
            raise ConfigError("The few-shot set has no examples.",
                              "Add at least one example before saving it.")

    def recipe(self, technique: str = "few-shot", k: int | None = None) -> PromptRecipe:
        """The set as a prompt recipe (its first ``k`` examples, all by default)."""
        return PromptRecipe(technique=technique, instruction=self.instruction,
                            template=self.template, labels=self.labels,
                            examples=self.examples[:k] if k is not None else self.examples)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "instruction": self.instruction, "template": self.template,
                "labels": list(self.labels), "task": self.task,
                "examples": [e.__dict__ for e in self.examples]}


def _example(data: dict[str, Any]) -> Example:
    """An Example from its saved form; a key that is not input or label is a ConfigError."""
    check_known_settings(Example, data, "example")
    return Example(data.get("input", ""), data.get("label", ""))


def _sets_dir() -> Path:
    """The folder of saved sets (not created here: a read-only data folder still lists none)."""
    return data_dir() / "fewshot"


def save_set(fewshot: FewShotSet) -> Path:
    """Write the set (atomically: a failed write leaves the old one and no staging file, and
    is a StorageError naming the set, why and the fix)."""
    path = _sets_dir() / f"{fewshot.name}.json"
    what = f"save the few-shot set '{fewshot.name}'"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, fewshot.to_dict())
    except OSError as exc:
        raise storage_error(exc, what) from exc
    return path


def list_sets() -> list[str]:
    folder = _sets_dir()
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def load_set(name: str) -> FewShotSet:
    """A saved set; a missing, unreadable or damaged file is a ConfigError naming it."""
    path = _sets_dir() / f"{check_name(name, 'few-shot set')}.json"
    if not path.is_file():
        raise ConfigError(f"There is no saved few-shot set named {name!r}.",
                          "Save one in the Few-shot builder, or pick another.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("it does not hold a set's settings")
        return FewShotSet(**{**data, "name": data.get("name", name)})
    except ConfigError as exc:
        raise ConfigError(f"The saved few-shot set {name!r} ({path}) is damaged: {exc.problem}",
                          "Delete it and save it again from the Few-shot builder.") from None
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        raise ConfigError(f"The saved few-shot set {name!r} ({path}) is damaged or unreadable: "
                          f"{exc}", "Delete it and save it again from the Few-shot builder.") \
            from None


def delete_set(name: str) -> None:
    path = _sets_dir() / f"{check_name(name, 'few-shot set')}.json"
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise storage_error(exc, f"delete the few-shot set '{name}'") from exc


def without_query(pool: list[Example], query: str | None) -> list[Example]:
    """``pool`` less every example whose input is ``query``: a query must never be one of its
    own shots, or the model is asked about an example whose answer it was just shown."""
    if not query or not query.strip():
        return list(pool)
    return [e for e in pool if normal_text(e.input) != normal_text(query)]


def select_examples(pool: list[Example], strategy: str, k: int, seed: int = 0,
                    query: str | None = None) -> list[Example]:
    """``k`` examples of ``pool`` by ``strategy``, never one whose input is ``query`` (k is taken
    from the rest); for ``similar`` the most similar comes last, nearest the query."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"Unknown selection strategy {strategy!r}.",
                          f"Use one of {', '.join(STRATEGIES)}.")
    if not pool:
        raise ConfigError("There are no examples to choose from.",
                          "Add examples, load a sample task or upload a file.")
    if strategy == "similar" and (not query or not query.strip()):
        raise ConfigError("'Most similar' needs a query to compare the examples with.",
                          "Type the input you want to ask about.")
    pool = without_query(pool, query)
    k = max(0, min(k, len(pool)))
    if k == 0:
        return []
    if strategy == "manual":
        return list(pool[:k])
    rng = random.Random(seed)
    if strategy == "random":
        return rng.sample(pool, k)
    if strategy == "balanced":
        return _balanced(pool, k, rng)
    from core.embeddings import similarity

    scores, _ = similarity(query, [e.input for e in pool])
    order = sorted(range(len(pool)), key=lambda i: scores[i])
    return [pool[i] for i in order[len(pool) - k:]]


def _balanced(pool: list[Example], k: int, rng: random.Random) -> list[Example]:
    """Labels in turn (in a shuffled label order), each label's examples shuffled."""
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in pool:
        by_label[example.label].append(example)
    for group in by_label.values():
        rng.shuffle(group)
    labels = sorted(by_label)
    rng.shuffle(labels)
    picked = [group[i] for i in range(max(map(len, by_label.values())))
              for group in (by_label[label] for label in labels) if i < len(group)]
    return picked[:k]


@dataclass(frozen=True)
class Preview:
    """The builder's preview: the shots, the query they go with, and where the query came from."""

    shots: tuple[Example, ...]
    query: str
    origin: str          # "" when typed; else where the default came from
    dropped: bool        # the query was one of the candidate shots, so it was left out


def preview_selection(pool: list[Example], manual: list[Example], strategy: str, k: int,
                      seed: int = 0, typed: str = "", task: str | None = None) -> Preview:
    """The shots for the preview and its query: the typed one, else an input of ``task``'s
    test split that is not in the table, else the table's last example that is no shot."""
    candidates = manual if strategy == "manual" else pool
    k = len(manual) if strategy == "manual" else k
    query, origin = typed.strip(), ""
    if not query and task:
        query, origin = _test_query(task, pool)
    if not query:
        first = select_examples(candidates, strategy, k, seed) if strategy != "similar" else []
        query, origin = _table_query(pool, first)
    shots = select_examples(candidates, strategy, k, seed, query) if candidates else []
    dropped = any(same_text(e.input, query) for e in candidates)
    return Preview(tuple(shots), query, origin, dropped)


def _test_query(task: str, pool: list[Example]) -> tuple[str, str]:
    from core.tasks import load_task

    sample = load_task(task)
    taken = {normal_text(e.input) for e in pool}
    for number, example in enumerate(sample.examples("test"), 1):
        if normal_text(example.input) not in taken:
            return example.input, (f"test example {number} of {sample.title}, held out of the "
                                   "table's examples")
    return "", ""


def _table_query(pool: list[Example], shots: list[Example]) -> tuple[str, str]:
    used = {normal_text(e.input) for e in shots}
    for example in reversed(pool):
        if normal_text(example.input) not in used:
            return example.input, "the table's last example that is not one of the shots"
    # every row is a shot: a placeholder, rather than dropping a shot to ask about it
    return PLACEHOLDER_QUERY, "every example in the table is a shot, so the query is a placeholder"


@dataclass(frozen=True)
class PromptBudget:
    """How the prompt's tokens are spent, against the model's context window."""

    instruction_tokens: int
    example_tokens: tuple[int, ...]
    query_tokens: int
    answer_tokens: int
    window: int

    @property
    def total(self) -> int:
        return self.instruction_tokens + sum(self.example_tokens) + self.query_tokens + self.answer_tokens

    @property
    def fits(self) -> bool:
        return self.total <= self.window

    def fitting_examples(self) -> int:
        """How many of the examples fit, in order, with the rest of the prompt."""
        room = self.window - self.instruction_tokens - self.query_tokens - self.answer_tokens
        used = 0
        for n, tokens in enumerate(self.example_tokens):
            used += tokens
            if used > room:
                return n
        return len(self.example_tokens)


def prompt_budget(count_tokens: Callable[[str], int], recipe: PromptRecipe, query: str,
                  window: int, answer_tokens: int = 16) -> PromptBudget:
    """Token counts of each part of the few-shot prompt for ``query``."""
    instruction = count_tokens(recipe.instruction.strip() + EXAMPLE_SEPARATOR) \
        if recipe.instruction.strip() else 0
    examples = tuple(count_tokens(f"{render(recipe.template, e.input)} {e.label}{EXAMPLE_SEPARATOR}")
                     for e in recipe.examples)
    return PromptBudget(instruction, examples, count_tokens(render(recipe.template, query or " ")),
                        answer_tokens, window)


def check_fits(budget: PromptBudget) -> None:
    """Refuse a few-shot prompt that overflows the context window, saying how many fit."""
    if not budget.fits:
        raise ConfigError(
            f"The few-shot prompt needs {budget.total:,} tokens but the model reads "
            f"{budget.window:,}.",
            f"Use at most {budget.fitting_examples()} of the {len(budget.example_tokens)} examples, "
            "shorten them, or pick a model with a longer context.")


@dataclass(frozen=True)
class ShotPoint:
    """Accuracy with ``k`` examples on the validation slice, and what it cost."""

    k: int
    accuracy: float
    correct: int
    n: int
    mean_prompt_tokens: float
    seconds: float
    used: int | None = None   # examples really in the prompt: fewer than k when the pool is small

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% Wilson interval of the accuracy: on 30 examples a point is +-0.15 or so."""
        return wilson(self.correct, self.n)


def validation_split(examples: list[Example], wanted: int, shots: int = max(DEFAULT_KS),
                     least: int = 5) -> tuple[list[Example], list[Example], str | None]:
    """(pool, validation, note): the last ``wanted`` rows for validation, fewer when that would
    leave fewer than ``shots`` to draw the examples from; the note says what was shrunk."""
    n = len(examples)
    if n < least + 1:
        raise ConfigError(f"The table has {n} examples: too few to measure (at least {least} to "
                          "validate on and 1 to draw examples from).",
                          "Load more examples or add rows.")
    keep = min(shots, n - least)  # the pool: enough for the largest k where the rows allow
    size = max(least, min(wanted, n - keep))
    if size == wanted:
        return examples[:-size], examples[-size:], None
    note = (f"The table has {n} examples: too few to keep {wanted} for validation and still draw "
            f"{shots} examples. Using the last {size} rows for validation and the other {n - size} "
            "as the pool" + (f" (k above {n - size} uses all {n - size})." if n - size < shots
                             else "."))
    return examples[:-size], examples[-size:], note


def hold_out(pool: list[Example], wanted: int,
             task: str | None = None) -> tuple[list[Example], list[Example], str | None]:
    """(pool, validation, note) for the shots curve: with a ``task``, its validation split
    (the whole table stays the pool; the note says when the split is smaller than
    ``wanted``); without one, the table's last rows (``validation_split``)."""
    if not task:
        return validation_split(pool, wanted)
    from core.tasks import load_task

    validation = load_task(task).examples("validation", limit=wanted)
    if not validation:
        raise ConfigError(f"The task {task} has no validation examples to measure on.",
                          "Add a validation split to the task, or upload the examples as a "
                          "file so that the table's last rows are held out.")
    note = None if len(validation) == wanted else \
        f"The validation split of {task} has {len(validation)} examples: all are used."
    return pool, validation, note


def shots_curve(engine, pool: list[Example], validation: list[Example], labels: tuple[str, ...],
                instruction: str, template: str, ks: tuple[int, ...] = DEFAULT_KS,
                strategy: str = "balanced", seed: int = 0,
                progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> list[ShotPoint]:
    """Accuracy on ``validation`` for each k, by label log-likelihood (the same examples for
    every query, drawn once per k by ``strategy``)."""
    if len(labels) < 2:
        raise ConfigError("'How many shots?' needs a classification task with at least two labels.",
                          "Set the labels (e.g. POSITIVE, NEGATIVE, MIXED).")
    if not validation:
        raise ConfigError("The validation slice is empty.", "Use at least a few examples.")
    # the same shots for every query, so none may be a validation input
    asked = {normal_text(e.input) for e in validation}
    pool = [e for e in pool if normal_text(e.input) not in asked]
    if not pool and any(ks):
        raise ConfigError("Every example of the pool is also a validation input.",
                          "Keep the validation examples out of the table, or load more.")
    points = []
    for step, k in enumerate(ks):
        if should_stop is not None and should_stop():
            break
        shots = select_examples(pool, strategy if strategy != "similar" else "balanced", k, seed) \
            if k else []
        recipe = PromptRecipe("few-shot" if shots else "zero-shot", instruction, template,
                              tuple(shots), labels=labels)
        prompts = [build_prompt(recipe, ex.input).text for ex in validation]
        started = time.perf_counter()
        # every written form of a label, summed: the reading Compare and the Playground count
        scores = score_labels(engine, prompts, labels, " ")
        seconds = time.perf_counter() - started
        predicted = [max(row, key=lambda s: s.probability).label for row in scores]
        correct = sum(p == ex.label for p, ex in zip(predicted, validation))
        tokens = sum(engine.count_tokens(p) for p in prompts) / len(prompts)
        points.append(ShotPoint(k, correct / len(validation), correct, len(validation), tokens,
                                seconds, len(shots)))
        if progress is not None:
            progress(step + 1, len(ks))
    return points
