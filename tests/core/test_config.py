"""Settings are checked where they are made, with messages that name the field and the fix."""

import pytest

from core.config import GenerationParams, ModelSpec
from core.errors import ConfigError


@pytest.mark.parametrize("field,value,words", [
    ("temperature", 9.0, "temperature must be between 0.0 and 5.0"),
    ("temperature", -0.1, "temperature"),
    ("top_p", 0.0, "top_p must be above 0"),
    ("top_p", 1.5, "top_p"),
    ("top_k", -1, "top_k"),
    ("max_new_tokens", 0, "max_new_tokens must be between 1"),
    ("max_new_tokens", 2.5, "max_new_tokens must be a whole number"),
    ("repetition_penalty", 0.0, "repetition_penalty"),
    ("seed", -3, "seed"),
    ("temperature", "hot", "temperature must be a finite number"),
    ("stop", ("",), "Stop sequences must be non-empty"),
])
def test_bad_generation_settings_are_named(field, value, words):
    with pytest.raises(ConfigError) as info:
        GenerationParams(**{field: value})
    assert words in str(info.value)
    assert info.value.fix or field == "stop"


def test_generation_params_round_trip_through_a_dict():
    params = GenerationParams(max_new_tokens=10, temperature=0.7, top_p=0.9, top_k=5,
                              repetition_penalty=1.1, stop=("\n", "###"), seed=7)
    assert GenerationParams.from_dict(params.to_dict()) == params
    assert GenerationParams(temperature=1).temperature == 1.0  # ints are accepted for floats
    assert GenerationParams(stop="END").stop == ("END",)


def test_unknown_setting_in_a_saved_dict_is_reported():
    with pytest.raises(ConfigError, match="Unknown generation setting.*tempreature"):
        GenerationParams.from_dict({"tempreature": 0.5})


@pytest.mark.parametrize("kwargs,words", [
    ({"source": "   "}, "model source is empty"),
    ({"device": "tpu"}, "Unknown device"),
    ({"device": "cuda:x"}, "Unknown device"),
    ({"dtype": "int3"}, "Unknown dtype"),
])
def test_bad_model_specs(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        ModelSpec(**kwargs)


def test_model_spec_kinds():
    assert ModelSpec().is_embedded and ModelSpec().embedded_name == "gemma-3-270m"
    assert not ModelSpec(source="org/name").is_embedded
    assert ModelSpec(device="cuda:1").device == "cuda:1"
    assert hash(ModelSpec()) == hash(ModelSpec())  # usable as a cache key


@pytest.mark.parametrize("schema,words", [
    ('{"type": "objec"}', "not a valid JSON Schema at type"),
    ("{bad", "not valid JSON: Expecting property name"),
    ("[1, 2]", "must be a JSON object, got list"),
    ('{"properties": {"age": {"type": "integer", "minimum": "x"}}}',
     "at properties/age/minimum: 'x' is not of type 'number'"),
])
def test_bad_json_schemas_are_explained(schema, words):
    with pytest.raises(ConfigError, match=words.replace("[", "\\[")) as info:
        GenerationParams(json_schema=schema)
    assert info.value.fix


def test_a_valid_schema_is_kept_as_compact_json():
    params = GenerationParams(json_schema='{"type": "object",\n "required": ["a"]}')
    assert params.json_schema == '{"required":["a"],"type":"object"}'
    assert GenerationParams.from_dict(params.to_dict()) == params
