"""The ReAct tools: a calculator that never runs code, and observations instead of crashes."""

from __future__ import annotations

import pytest

from core.react import ReActConfig, parse_action, run_react
from core.generation import Completion
from core.tools import CalculatorError, calculate, run_tool


@pytest.mark.parametrize("expression, result", [
    ("17 * 23", "391"), ("17*23 + 348/12", "420"), ("(3 + 4) * 2.5", "17.5"), ("2 ** 10", "1024"),
    ("-3 + 5", "2"), ("7 // 2", "3"), ("7 % 4", "3"), ("1,234 + 1", "1235"), ("2^3", "8"),
    ("0.1 + 0.2", "0.3"), ("3 × 4 =", "12"),
])
def test_calculator_does_arithmetic(expression, result):
    assert calculate(expression) == result


@pytest.mark.parametrize("expression, message", [
    ("__import__('os').system('echo hi')", "only does arithmetic"),
    ("open('/etc/passwd')", "only does arithmetic"),
    ("a + 1", "only does arithmetic"),
    ("9 ** 9 ** 9", "exponent"),
    ("1 / 0", "Division by zero"),
    ("2 +", "not an arithmetic expression"),
    ("", "empty"),
    ("1" * 300, "longer than"),
    ("(-8) ** 0.5", "out of the calculator's range"),
])
def test_calculator_refuses_everything_else(expression, message):
    with pytest.raises(CalculatorError, match=message):
        calculate(expression)


def test_tool_errors_become_observations_for_the_agent():
    assert run_tool("calculator", "1/0").text == "Error: Division by zero."
    assert not run_tool("shell", "ls").ok
    assert run_tool("search", "x").text == "No document collection is available."
    assert run_tool("search", "tents", search=lambda q: f"found {q}").text == "found tents"


def test_parse_action():
    assert parse_action(" I multiply.\nAction: calculator[17 * 23]") == ("calculator", "17 * 23")
    assert parse_action("Action: finish[391]") == ("finish", "391")
    assert parse_action("I am not sure.") is None


def _scripted(replies):
    """A fake model that answers each step with the next scripted text, recording prompts."""
    prompts = []

    def generate(prompt, params):
        prompts.append(prompt)
        text = replies[len(prompts) - 1]
        return Completion(text, len(prompt.split()), len(text.split()), 0.01, "stop", "fake", "fake")

    return generate, prompts


def test_react_loop_runs_real_tools_and_feeds_back_observations():
    generate, prompts = _scripted([" I need 17 times 23.\nAction: calculator[17 * 23]",
                                   " Now add 29.\nAction: calculator[391 + 29]",
                                   " I know it.\nAction: finish[420]"])
    result = run_react(generate, "What is 17*23+29?")
    assert result.answer == "420" and len(result.steps) == 3
    assert [s.observation.text for s in result.steps[:2]] == ["391", "420"]
    assert "Observation: 391\nThought:" in prompts[1]  # the true result, not the model's guess
    assert result.transcript.endswith("Action: finish[420]")


def test_react_keeps_only_the_first_action_and_stops_at_the_step_limit():
    generate, prompts = _scripted([" x\nAction: calculator[1+1]\nObservation: 5\nAction: finish[5]"] * 2)
    result = run_react(generate, "1+1?", ReActConfig(max_steps=2))
    assert result.answer is None and len(result.steps) == 2
    assert "Observation: 5" not in prompts[1] and "Observation: 2\nThought:" in prompts[1]


def test_react_without_an_action_tells_the_model_how_to_act():
    generate, prompts = _scripted(["I think it is big.", " ok\nAction: finish[7]"])
    result = run_react(generate, "How big?")
    assert result.answer == "7" and "No action found" in prompts[1]
