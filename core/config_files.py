"""Reading a config file (JSON, or YAML by its suffix) into a mapping of settings.

A file the person wrote by hand fails in a few ways: it cannot be read, its syntax is wrong,
it is empty, or its top level is a list, a number or a line of text instead of a mapping of
settings. Each is a ``ConfigError`` that names the file, the line and column where the syntax
broke, and what the top level must be, never a traceback. The training config and the
comparison config read their files through ``read_settings``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import ConfigError

YAML_SUFFIXES = (".yaml", ".yml")
MAPPING_FIX = ("The top level must be a mapping of settings: one name: value per line (YAML), "
               'or one object {"name": value, ...} (JSON).')


def read_settings(path: str | Path, what: str, empty_fix: str) -> dict[str, Any]:
    """The settings in ``path`` (YAML for .yaml/.yml, else JSON) as a non-empty dict with
    text keys. ``what`` names the file in messages ("training config"); ``empty_fix`` says
    what to do about an empty one. Anything else is a ConfigError naming the file."""
    path = Path(path)
    data = _parse(path, _read_text(path, what), what, empty_fix)
    if data is None or data == {}:
        raise ConfigError(f"The {what} {path} holds no settings (it is empty).", empty_fix)
    if not isinstance(data, dict):
        raise ConfigError(f"The {what} {path} holds {kind_of(data)} at its top level, not a "
                          "mapping of settings.", MAPPING_FIX)
    check_setting_names(data, f"The {what} {path}")
    return data


def check_setting_names(data: dict, where: str) -> None:
    """Setting names are text: YAML reads ``1: 2`` as a number key, which no setting has."""
    odd = [key for key in data if not isinstance(key, str)]
    if odd:
        raise ConfigError(f"{where} names a setting {odd[0]!r}, which is not a setting name.",
                          "Write each setting as name: value, with the setting's name as the "
                          "README gives it (task, lora_r, max_steps, ...).")


def kind_of(value: Any) -> str:
    """What a parsed top level is, in words that keep the type's name: "a list", "a number
    (int)", "a str (plain text)"."""
    if isinstance(value, bool):
        return f"a true/false value ({type(value).__name__})"
    if isinstance(value, (int, float)):
        return f"a number ({type(value).__name__})"
    if isinstance(value, str):
        return "a str (plain text)"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"The {what} {path} is not UTF-8 text (byte {exc.start} is not).",
                          "Save the file as UTF-8.") from None
    except OSError as exc:
        raise ConfigError(f"Could not read the {what} {path}: {exc.strerror or exc}.",
                          "Give the path of a JSON (or YAML) file that exists and is "
                          "readable.") from None


def _parse(path: Path, text: str, what: str, empty_fix: str) -> Any:
    """The parsed file: None for an empty YAML file; an empty JSON file is refused here."""
    kind = "YAML" if path.suffix.lower() in YAML_SUFFIXES else "JSON"
    if kind == "JSON" and not text.strip():
        raise ConfigError(f"The {what} {path} is not valid JSON: the file is empty.", empty_fix)
    try:
        return _parse_yaml(text, path) if kind == "YAML" else json.loads(text)
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(f"The {what} {path} is nested too deeply to read.",
                          "A config is a flat mapping of settings; remove the nesting.") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg}.", "Fix the file's syntax there.") from None
    except ValueError as exc:  # a number too long to convert
        raise ConfigError(f"{path} is not valid {kind}: {exc}", "Fix the file's syntax.") from None


def _parse_yaml(text: str, path: Path) -> Any:
    """yaml.safe_load, with a syntax error turned into a ConfigError naming the line and
    column where YAML saw it."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {yaml_problem(exc)}.",
                          "Fix the file's syntax there: one setting per line as name: value, "
                          "each [list] and {mapping} closed.") from None


def yaml_problem(exc: Exception) -> str:
    """"line 3, column 1: found unexpected end of stream (while scanning a quoted scalar that
    starts at line 2, column 7)", from a YAMLError's marks (counted from 0) and words."""
    def at(mark: Any) -> str:
        return f"line {mark.line + 1}, column {mark.column + 1}"

    mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    if context and context_mark is not None and (mark is None or context_mark.line != mark.line):
        context += f" that starts at {at(context_mark)}"
    text = f"{problem} ({context})" if context else problem
    return f"{at(mark)}: {text}" if mark is not None else text
