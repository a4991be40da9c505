"""ReAct: the model reasons, calls a tool, reads the observation, and goes on until it answers.

A real loop, not a transcript: each step the model writes ``Thought:`` and
``Action: tool[argument]``; generation stops before it can invent the
observation; the lab runs the tool (``core.tools``) and appends the true
``Observation:``; ``Action: finish[answer]`` ends it, and so does the step
limit. Every step keeps the exact text added and the model's figures, so the
page can show the trace as it grows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from core.config import GenerationParams, check_field_types
from core.errors import ConfigError
from core.generation import Completion
from core.tools import Observation, run_tool

HEADER = """Answer the question. You may use these tools:
- calculator[expression]: does arithmetic, e.g. calculator[(3 + 4) * 2.5]
- search[words]: searches the {collection} documents and returns the best passages
Write a Thought, then one Action. After an Observation, think again. When you know the answer, write Action: finish[answer].

Question: How much do 4 bottles at 2.75 euros each cost?
Thought: I need to multiply 4 by 2.75.
Action: calculator[4 * 2.75]
Observation: 11
Thought: I know the answer.
Action: finish[11]

Question: What time does the museum open on weekdays?
Thought: I should look this up in the documents.
Action: search[museum opening time weekdays]
Observation: [1] (visiting.md) The museum opens at 9:00 on weekdays and at 10:00 at weekends.
Thought: The passage gives the time.
Action: finish[9:00]

"""
ACTION = re.compile(r"Action\s*:\s*([A-Za-z_]+)\s*\[(.*?)\]", re.DOTALL)
STOPS = ("\nObservation:", "\nQuestion:", "\n\n\n")


@dataclass(frozen=True)
class ReActConfig:
    """How long the agent may run and what it may use."""

    max_steps: int = 5
    max_new_tokens: int = 80
    collection: str | None = None   # the document collection search looks in

    def __post_init__(self) -> None:
        check_field_types(self, "ReAct")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) \
                or not 1 <= self.max_steps <= 12:
            raise ConfigError(f"The ReAct step limit must be 1 to 12, got {self.max_steps!r}.",
                              "Use 3-6 steps for the sample questions.")
        if not isinstance(self.max_new_tokens, int) or not 16 <= self.max_new_tokens <= 512:
            raise ConfigError("Tokens per ReAct step must be 16 to 512.", "Use about 80.")


@dataclass(frozen=True)
class ReActStep:
    """One turn of the loop: what the model wrote, what it asked for, what the tool said."""

    number: int
    model_text: str
    action: str | None
    argument: str | None
    observation: Observation | None
    completion: Completion
    final_answer: str | None = None


@dataclass
class ReActResult:
    """The whole run: steps, the answer (None when the step limit ended it), the transcript."""

    question: str
    steps: list[ReActStep] = field(default_factory=list)
    answer: str | None = None
    transcript: str = ""

    @property
    def prompt_tokens(self) -> int:
        return sum(s.completion.prompt_tokens for s in self.steps)

    @property
    def completion_tokens(self) -> int:
        return sum(s.completion.completion_tokens for s in self.steps)

    @property
    def latency_s(self) -> float:
        return sum(s.completion.latency_s for s in self.steps)


def react_prompt(question: str, collection: str | None) -> str:
    """The opening text: tools, two worked examples, the question."""
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("The question is empty.", "Type a question for the agent.")
    return HEADER.format(collection=collection or "lab's") + \
        f"Question: {question.strip()}\nThought:"


def parse_action(text: str) -> tuple[str, str] | None:
    """The first ``Action: tool[argument]`` the model wrote, if any."""
    match = ACTION.search(text)
    return (match.group(1).lower(), match.group(2).strip()) if match else None


def react_steps(generate: Callable[[str, GenerationParams], Completion], question: str,
                config: ReActConfig = ReActConfig(),
                search: Callable[[str], str] | None = None,
                result: ReActResult | None = None) -> Iterator[ReActStep]:
    """Run the loop, yielding each step as it completes; ``result`` collects the whole run."""
    result = result if result is not None else ReActResult(question)
    transcript = react_prompt(question, config.collection)
    params = GenerationParams(max_new_tokens=config.max_new_tokens, temperature=0.0, stop=STOPS)
    for number in range(1, config.max_steps + 1):
        completion = generate(transcript, params)
        text = completion.text
        parsed = parse_action(text)
        if parsed is not None:  # keep only up to the end of the first action
            text = text[:ACTION.search(text).end()]
        transcript += text
        if parsed is None:
            observation = Observation("none", "", "No action found. Write Action: "
                                      "calculator[...], search[...] or finish[answer].", False)
            step = ReActStep(number, text, None, None, observation, completion)
        elif parsed[0] == "finish":
            step = ReActStep(number, text, "finish", parsed[1], None, completion, parsed[1])
            result.answer = parsed[1]
        else:
            observation = run_tool(parsed[0], parsed[1], search)
            step = ReActStep(number, text, parsed[0], parsed[1], observation, completion)
        result.steps.append(step)
        if step.final_answer is None:
            transcript += f"\nObservation: {step.observation.text}\nThought:"
        result.transcript = transcript
        yield step
        if step.final_answer is not None:
            return


def run_react(generate, question: str, config: ReActConfig = ReActConfig(),
              search=None) -> ReActResult:
    """The whole loop at once (for the CLI, the comparison and tests)."""
    result = ReActResult(question)
    for _ in react_steps(generate, question, config, search, result):
        pass
    return result
