"""One input through one setup: the exact prompt its model sees, and its answer as Compare
counts it. The Compare page's Free-form tab shows every setup of a comparison this way.

Nothing here builds a prompt of its own: ``core.setup_eval`` builds it (a tuned run's template
with its shots, retrieved passages, a system prompt through the chat template, ReAct's opening
text), so the column shows the very text a comparison scores for the same input and seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.answers import complete
from core.config import GenerationParams
from core.errors import ConfigError
from core.prompting import BuiltPrompt
from core.setup_eval import (answer_params, build_prompts, react_prediction, react_setup,
                             run_setup, scored_by_label, tuned_run, _ready)
from core.setups import Setup, check_setup_for_task
from core.tasks import Task


@dataclass(frozen=True)
class SetupAnswer:
    """What one setup answered to one input, and what it cost."""

    prompt: str                # the text the model saw (ReAct: its opening prompt)
    text: str                  # the answer as written (ReAct: the loop's transcript)
    prediction: Any            # what Compare reads from it (the label, for classification)
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    label: str | None = None   # classification: the likeliest label, as Compare scores it
    calibrated: bool = False   # the label read from calibrated label probabilities


def run_template(setup: Setup) -> dict | None:
    """The tuned run's template.json when the setup's model is a run (a LabError when the run
    is gone or unfinished), else None."""
    return tuned_run(setup.model).template if setup.model.run_id else None


def _checked(setup: Setup, task: Task, text: str) -> None:
    check_setup_for_task(setup, task.kind, bool(task.schema))
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("The input is empty.", "Type an input for the setups to answer.")
    if setup.retrieval.collection:
        _ready(setup.retrieval.collection)


def _built(setup: Setup, task: Task, text: str, engine, seed: int,
           template: dict | None) -> BuiltPrompt:
    """The setup's prompt for ``text``, built as the comparison builds it."""
    chat = getattr(engine, "chat_prompt", None) if setup.prompt.system.strip() else None
    return build_prompts(task, setup, [text], seed, chat, template)[0]


def _react_prompt(setup: Setup, task: Task, text: str) -> tuple[str, GenerationParams]:
    from core.react import STOPS, react_prompt

    config, _ = react_setup(task, setup)
    return react_prompt(text, config.collection), GenerationParams(
        max_new_tokens=config.max_new_tokens, temperature=0.0, stop=STOPS)


def setup_prompt(setup: Setup, task: Task, text: str, engine=None,
                 seed: int = 0) -> tuple[str, GenerationParams]:
    """The exact text the setup's model sees for ``text`` and how it generates (ReAct: its
    opening prompt and the settings of each step). ``engine`` gives the chat template a
    system prompt needs; ``seed`` draws few-shot examples as the comparison with it does."""
    _checked(setup, task, text)
    if setup.prompt.technique == "react":
        return _react_prompt(setup, task, text)
    built = _built(setup, task, text, engine, seed, run_template(setup))
    return built.text, answer_params(task, setup, built)[0]



def _react_answer(setup: Setup, task: Task, text: str, engine,
                  on_chunk: Callable[[str], None] | None) -> SetupAnswer:
    """The ReAct loop on ``text``, each step handed to ``on_chunk`` as it completes."""
    from core.react import ReActResult, react_prompt, react_steps

    config, finder = react_setup(task, setup)
    result = ReActResult(text)
    for step in react_steps(engine.generate, text, config, finder, result):
        if on_chunk:
            seen = f"\nObservation: {step.observation.text}\nThought:" \
                if step.final_answer is None and step.observation else ""
            on_chunk(step.model_text + seen)
    opening = react_prompt(text, config.collection)
    return SetupAnswer(opening, result.transcript.removeprefix(opening),
                       react_prediction(task, result.answer), result.prompt_tokens,
                       result.completion_tokens, result.latency_s)


def answer_one(setup: Setup, task: Task, text: str, engine,
               on_chunk: Callable[[str], None] | None = None, seed: int = 0) -> SetupAnswer:
    """``text`` answered by ``setup`` on its loaded ``engine`` (``setup.model.model_spec()``):
    the answer streams through ``on_chunk``; a classification setup also gets its likeliest
    label, calibrated when the setup says so, which is what the comparison counts."""
    _checked(setup, task, text)
    if setup.prompt.technique == "react":
        return _react_answer(setup, task, text, engine, on_chunk)
    template = run_template(setup)
    built = _built(setup, task, text, engine, seed, template)
    params, read = answer_params(task, setup, built)
    completion = complete(engine, built.text, params, on_chunk)
    label = None
    if scored_by_label(task, setup):
        label = run_setup(engine, task, setup, [{"input": text}], seed,
                          template=template).predictions[0]
    return SetupAnswer(built.text, completion.text,
                       label if label is not None else read(completion.text),
                       completion.prompt_tokens, completion.completion_tokens,
                       completion.latency_s, label, label is not None and setup.prompt.calibrate)
