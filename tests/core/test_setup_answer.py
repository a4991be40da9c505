"""One input through one setup (core.setup_answer): the prompt the Free-form column shows is
the very prompt a comparison scores for the same input, and its answer is what Compare counts."""

from __future__ import annotations

import pytest

from core import setup_answer, setup_eval
from core.config import ModelSpec
from core.errors import ConfigError, LabError
from core.knowledge import Chunk, Hit
from core.setup_answer import answer_one, setup_prompt
from core.setup_eval import TunedRun, run_setup
from core.setups import ModelChoice, PromptChoice, RetrievalChoice, Setup
from core.tasks import load_split, load_task

TEMPLATE = {"template": "Text: {text}\nLabel:", "input_variable": "text", "completion_prefix": " "}
PASSAGE = "Unworn items may be returned within 30 days for a full refund."


@pytest.fixture(scope="module")
def chat_engine(tmp_path_factory):
    """The tiny model with a chat template and a window for few-shot prompts of real examples."""
    from core.hf_engine import TransformersEngine
    from tests.tiny import build_tiny_model

    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-chat-long"), chat_template=True,
                              context=4096)
    return TransformersEngine.load(ModelSpec(source=str(folder), dtype="float32"))


@pytest.fixture
def handbook(monkeypatch):
    """A collection called 'handbook' whose search finds one passage (no embedding model)."""
    import core.knowledge
    import core.rag

    def search(name, query, k=3):
        if name != "handbook":
            return core.knowledge.collection_info(name)  # the real "no such collection" error
        return [Hit(Chunk("returns.md", "Returns", PASSAGE, 0), 0.9, 1)]

    monkeypatch.setattr(core.knowledge, "search", search)
    monkeypatch.setattr(core.rag, "search", search)


@pytest.fixture
def a_run(monkeypatch):
    """A finished tuned run 'r' trained on TEMPLATE (what core.compare reads from its folder)."""
    monkeypatch.setattr(setup_answer, "tuned_run",
                        lambda choice: TunedRun(ModelSpec(), TEMPLATE, {}, {}))


def _compared(monkeypatch, engine, task, setup, text, template=None) -> str:
    """The prompt a comparison sends the model for ``text`` (scored or generated)."""
    sent: list[str] = []
    for name in ("_scored", "_generated"):
        real = getattr(setup_eval, name)

        def recorded(engine, prompts, *rest, _real=real, **kw):
            sent.extend(prompts)
            return _real(engine, prompts, *rest, **kw)

        monkeypatch.setattr(setup_eval, name, recorded)
    run_setup(engine, task, setup, [{"input": text}], 7, template=template)
    [prompt] = sent
    return prompt


SETUPS = {
    "zero-shot": ("review-sentiment", Setup("zero")),
    "few-shot": ("review-sentiment", Setup("two", prompt=PromptChoice("few-shot", shots=2))),
    "system": ("review-sentiment", Setup("sys", prompt=PromptChoice(system="Answer in one word."))),
    "tuned run + shots": ("review-sentiment", Setup("tuned", ModelChoice(run_id="r"),
                                                    PromptChoice("few-shot", shots=2))),
    "retrieval": ("handbook-qa", Setup("rag", retrieval=RetrievalChoice("handbook", top_k=1))),
    "tuned run + retrieval": ("handbook-qa", Setup("tuned rag", ModelChoice(run_id="r"),
                                                   retrieval=RetrievalChoice("handbook"))),
    "chain-of-thought": ("shop-math", Setup("cot", prompt=PromptChoice("cot"))),
}


@pytest.mark.parametrize("which", list(SETUPS))
def test_the_column_shows_the_prompt_compare_scores(which, monkeypatch, chat_engine, handbook,
                                                    a_run):
    name, setup = SETUPS[which]
    task = load_task(name)
    text = load_split(name, "test")[0][task.input_field]
    shown, params = setup_prompt(setup, task, text, chat_engine, seed=7)
    template = TEMPLATE if setup.model.run_id else None
    assert shown == _compared(monkeypatch, chat_engine, task, setup, text, template)
    assert text.strip() in shown and params.max_new_tokens > 0
    if which == "system":
        assert shown.startswith("<|im_start|>system\nAnswer in one word.")
    if setup.retrieval.collection:
        assert PASSAGE in shown
    if which == "tuned run + shots":
        assert shown.endswith(f"Text: {text}\nLabel:") and task.instruction not in shown
        assert shown.count("\nLabel: ") == 2  # its two worked examples, in its own template


def test_a_classification_answer_streams_and_carries_the_label_compare_counts(chat_engine):
    task = load_task("review-sentiment")
    setup = Setup("two", prompt=PromptChoice("few-shot", shots=2))
    chunks: list[str] = []
    answer = answer_one(setup, task, "Loud but fast.", chat_engine, chunks.append)
    assert "".join(chunks) == answer.text and answer.completion_tokens >= 1
    expected = run_setup(chat_engine, task, setup, [{"input": "Loud but fast."}], 0)
    assert answer.label == answer.prediction == expected.predictions[0]
    assert answer.label in task.labels and not answer.calibrated
    assert answer.prompt == setup_prompt(setup, task, "Loud but fast.", chat_engine)[0]
    assert answer.prompt_tokens > 0 and answer.seconds > 0


def test_a_calibrated_setup_gives_its_calibrated_label(chat_engine):
    task = load_task("review-sentiment")
    setup = Setup("cal", prompt=PromptChoice("few-shot", shots=2, calibrate=True))
    answer = answer_one(setup, task, "It broke after a week.", chat_engine)
    expected = run_setup(chat_engine, task, setup, [{"input": "It broke after a week."}], 0)
    assert answer.calibrated and answer.label == expected.predictions[0]


def test_react_runs_its_loop_and_returns_the_transcript(chat_engine):
    task = load_task("shop-math")
    setup = Setup("agent", prompt=PromptChoice("react", tools=("calculator",), max_steps=2))
    steps: list[str] = []
    answer = answer_one(setup, task, "What is 3 times 4?", chat_engine, steps.append)
    assert 1 <= len(steps) <= 2  # one chunk per step of the loop
    assert answer.prompt.endswith("Question: What is 3 times 4?\nThought:")
    assert answer.text == "".join(steps)  # the transcript after the opening prompt
    assert answer.label is None and answer.completion_tokens >= 1


def test_a_setup_that_cannot_answer_says_why(chat_engine, handbook):
    task = load_task("handbook-qa")
    gone = Setup("gone", ModelChoice(run_id="20990101-000000-gone"))
    with pytest.raises(LabError, match="20990101-000000-gone"):
        answer_one(gone, task, "Can I return boots?", chat_engine)
    missing = Setup("missing", retrieval=RetrievalChoice("no-such-collection"))
    with pytest.raises(LabError, match="no-such-collection"):
        setup_prompt(missing, task, "Can I return boots?", chat_engine)
    with pytest.raises(ConfigError, match="The input is empty"):
        answer_one(Setup("zero"), task, "  ", chat_engine)
    agent = Setup("agent", prompt=PromptChoice("react"))
    with pytest.raises(ConfigError, match="ReAct answers questions with tools"):
        setup_prompt(agent, load_task("review-sentiment"), "Fine.", chat_engine)
