"""The lesson on a task the user picks: which tasks it can run on, what it says on one, and
the plain verdict on the ordering it measured.

The shipped lesson (review-sentiment) keeps its presenter's script and the figures measured
for it. On any other classification task nothing of that script is quoted: the steps' notes
are written from the task itself (its title, labels and splits) and from what the lesson
measured on this machine for that task, which ``core.tour`` keeps per task in tour.json.
Where zero-shot < few-shot < fine-tuned does not hold on the measured accuracies,
``ordering_note`` says which step did not improve and by how much, instead of pretending.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError
from core.knowledge import NAME
from core.reference import tasks_of
from core.tasks import available_splits, load_split, load_task

DEFAULT_TASK = "review-sentiment"   # the shipped lesson, with its presenter's script
QUICK_N = 12                        # test rows for the one-glance zero-shot / few-shot check
MIN_COMPARE = 5                     # the fewest test examples a comparison takes
BASE_SET_NAME = "tour-4-shot"
CLICK = 0                           # a step's seconds when it has nothing to time (step 5)
ORDER = ("zero-shot", "few-shot 4")  # then the tuned variant (core.tour.TUNED)


@dataclass(frozen=True)
class Step:
    """One step of the lesson: what to click, how long it takes, what to say."""

    number: int
    title: str
    seconds: int | None  # expected here; None: not measured yet on this task; CLICK: a click
    say: str


@dataclass(frozen=True)
class LessonTask:
    """What the lesson needs to know of its task: names, labels and how many rows it has."""

    name: str
    title: str
    labels: tuple[str, ...]
    n_test: int
    n_train: int
    has_validation: bool
    input_field: str = "input"  # the task's name for what goes in

    @property
    def input_column(self) -> str:
        """The heading of the steps' tables over what was asked: "review" on the shipped
        lesson, the task's own input field on another (never a name the table has twice)."""
        if self.shipped:
            return "review"
        taken = ("true label", "answer", "right")
        return self.input_field if self.input_field and self.input_field not in taken \
            else "input"

    @property
    def shipped(self) -> bool:
        """The shipped lesson: its script's text and measured figures apply."""
        return self.name == DEFAULT_TASK

    @property
    def item(self) -> str:
        """What one question is called in the lesson's sentences."""
        return "reviews" if self.shipped else "test rows"

    @property
    def n_quick(self) -> int:
        """Rows steps 1 and 2 ask: 12, or all the test rows where the task has fewer."""
        return min(QUICK_N, self.n_test)

    @property
    def quick_note(self) -> str:
        """Said when the check asks fewer than 12 rows ("" otherwise)."""
        if self.n_test >= QUICK_N:
            return ""
        return (f"This task has only {self.n_test} test rows: steps 1 and 2 ask all "
                f"{self.n_test}, not {QUICK_N}, so one answer moves the score a lot.")

    @property
    def set_name(self) -> str:
        return set_name_for(self.name)


def lesson_tasks() -> list[str]:
    """The tasks the lesson runs on: the classification ones, the shipped lesson's first, the
    other shipped ones, then the user's (a damaged task of the user's is left out here; the
    task pages say what is wrong)."""
    return sorted(tasks_of(("classification",)), key=lambda name: name != DEFAULT_TASK)


def lesson_task(name: str = DEFAULT_TASK) -> LessonTask:
    """The lesson's view of task ``name``; a ConfigError when it cannot carry the lesson."""
    task = load_task(name)
    if task.kind != "classification":
        raise ConfigError(f"The lesson runs on classification tasks; {task.title!r} is a "
                          f"{task.kind} task.", "Pick a classification task in the lesson's "
                          "task picker, or make one on the Tasks page.")
    splits = available_splits(name)
    missing = [s for s in ("train", "test") if s not in splits]
    if missing:
        raise ConfigError(f"Task {task.title!r} has no {' and no '.join(missing)} split: the "
                          "lesson draws its examples from train and asks about test.",
                          "Create the task again with both splits (the lab can split one file).")
    # an empty validation file (made with no validation part) validates nothing
    validation = "validation" in splits and bool(load_split(name, "validation", limit=1))
    return LessonTask(name, task.title, task.labels, len(load_split(name, "test")),
                      len(load_split(name, "train")), validation, task.input_field)


def set_name_for(task: str) -> str:
    """The lesson's few-shot set for ``task``: ``tour-4-shot`` for the shipped lesson,
    ``tour-4-shot-<task>`` for another (a short hash where the name would not fit)."""
    if task == DEFAULT_TASK:
        return BASE_SET_NAME
    name = f"{BASE_SET_NAME}-{task}"
    if NAME.match(name):
        return name
    return f"{BASE_SET_NAME}-{hashlib.sha256(task.encode()).hexdigest()[:10]}"


# -- the notes on a task that is not the shipped one -------------------------------------------


