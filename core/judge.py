"""A model as judge of blind pairs, with its prompt in plain sight and its agreement checked.

A judge reads one pair (the input, the reference reply where the task has one,
Answer A and Answer B) and the verdict is read from the probabilities the model
gives " A", " B" and " tie" after "Better answer:" (``core.engines.score_labels``):
deterministic, nothing to parse. Small models prefer a position whatever the
answers say, so by default each pair is asked twice with A and B swapped; a
verdict that changes with the order is recorded as a tie and counted as
position bias, which the lab reports beside the verdicts. Verdicts are stored as
ratings of a reviewer named "judge: <model>", so the review summary can set the
judge's kappa against the people's next to its votes.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from core.config import ModelSpec, check_field_types
from core.errors import ConfigError, PromptTooLongError

PLACEHOLDERS = ("input", "reference", "answer_a", "answer_b")
REQUIRED = {"input": "the message", "answer_a": "Answer A", "answer_b": "Answer B"}
LABELS = ("A", "B", "tie")
SCORE_CHUNK = 8  # pairs scored per batch: progress and a cancel land between chunks

DEFAULT_PROMPT = """\
Two assistants answered the same message. Decide which answer is better: the one that does \
what the message asks, is correct, and is closer to the reference reply in content, format \
and tone. Write A, B, or tie.

Message:
{input}

Reference reply:
{reference}

Answer A:
{answer_a}

Answer B:
{answer_b}

