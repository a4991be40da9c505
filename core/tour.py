"""The 10-minute lesson: what the guided tour runs, and how it finds its work again.

The tour drives the real lab, by default on the sample sentiment task (three labels, with
MIXED: hard enough that zero-shot < few-shot < LoRA holds with intervals apart,
where two labels are nearly solved by 4 shots), or on any classification task the user
picks (``core.tour_tasks``: there, every figure it states was measured here on that task).
Every function takes the lesson's ``task``; what it starts and keeps is the task's own,
so switching task never mixes two lessons' steps. Everything it starts is an
ordinary few-shot set, training run or comparison, found again after a page
switch or an app restart by what it is: the set by its name, the run by its
config (the live-demo preset on the task), the comparison by its variant names.
``tour.json`` in the lab's folder records, per task, when the current tour began, so "Start
over" can leave a rehearsal's run behind without deleting it, and what steps 1, 2 and 5
produced (the 12-review checks with their time, the report's download), so a reload or a new
tab shows every done step with its result; and which task the lesson was last on. The lesson asks about test reviews only and draws its examples from the
training split: a query is never one of its own shots.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.compare import CompareConfig, Prices, VariantSpec
from core.compare_runs import Comparison, list_comparisons, start_comparison
from core.engines import score_labels
from core.errors import ConfigError
from core.fewshot import FewShotSet, delete_set, list_sets, save_set, select_examples
from core.paths import data_dir, write_json
from core.prompting import Example, PromptRecipe, build_prompt, normal_text
from core.runs import LIVE, Run, list_runs, start_run
from core.tasks import Task, list_tasks, load_task
from core.tour_tasks import (CLICK, DEFAULT_TASK, MIN_COMPARE, QUICK_N, LessonTask, Step,  # noqa: F401
                             lesson_task, lesson_tasks, ordering_note, set_name_for,
                             task_steps, task_talk)
from core.train_config import TrainConfig, preset

TASK = DEFAULT_TASK
SET_NAME = set_name_for(TASK)
TUNED = "LoRA live demo (tour)"
VARIANT_NAMES = ("zero-shot", "few-shot 4", "few-shot 8", TUNED)
DEFAULT_N = 150         # 4 variants took 139 s here; at 90 few-shot 4 and LoRA intervals touched
# the Compare page's default prices: cloud-like input tokens, a cheap CPU hour
PRICES = Prices(input_per_million=0.10, output_per_million=0.40, gpu_hour=1.20, cpu_hour=0.05)


# the shipped lesson's steps; seconds expected on 2 CPU cores with the embedded Gemma 3 270M
STEPS = (
    Step(1, "Zero-shot: just ask", 60,
         "A 270M-parameter base model, no examples, only an instruction. It answers POSITIVE to "
         "almost everything: it has not understood the three labels, it guesses the most "
         "common word."),
    Step(2, "Few-shot: show 4 examples", 60,
         "Four worked examples, one or two per label, in the prompt: training reviews, never "
         "one we ask about. No training: the model copies the pattern. On the same 12 test "
         "reviews it gets more right, but every query now carries the examples: about four "
         "times the prompt tokens."),
    Step(3, "Fine-tune: a LoRA run, live", 180,
         "LoRA trains a small add-on (under 1% of the weights) on 300 labelled reviews, 60 "
         "steps on this machine's CPU cores. While it trains: talk about what it costs."),
    Step(4, "Compare on the same test reviews", 150,
         "The same held-out reviews through zero-shot, 4 and 8 shots and the tuned model, "
         "scored by the likelihood of each label, with 95% intervals."),
    Step(5, "Hand over the report", 90,
         "One offline HTML file: quality, tokens per query, cost and break-even, and the "
         "config that reproduces it."),
)
TALK_WHILE_TRAINING = (
    "**What LoRA changes**: two small matrices beside each attention projection; the 268M base "
    "weights stay frozen. The adapter is a few MB, shipped beside the base model.",
    "**What it costs up front**: the minutes of CPU time step 3 estimated for this machine, "
    "about a tenth of a cent at $0.05 per CPU-hour; on real data, the labelled examples are the expensive part.",
    "**What it saves on every query**: the tuned model needs no examples in its prompt, about "
    "30 tokens instead of ~190 with 4 shots: a sixth.",
    "**Watch the loss curve**: it falls as the model learns to put probability on the right "
    "label; the live view reads the run's event file every 2 seconds.",
    "**Where prompting is enough**: on an easy two-label task, 4 shots already score about as "
    "well as a LoRA trained for a minute (0.93-0.95 against 0.93-0.96): then don't train.",
)


# -- when the current tour began, and what its quick steps produced -------------------------


def _marker() -> Path:
    return data_dir() / "tour.json"


def _read_marker() -> dict[str, Any]:
    try:
        data = json.loads(_marker().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


LEGACY = ("started_at", "checks", "report_downloaded")  # a tour.json of one task, at its top


def _section(task: str) -> dict[str, Any]:
    """What tour.json keeps for ``task``'s lesson (an older file's top level is the shipped
    lesson's)."""
    data = _read_marker()
    sections = data.get("tasks") if isinstance(data.get("tasks"), dict) else {}
    if isinstance(sections.get(task), dict):
        return sections[task]
    if task == TASK:
        return {k: data[k] for k in LEGACY if k in data}
    return {}


