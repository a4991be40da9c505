"""Every field of every config dataclass: a wrong type or an out-of-range value is a named
ConfigError, never another exception (issue 15). See tests/config_properties.py."""

from __future__ import annotations

import pytest

from core.config import GenerationParams, ModelSpec
from tests.config_properties import check_every_field, param

CONFIGS = [
    param(ModelSpec, {}),
    param(GenerationParams, {}),
]


@pytest.mark.parametrize("cls, valid, skip", CONFIGS)
def test_every_field_refuses_wrong_types_and_out_of_range_values_by_name(cls, valid, skip):
    check_every_field(cls, valid, skip)