Better answer:"""

# the default prompt for a task with no reference replies: the same words, less the reference
DEFAULT_PROMPT_NO_REFERENCE = DEFAULT_PROMPT.replace(
    ", and is closer to the reference reply in content, format and tone", " and well written"
).replace("Reference reply:\n{reference}\n\n", "")

SMALL_EMBEDDED = ("gemma-3-270m", "smollm2-135m")  # too small to judge: the lab says so


def prompt_problem(prompt: str) -> ConfigError | None:
    """What is wrong with a judge prompt (None when nothing is): braces that do not format,
    a placeholder the lab does not fill, or one it needs that is missing."""
    fix_braces = "Write a literal brace twice ({{ or }}); placeholders are " + \
        ", ".join("{" + p + "}" for p in PLACEHOLDERS) + "."
    if not isinstance(prompt, str) or not prompt.strip():
        return ConfigError("The judge prompt is empty.",
                           "Start again from the lab's default judge prompt and edit it.")
    try:
        fields = [(name, conv, spec) for _, name, spec, conv in string.Formatter().parse(prompt)
                  if name is not None]
    except ValueError as exc:
        return ConfigError(f"The judge prompt's braces do not format ({exc}).", fix_braces)
    for name, conv, spec in fields:
        if name not in PLACEHOLDERS or conv or spec:
            shown = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            return ConfigError(f"The judge prompt has an unknown placeholder {shown}.",
                               f"Remove it or write it as one of the placeholders. {fix_braces}")
    names = {name for name, _, _ in fields}
    for needed, words in REQUIRED.items():
        if needed not in names:
            return ConfigError(f"The judge prompt has no {{{needed}}} placeholder: the judge "
                               f"would not see {words}.",
                               f"Put {{{needed}}} where {words} should go (or start again from "
                               "the default prompt).")
    return None


@dataclass(frozen=True)
class JudgeConfig:
    """Which model judges, with which prompt, and whether each pair is asked in both orders
    (the guard against a judge that prefers a position)."""

    model: ModelSpec
    prompt: str = DEFAULT_PROMPT
    both_orders: bool = True

    def __post_init__(self) -> None:
        check_field_types(self, "Judge")
        problem = prompt_problem(self.prompt)
        if problem is not None:
            raise problem

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_name(model: ModelSpec | str) -> str:
    """The reviewer name a judge's votes are stored under: "judge: " and the model's short
    name (an embedded name, a Hub id's last part, a folder's name), with its adapter."""
    spec = model if isinstance(model, ModelSpec) else ModelSpec(source=str(model))
    if spec.is_embedded:
        short = spec.embedded_name
    else:
        short = Path(spec.source.rstrip("/\\")).name or spec.source
    if spec.adapter:
        short += f" + {Path(spec.adapter.rstrip('/')).name}"
    return ("judge: " + short)[:60]


def judge_prompt(config: JudgeConfig, pair: Any) -> str:
    """The exact text the judge model reads for ``pair`` in its shown order (the UI shows it).
    A task without reference replies gets the default prompt without its reference part."""
    reference = (getattr(pair, "reference", None) or "").strip()
    template = config.prompt
    if not reference and template == DEFAULT_PROMPT:
        template = DEFAULT_PROMPT_NO_REFERENCE
    return template.format(input=str(pair.input).strip(), reference=reference or "(none)",
                           answer_a=str(pair.answer_a).strip(), answer_b=str(pair.answer_b).strip())


def swapped(pair: Any) -> Any:
    """``pair`` with Answer A and Answer B (and their setups) changing places."""
    return replace(pair, setup_a=pair.setup_b, setup_b=pair.setup_a,
                   answer_a=pair.answer_b, answer_b=pair.answer_a)


@dataclass(frozen=True)
class Verdict:
    """The judge's vote on one pair, in the pair's shown order, and how it was reached:
    ``first`` the verdict asked in the shown order, ``second`` asked swapped (mapped back to
    the shown order; None when asked once), ``probabilities`` of A/B/tie in the first ask and
    ``second_probabilities`` in the swapped ask, mapped back to the shown order."""

    pair: str
    vote: str
    first: str
    second: str | None
    probabilities: tuple[float, float, float]
    second_probabilities: tuple[float, float, float] | None = None

    @property
    def order_dependent(self) -> bool:
        """The verdict changed when the answers changed places: position bias, not judgement."""
        return self.second is not None and self.second != self.first

    @property
    def lean(self) -> str | None:
        """Where the judge leans with its position preference averaged out: the label with the
        highest mean probability over both asks (None when asked once). Shown as a hint only:
        the stored vote follows the rule that an order-dependent verdict is a tie."""
        if self.second_probabilities is None:
            return None
        mean = [a + b for a, b in zip(self.probabilities, self.second_probabilities)]
        return LABELS[mean.index(max(mean))]


def _read(row: list) -> tuple[str, tuple[float, float, float]]:
    probabilities = tuple(round(s.probability, 4) for s in row)
    best = max(row, key=lambda s: s.probability)
    return best.label, probabilities  # type: ignore[return-value]


BACK = {"A": "B", "B": "A", "tie": "tie"}  # a swapped ask's verdict in the shown order


def _checked(engine: Any, prompts: list[str], pairs: list[Any]) -> None:
    """Refuse, naming the pair, a judge prompt that does not fit the judge's window."""
    window = engine.info.context_window
    for prompt, pair in zip(prompts, pairs):
        n = engine.count_tokens(prompt)
        if n + 4 > window:
            raise PromptTooLongError(
                f"The judge prompt for pair {pair.id} is {n:,} tokens: more than "
                f"{engine.info.title} can read ({window:,}).",
                "Pick a judge model with a longer context, shorten the prompt, or leave out "
                "the setups whose answers are this long.")


def judge_pairs(pairs: list[Any], config: JudgeConfig, engine: Any,
                progress: Callable[[int, int], None] | None = None) -> list[Verdict]:
    """The judge's verdicts on ``pairs`` (nothing stored): asked in the shown order, and again
    swapped when ``both_orders``; an answer that changes with the order becomes a tie."""
    from core.engines import score_labels

    asks = [(p, False) for p in pairs] + ([(p, True) for p in pairs] if config.both_orders else [])
    prompts = [judge_prompt(config, swapped(p) if turn else p) for p, turn in asks]
    _checked(engine, prompts, [p for p, _ in asks])
    rows: list = []
    for start in range(0, len(prompts), SCORE_CHUNK):
        rows += score_labels(engine, prompts[start:start + SCORE_CHUNK], LABELS)
        if progress is not None:
            progress(len(rows), len(prompts))
    return [_verdict(pair, rows[i], rows[len(pairs) + i] if config.both_orders else None)
            for i, pair in enumerate(pairs)]