def _write_section(task: str, section: dict[str, Any]) -> None:
    data = _read_marker()
    sections = data.get("tasks") if isinstance(data.get("tasks"), dict) else {}
    if task == TASK and TASK not in sections:
        sections = {**sections, TASK: _section(TASK)}  # moved from the top, kept
    kept = {k: v for k, v in data.items() if k not in LEGACY}
    write_json(_marker(), {**kept, "tasks": {**sections, task: section}})


def _update_marker(task: str = TASK, **values: Any) -> None:
    _write_section(task, {**_section(task), **values})


def current_task() -> str:
    """The task the lesson was last on (the shipped one when none, or when it is gone)."""
    name = _read_marker().get("task")
    return name if isinstance(name, str) and name in list_tasks() else TASK


def set_current_task(task: str) -> None:
    """Remember the lesson's task, so a reload or a new tab opens on it."""
    write_json(_marker(), {**_read_marker(), "task": task})


def tour_started_at(task: str = TASK) -> str | None:
    """ISO time the current tour began (None: every matching run and comparison counts)."""
    return _section(task).get("started_at")


def start_over(task: str = TASK) -> None:
    """Begin a fresh tour of ``task``: earlier tour runs and comparisons stay, but no longer
    count; its 12-row checks and its set are forgotten (another task's lesson is untouched)."""
    _write_section(task, {"started_at": _now()})
    delete_set(set_name_for(task))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _after_start(created_at: str, task: str = TASK) -> bool:
    """Whether something created at ``created_at`` belongs to the current tour (strictly later:
    what existed when "Start over" was pressed, in the same second too, stays behind)."""
    started = tour_started_at(task)
    if started is None:
        return True
    try:
        return datetime.fromisoformat(created_at) > datetime.fromisoformat(started)
    except ValueError:
        return False


# -- step 1 and 2: prompts ------------------------------------------------------------------


def task(name: str = TASK) -> Task:
    return load_task(name)


def quick_reviews(n: int = QUICK_N, task: str = TASK) -> list[Example]:
    """The lesson's questions: the first ``n`` rows of the task's TEST split (never a shot;
    fewer where the split has fewer)."""
    return load_task(task).examples("test", limit=n)


def tour_set(task: str = TASK) -> FewShotSet:
    """4 TRAINING rows balanced per label: the same draw as the comparison's 'few-shot 4'
    (a training row that is also a test row is left out: never a query's own shot)."""
    t = load_task(task)
    asked = {normal_text(e.input) for e in t.examples("test")}
    pool = [e for e in t.examples("train") if normal_text(e.input) not in asked]
    return FewShotSet(set_name_for(task), tuple(select_examples(pool, "balanced", 4, seed=0)),
                      t.instruction, t.prompt_template, t.labels, task)


def save_tour_set(task: str = TASK) -> FewShotSet:
    """Save the task's ``tour-4-shot`` set (again: the draw is fixed, so saving twice changes
    nothing)."""
    fewshot = tour_set(task)
    save_set(fewshot)
    return fewshot


