"""Every field of every config dataclass: a wrong type or an out-of-range value is a named
ConfigError, never another exception (issue 15). See tests/config_properties.py."""

from __future__ import annotations

import pytest

from core.chat import Message
from core.config import GenerationParams, ModelSpec
from core.prompting import Example, PromptRecipe
from core.react import ReActConfig
from core.tasks import Task
from core.train_config import TrainConfig
from tests.config_properties import check_every_field, param

TASK = {"name": "t", "title": "T", "kind": "qa", "input_field": "question",
        "label_field": "answer", "instruction": "", "template": "Q: {input}\nA:", "source": ""}

CONFIGS = [
    param(ModelSpec, {}),
    param(GenerationParams, {}),
    param(TrainConfig, {}),
    param(PromptRecipe, {}),
    param(Example, {"input": "Great kettle!", "label": "POSITIVE"}),
    param(Message, {"role": "user", "content": "hi"}),
    param(ReActConfig, {}),
    param(Task, TASK),
]


@pytest.mark.parametrize("cls, valid, skip", CONFIGS)
def test_every_field_refuses_wrong_types_and_out_of_range_values_by_name(cls, valid, skip):
    check_every_field(cls, valid, skip)


def test_a_saved_example_with_an_unknown_key_is_a_named_error():
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="Unknown example setting"):
        PromptRecipe(technique="few-shot", examples=[{"input": "a", "label": "b", "x": 1}])
    recipe = PromptRecipe(technique="few-shot", examples=[{"input": "a", "label": "b"}])
    assert recipe.examples == (Example("a", "b"),)