def _verdict(pair: Any, shown: list, swapped_row: list | None) -> Verdict:
    """One pair's verdict from its asks' label scores (the swapped ask mapped back)."""
    first, probabilities = _read(shown)
    if swapped_row is None:
        return Verdict(pair.id, first, first, None, probabilities)
    label, (p_a, p_b, p_tie) = _read(swapped_row)
    second = BACK[label]
    return Verdict(pair.id, first if second == first else "tie", first, second, probabilities,
                   (p_b, p_a, p_tie))


def run_judge(comparison: str, pairs: list[Any], config: JudgeConfig, engine: Any,
              progress: Callable[[int, int], None] | None = None) -> list[Verdict]:
    """Judge ``pairs`` and store each verdict as a rating of "judge: <model>" (source
    "judge"), so that the review summary sets the judge's agreement beside the people's."""
    from core import review_store

    verdicts = judge_pairs(pairs, config, engine, progress)
    reviewer = judge_name(config.model)
    for pair, verdict in zip(pairs, verdicts):
        review_store.add_vote(comparison, pair, reviewer, verdict.vote, source="judge")
    return verdicts


def position_bias(verdicts: Iterable[Verdict]) -> dict[str, Any]:
    """How often the verdict changed with the order of the answers, and which position the
    judge picked in both asks (a judge without bias: 0 changes; a coin: about half)."""
    asked = [v for v in verdicts if v.second is not None]
    changed = [v for v in asked if v.order_dependent]
    # the position picked both times: shown A then (swapped) B again = first position twice
    first_twice = sum(1 for v in changed if v.first == "A" and v.second == "B")
    second_twice = sum(1 for v in changed if v.first == "B" and v.second == "A")
    return {"asked_twice": len(asked), "order_dependent": len(changed),
            "rate": round(len(changed) / len(asked), 4) if asked else None,
            "first_position_twice": first_twice, "second_position_twice": second_twice}


def bias_words(bias: dict[str, Any]) -> str:
    """The position bias in one plain sentence."""
    if not bias["asked_twice"]:
        return "Each pair was asked once, so the judge's position bias is not measured."
    n, k = bias["asked_twice"], bias["order_dependent"]
    side = ""
    if bias["first_position_twice"] or bias["second_position_twice"]:
        side = (f" ({bias['first_position_twice']} times it picked whichever answer came first, "
                f"{bias['second_position_twice']} times whichever came second)")
    return (f"The verdict changed when the answers changed places on {k} of {n} pairs "
            f"({k / n:.0%}){side}: those count as ties.")


LANDIS_KOCH = ((0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial"),
               (1.01, "almost perfect"))  # Landis and Koch's bands of kappa


def _band(kappa: float) -> str:
    if kappa <= 0:
        return "no better than chance"
    return next(words for top, words in LANDIS_KOCH if kappa <= top)


def _is_small(model: ModelSpec | str) -> bool:
    source = model.source if isinstance(model, ModelSpec) else str(model)
    return any(name in source.lower() for name in SMALL_EMBEDDED)


def agreement_words(kappa: float | None, n: int, model: ModelSpec | str) -> str:
    """How far to trust a judge, in plain words, from its kappa against the people's votes on
    ``n`` shared pairs; for the embedded 270M/135M models it says plainly not to trust it."""
    small = _is_small(model)
    size = "270M" if "270m" in str(getattr(model, "source", model)).lower() else "135M"
    warning = (f" This is a very small model ({size} parameters): its agreement with people "
               "will be poor, so do not trust its verdicts without people's ratings."
               if small else "")
    if kappa is None or n == 0:
        return ("No pair has been rated by both the judge and people yet: rate some of the same "
                "pairs yourself to see how far to trust it." + warning)
    head = (f"On {n} people's votes on pairs it judged, the judge's agreement with them is "
            f"{_band(kappa)} (kappa {kappa:.2f}).")
    if n < 10:
        advice = " That is too few pairs to tell: rate more before relying on it."
    elif kappa > 0.6 and not small:
        advice = " It may stand in for people on more pairs like these; check a sample now and then."
    else:
        advice = " Do not use it in place of people's ratings."
    return head + advice + warning