def set_saved(task: str = TASK) -> bool:
    return set_name_for(task) in list_sets()


def zero_shot_recipe(task: str = TASK) -> PromptRecipe:
    t = load_task(task)
    return PromptRecipe("zero-shot", t.instruction, t.prompt_template, labels=t.labels)


@dataclass(frozen=True)
class QuickCheck:
    """A handful of test reviews through one prompt: what the model said, what was right."""

    recipe_name: str
    rows: tuple[dict[str, Any], ...]   # review, true label, answer, right
    prompt_tokens: float
    model: str = ""                    # the model that answered, as the sidebar names it
    seconds: float | None = None       # how long the scoring took on this machine

    @property
    def correct(self) -> int:
        return sum(r["right"] for r in self.rows)

    @property
    def answers(self) -> Counter:
        return Counter(r["answer"] for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"recipe_name": self.recipe_name, "rows": list(self.rows),
                "prompt_tokens": self.prompt_tokens, "model": self.model, "seconds": self.seconds}


def quick_check(engine: Any, recipe: PromptRecipe, name: str, n: int = QUICK_N,
                task: str = TASK) -> QuickCheck:
    """The first ``n`` test rows of ``task`` through ``recipe``, scored by label
    log-likelihood, timed: a step's time on another task is what it took here."""
    t = load_task(task)
    reviews = quick_reviews(n, task)
    prompts = [build_prompt(recipe, r.input).text for r in reviews]
    began = time.monotonic()
    # every written form of a label, summed: the reading Compare counts in step 4
    scores = score_labels(engine, prompts, t.labels, " ")
    seconds = round(time.monotonic() - began, 1)
    out = []
    for review, scored in zip(reviews, scores):
        answer = max(scored, key=lambda s: s.probability).label
        out.append({"review": review.input, "true label": review.label,
                    "answer": answer, "right": answer == review.label})
    tokens = sum(engine.count_tokens(p) for p in prompts) / len(prompts)
    info = getattr(engine, "info", None)
    return QuickCheck(name, tuple(out), round(tokens, 1), getattr(info, "title", ""), seconds)


CHECKS = ("zero", "shots")  # step 1's zero-shot check, step 2's check with the 4 examples


def save_check(kind: str, check: QuickCheck, task: str = TASK) -> None:
    """Keep a step's check in ``tour.json``, under its task: a reload or a new tab shows it."""
    checks = {**(_section(task).get("checks") or {}), kind: check.to_dict()}
    _update_marker(task, checks=checks)


def saved_checks(task: str = TASK) -> dict[str, QuickCheck]:
    """The checks of ``task``'s current tour ("zero", "shots"), as the steps measured them."""
    found = {}
    for kind, data in (_section(task).get("checks") or {}).items():
        try:
            seconds = data.get("seconds")
            found[kind] = QuickCheck(data["recipe_name"], tuple(data["rows"]),
                                     float(data["prompt_tokens"]), data.get("model", ""),
                                     None if seconds is None else float(seconds))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # a hand-edited or older file: that step is simply not done
    return found


def playground_review(zero: QuickCheck | None = None, shots: QuickCheck | None = None,
                      task: str = TASK) -> str:
    """A test row for the Playground, never one of the tour's examples: one zero-shot got
    wrong (not of the label it guesses most, to show the bias; POSITIVE on the shipped task
    before step 1) and, once measured, the examples got right."""
    examples = {normal_text(e.input) for e in tour_set(task).examples}
    right_with_shots = {r["review"] for r in shots.rows if r["right"]} if shots else set()
    rows = zero.rows if zero else tuple({"review": r.input, "true label": r.label, "right": False}
                                        for r in quick_reviews(task=task))
    rows = [r for r in rows if normal_text(r["review"]) not in examples]
    guessed = zero.answers.most_common(1)[0][0] if zero and zero.rows \
        else load_task(task).labels[0]
    wrong = [r for r in rows if not r["right"] and r["true label"] != guessed]
    for candidates in ([r for r in wrong if r["review"] in right_with_shots], wrong, rows):
        if candidates:
            return candidates[0]["review"]
    raise ConfigError("Every test row of the lesson is also one of its examples.",
                      "Check the task's splits: test and train must not overlap.")


