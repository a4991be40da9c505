"""Tools a ReAct agent may call: a safe calculator and a search over the lab's documents.

The calculator parses the expression with ``ast`` and evaluates only numbers,
``+ - * / // % **``, unary signs and parentheses: no names, no calls, no
attribute access, so nothing a model writes can run code (``eval`` is never
used). Exponents and results are bounded, so ``9**9**9`` cannot hang the lab.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass

from core.errors import ConfigError

MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e100
MAX_LENGTH = 200

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class CalculatorError(ConfigError):
    """An expression the calculator refuses, with the reason."""


def _evaluate(node: ast.AST) -> float | int:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalculatorError(f"The exponent {right} is too large (at most {MAX_EXPONENT}).")
        try:
            value = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise CalculatorError("Division by zero.") from None
        if isinstance(value, complex) or abs(value) > MAX_MAGNITUDE:
            raise CalculatorError("The result is out of the calculator's range.")
        return value
    raise CalculatorError(f"The calculator only does arithmetic; it does not understand "
                          f"{ast.unparse(node)!r}.",
                          "Use numbers, + - * / // % ** and parentheses.")


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression safely; the result as text ('12', '2.5')."""
    text = expression.strip().replace("×", "*").replace("÷", "/").replace("^", "**")
    text = text.replace(",", "").rstrip("=").strip()
    if not text:
        raise CalculatorError("The expression is empty.", "Write e.g. 17 * 23.")
    if len(text) > MAX_LENGTH:
        raise CalculatorError(f"The expression is longer than {MAX_LENGTH} characters.")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CalculatorError(f"{expression!r} is not an arithmetic expression.",
                              "Use numbers, + - * / // % ** and parentheses, e.g. (3 + 4) * 2.") from None
    value = _evaluate(tree)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise CalculatorError("The result is not a finite number.")
        value = round(value, 10)
        if value == int(value):
            return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Observation:
    """What a tool returned (or why it refused), as the agent reads it."""

    tool: str
    argument: str
    text: str
    ok: bool


def run_tool(tool: str, argument: str, search=None) -> Observation:
    """Call ``tool`` (calculator or search) with ``argument``; errors become observations."""
    name = tool.strip().lower()
    try:
        if name in ("calculator", "calculate", "calc"):
            return Observation("calculator", argument, calculate(argument), True)
        if name in ("search", "lookup"):
            if search is None:
                return Observation("search", argument, "No document collection is available.",
                                   False)
            return Observation("search", argument, search(argument), True)
    except ConfigError as exc:
        return Observation(name, argument, f"Error: {exc.problem}", False)
    return Observation(name, argument,
                       f"Error: unknown tool {tool!r}; the tools are calculator and search.", False)
