"""A property-style check for the lab's config dataclasses (issue 15).

For every field of a config class: a value of the wrong type, and values out of any sensible
range (negative, huge, NaN, Infinity, empty, a NUL byte), must each end in a ``ConfigError``
that names the field, or be accepted; never another exception (TypeError, ValueError from
numpy, RecursionError...). Numbers must refuse at least one out-of-range value.

Used by tests/core/test_config_properties.py and by any test of a config class that wants it:
``check_every_field(CompareConfig, valid_kwargs)``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

import pytest

from core.errors import ConfigError

NOT_A_TYPE = object()


def _base(hint: Any) -> Any:
    """The type behind ``X | None``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) and args else hint


def wrong_types(hint: Any) -> list[Any]:
    """Values no field of this type should take."""
    base = _base(hint)
    if base is bool:
        return ["yes", 2]
    if base is int:
        return ["abc", 2.5, True, [1]]
    if base is float:
        return ["abc", True, [0.5]]
    if base is str:
        return [3, ["a"], {"a": 1}]
    if typing.get_origin(base) in (tuple, list):
        return [3, [object()]]
    return [NOT_A_TYPE]


def out_of_range(hint: Any) -> list[Any]:
    """Values of the right type that a range check must look at."""
    base = _base(hint)
    if base is int:
        return [-1, 10**30]
    if base is float:
        return [-1.0, 1e30, math.nan, math.inf, -math.inf]
    if base is str:
        return ["", "x" * 100_000, "a\x00b"]
    return []


def _build(cls: type, valid: dict[str, Any], name: str, value: Any) -> ConfigError | None:
    try:
        cls(**{**valid, name: value})
    except ConfigError as exc:
        return exc
    return None


def check_every_field(cls: type, valid: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    """The property above, for every field of ``cls`` (``valid``: kwargs that build one)."""
    cls(**valid)  # the starting point itself is valid
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        hint = hints[f.name]
        for value in wrong_types(hint):
            if value is NOT_A_TYPE:
                continue
            error = _build(cls, valid, f.name, value)
            assert error is not None, f"{cls.__name__}.{f.name} accepted {value!r}"
            assert f.name in error.problem or f.name.replace("_", " ") in error.problem, \
                f"{cls.__name__}.{f.name}={value!r}: the message does not name the field: {error.problem}"
            assert error.fix, f"{cls.__name__}.{f.name}={value!r}: no fix given"
        refused = [v for v in out_of_range(hint) if _build(cls, valid, f.name, v) is not None]
        if _base(hint) in (int, float):
            assert refused, f"{cls.__name__}.{f.name} accepted every out-of-range value"
        for bad in (math.nan, math.inf) if _base(hint) is float else ():
            assert _build(cls, valid, f.name, bad) is not None, f"{cls.__name__}.{f.name} took {bad}"


def param(cls: type, valid: dict[str, Any], skip: tuple[str, ...] = ()):
    """A pytest param for a parametrized property test."""
    return pytest.param(cls, valid, skip, id=cls.__name__)