def report_downloaded(comparison_id: str, task: str = TASK) -> bool:
    """Whether step 5's report of this comparison was downloaded in the current tour."""
    return _section(task).get("report_downloaded") == comparison_id


def mark_report_downloaded(comparison_id: str, task: str = TASK) -> None:
    _update_marker(task, report_downloaded=comparison_id)


def presenter_script() -> str:
    """The presenter's script, docs/demo.md ("" when this copy of the lab has no docs)."""
    try:
        return (Path(__file__).resolve().parent.parent / "docs" / "demo.md").read_text(encoding="utf-8")
    except OSError:
        return ""


# -- step 3: the training run ---------------------------------------------------------------


def tour_train_config() -> TrainConfig:
    """The live-demo LoRA preset on the sentiment task (60 steps; step 3 shows the time this
    machine's measured speed gives it)."""
    return preset("live-demo", task=TASK, name="tour: live-demo LoRA")


def train_config(task: str = TASK) -> TrainConfig:
    """The lesson's run on ``task``: the shipped lesson's config, or the same preset on the
    task's rows (validated on its validation split, or on a part of train where it has none)."""
    if task == TASK:
        return tour_train_config()
    validation = "validation" if lesson_task(task).has_validation else None
    return preset("live-demo", task=task, name="tour: live-demo LoRA",
                  validation_split=validation)


def _is_tour_run(run: Run, config: TrainConfig) -> bool:
    return run.config == json.loads(json.dumps(config.to_dict())) \
        and _after_start(run.created_at, config.task or TASK)


def find_tour_run(config: TrainConfig | None = None, task: str = TASK) -> Run | None:
    """The newest run of the tour's config in this tour: a live or succeeded one first."""
    config = config or train_config(task)
    mine = [r for r in list_runs() if _is_tour_run(r, config)]
    for wanted in (("queued", "running", "succeeded"), None):
        for run in mine:
            if wanted is None or run.status in wanted:
                return run
    return None


def start_tour_run(config: TrainConfig | None = None, again: bool = False,
                   task: str = TASK) -> str:
    """Start the tour's run, unless one of this tour is already queued, running or done (and
    ``again`` is not asked: then a finished one is trained anew)."""
    config = config or train_config(task)
    run = find_tour_run(config)
    if run is not None and (run.status in LIVE or (run.status == "succeeded" and not again)):
        return run.id
    return start_run(config)


# -- step 4 and 5: the comparison -----------------------------------------------------------


def tour_compare_config(run_id: str, n_examples: int = DEFAULT_N,
                        model: str = "embedded:gemma-3-270m", engine: str = "auto",
                        task: str = TASK) -> CompareConfig:
    """Zero-shot, 4 and 8 shots and the tour's LoRA run, on the first ``n_examples`` test rows."""
    variants = (VariantSpec("zero-shot", "zero-shot"), VariantSpec("few-shot 4", "few-shot", shots=4),
                VariantSpec("few-shot 8", "few-shot", shots=8),
                VariantSpec(TUNED, "fine-tuned", run_id=run_id))
    return CompareConfig(task, variants, n_examples, 0, model, engine, PRICES)