def task_steps(lesson: LessonTask, zero: Any = None, shots: Any = None,
               train_steps: int = 60) -> tuple[Step, ...]:
    """The five steps on ``lesson``'s task: nothing quoted from the shipped script, the
    figures only once measured (``zero``/``shots``: the steps' QuickChecks, or None)."""
    n, labels = lesson.n_quick, ", ".join(lesson.labels)
    zero_said = ""
    if zero is not None and zero.rows:
        top, count = zero.answers.most_common(1)[0]
        zero_said = (f" Measured here: {zero.correct} of {len(zero.rows)} right, and it answered "
                     f"{top} {count} times of {len(zero.rows)}.")
    shots_said = ""
    if shots is not None and zero is not None and zero.prompt_tokens:
        shots_said = (f" Measured here: {shots.correct} of {len(shots.rows)} right against "
                      f"{zero.correct} zero-shot, with {shots.prompt_tokens:.0f} prompt tokens a "
                      f"row instead of {zero.prompt_tokens:.0f}.")
    return (
        Step(1, "Zero-shot: just ask", _took(zero),
             f"The base model, no examples, only the task's instruction, on {n} of its test rows. "
             f"Watch whether it uses all the labels ({labels}) or guesses one." + zero_said),
        Step(2, "Few-shot: show 4 examples", _took(shots),
             "Four worked examples, balanced per label, in the prompt: rows of the task's "
             f"training split, never one we ask about. No training: the model copies the "
             f"pattern, on the same {n} test rows; every query now carries the examples."
             + shots_said),
        Step(3, "Fine-tune: a LoRA run, live", None,
             f"LoRA trains a small add-on (under 1% of the weights) on the task's "
             f"{lesson.n_train} training rows, {train_steps} steps on this machine. While it "
             "trains: talk about what it costs."),
        Step(4, "Compare on the same test rows", None,
             "The same held-out test rows through zero-shot, 4 and 8 shots and the tuned model, "
             "scored by the likelihood of each label, with 95% intervals."),
        Step(5, "Hand over the report", CLICK,  # a download and talk: nothing to time
             "One offline HTML file: quality, tokens per query, cost and break-even, and the "
             "config that reproduces it. Say what the figures showed on this task, whichever "
             "way they went."),
    )


def _took(check: Any) -> int | None:
    seconds = getattr(check, "seconds", None)
    return None if seconds is None else max(1, round(seconds))


def task_talk(zero: Any = None, shots: Any = None,
              tokens: dict[str, float] | None = None, tuned: str = "") -> tuple[str, ...]:
    """What to say while the run trains, on a task that is not the shipped one: the tuned
    model's prompt tokens only once step 4 measured them (``tokens``: the comparison's mean
    prompt tokens per variant, ``tuned`` its tuned variant), never guessed from zero-shot's."""
    said = "the tuned model needs no examples in its prompt"
    if tokens and tokens.get(tuned) and tokens.get("few-shot 4"):
        said += (f": about {tokens[tuned]:.0f} prompt tokens a query instead of "
                 f"{tokens['few-shot 4']:.0f} with 4 shots (measured in step 4)")
    elif shots is not None and shots.prompt_tokens:
        said += (f". With 4 shots a query took {shots.prompt_tokens:.0f} prompt tokens (measured "
                 "in step 2); the tuned model's own count is measured in step 4")
    else:
        said += "; step 4 measures how many prompt tokens that saves"
    return (
        "**What LoRA changes**: two small matrices beside each attention projection; the base "
        "weights stay frozen. The adapter is a few MB, shipped beside the base model.",
        "**What it costs up front**: the minutes of CPU time step 3 estimated for this machine; "
        "on real data, the labelled examples are the expensive part.",
        f"**What it saves on every query**: {said}.",
        "**Watch the loss curve**: it falls as the model learns to put probability on the right "
        "label; the live view reads the run's event file every 2 seconds.",
        "**Where prompting is enough**: if 4 shots already score as well as the tuned model in "
        "step 4, don't train. Step 4 measures it on this task.",
    )


# -- the closing comparison's ordering ---------------------------------------------------------


def ordering_note(accuracy: dict[str, dict[str, float]], tuned: str) -> str:
    """"" when zero-shot < few-shot 4 < ``tuned`` holds on the measured accuracies; else a
    plain sentence: which step did not improve, and by how much."""
    names = (*ORDER, tuned)
    missing = [n for n in names if n not in accuracy]
    if missing:
        return (f"The ordering zero-shot < few-shot < fine-tuned cannot be checked on this "
                f"comparison: {', '.join(missing)} has no accuracy (see its error).")
    words = {"few-shot 4": "Four examples in the prompt", tuned: "The tuned model"}
    before = {"few-shot 4": "zero-shot", tuned: "four examples"}
    misses = []
    for low, high in zip(names, names[1:]):
        a, b = accuracy[low]["value"], accuracy[high]["value"]
        if b > a:
            continue
        change = "scored the same as" if b == a else f"scored {a - b:.2f} lower than"
        misses.append(f"{words[high]} did not improve on {before[high]}: it {change} "
                      f"{before[high]} ({b:.2f} against {a:.2f} accuracy)")
    if not misses:
        return ""
    return ("On this task the ordering zero-shot < few-shot < fine-tuned does not hold. "
            + ". ".join(misses) + ". Say so: on this task that step did not pay.")