def _run_of(comparison: Comparison) -> str | None:
    try:  # listed with its variants' names, so config.json was whole a moment ago
        config = json.loads((comparison.folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # damaged since: it belongs to no run
    return next((v.get("run_id") for v in config["variants"] if v.get("name") == TUNED), None)


def _started(comparison: Comparison) -> str:
    stamp = (comparison.folder / "config.json").stat().st_mtime
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="seconds")


def find_tour_comparison(run_id: str | None = None, task: str = TASK) -> Comparison | None:
    """The newest comparison of this tour (of ``run_id``'s adapter when given), a working one first."""
    mine = [c for c in list_comparisons() if c.task == task and c.variants == VARIANT_NAMES
            and _after_start(_started(c), task) and (run_id is None or _run_of(c) == run_id)]
    for wanted in (("queued", "running", "succeeded"), None):
        for comparison in mine:
            if wanted is None or comparison.status in wanted:
                return comparison
    return None


def start_tour_comparison(run_id: str, n_examples: int = DEFAULT_N,
                          model: str = "embedded:gemma-3-270m", engine: str = "auto",
                          task: str = TASK) -> str:
    """Start the tour's comparison in the background; return its id."""
    return start_comparison(tour_compare_config(run_id, n_examples, model, engine, task))


# -- what to tell a stakeholder -------------------------------------------------------------


@dataclass(frozen=True)
class Takeaways:
    """The comparison's numbers the lesson ends on."""

    accuracy: dict[str, dict[str, float]]   # variant name -> value, low, high
    tokens: dict[str, float]                # variant name -> mean prompt tokens
    token_share: float | None               # tuned prompt tokens / few-shot 4 prompt tokens
    break_even: int | None                  # queries until training pays back against few-shot 4
    worse_by: float | None                  # tuned clearly below few-shot 4: by this much
    train_seconds: float | None
    separated: bool                         # zero-shot < few-shot 4 < tuned, intervals apart
    ordering: str = ""                      # "" or which step did not improve, by how much
    # the report's break-even (core.report): against the best variant without training, which
    # may be another than few-shot 4, so the lesson names both baselines
    report_against: str = ""                # that variant's name ("" when the report has none)
    report_queries: str = ""                # its break-even, as the report writes it


def takeaways(results: dict[str, Any]) -> Takeaways:
    """Accuracy with intervals, prompt tokens, the tuned model's token share and break-even."""
    from core.report import break_even, comparable, training_cost

    variants = {v["name"]: v for v in results["variants"] if not v.get("error")}
    accuracy = {n: v["metrics"]["accuracy"] for n, v in variants.items() if "accuracy" in v["metrics"]}
    tokens = {n: v["prompt_tokens_mean"] for n, v in variants.items()}
    tuned, shots = variants.get(TUNED), variants.get("few-shot 4")
    share = queries = worse_by = None
    tuned_acc, shots_acc = accuracy.get(TUNED), accuracy.get("few-shot 4")
    if tuned_acc and shots_acc and tuned_acc["value"] < shots_acc["value"] \
            and not comparable(tuned_acc, shots_acc):
        # cheaper queries that buy worse answers pay nothing back: no break-even
        worse_by = shots_acc["value"] - tuned_acc["value"]
    if tuned and shots and shots["prompt_tokens_mean"]:
        share = tuned["prompt_tokens_mean"] / shots["prompt_tokens_mean"]
        prices = results.get("prices") or {}
        value = break_even(training_cost(tuned), shots["prompt_tokens_mean"],
                           tuned["prompt_tokens_mean"], prices.get("input_per_million"),
                           completion_tokens_base=shots.get("completion_tokens_mean"),
                           completion_tokens_tuned=tuned.get("completion_tokens_mean"),
                           price_per_million_output=prices.get("output_per_million"))
        queries = None if value is None or worse_by is not None else int(-(-value // 1))
    order = [accuracy.get(n) for n in ("zero-shot", "few-shot 4", TUNED)]
    separated = None not in order and order[0]["high"] < order[1]["low"] \
        and order[1]["high"] < order[2]["low"]
    return Takeaways(accuracy, tokens, share, queries, worse_by,
                     tuned.get("train_seconds") if tuned else None, separated,
                     ordering_note(accuracy, TUNED), *_report_break_even(results))


def _report_break_even(results: dict[str, Any]) -> tuple[str, str]:
    """(baseline, queries) of the tour's tuned variant in the report's break-even table."""
    from core.report import break_even_rows

    try:
        rows = break_even_rows(results)
    except (KeyError, TypeError, ValueError):
        return "", ""  # a results file the report cannot weigh: the lesson quotes its own only
    row = rows[rows["Fine-tuned variant"] == TUNED] if not rows.empty else rows
    if row.empty:
        return "", ""
    return str(row.iloc[0]["Compared with"]), str(row.iloc[0]["Break-even (queries)"])
