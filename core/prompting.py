"""Prompting techniques as strategies: each turns a question into the exact text the model reads.

A ``PromptRecipe`` (validated, shared by the Playground, the few-shot builder,
the comparison and the CLI) names the technique and its settings;
``build_prompt`` renders it into a ``BuiltPrompt``: the text, the stop
sequences, the label candidates or schema, and how to read the answer.
Nothing here calls a model, so every prompt can be shown (and counted) before
it runs.

Techniques:

- ``zero-shot``: instruction and the query, nothing else.
- ``few-shot``: instruction, worked examples rendered by the same template, the query.
  An example whose input is the query itself is always left out (``BuiltPrompt.dropped_shots``).
- ``system``: a system text, then the instruction and the input as the user turn, through the
  model's chat template (the lab's plain turn format for models without one); the template's
  answer cue (``Sentiment:``) opens the assistant turn.
- ``chain-of-thought``: asks for step-by-step reasoning that ends in ``Answer: ...``;
  ``extract_answer`` reads the final answer out of the reasoning.
- ``structured``: asks for JSON under a JSON Schema (its rules only, ``prompt_schema``);
  ``check_structured`` parses and validates the answer with ``jsonschema`` against the whole
  schema; the engine can constrain decoding.

Stop sequences come from the template in use (``template_stops``).
- ``react``: see ``core.react`` (a loop, not one prompt).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

from core.chat import PLAIN_STOP, Message, plain_chat_prompt
from core.config import check_field_types, check_json_schema, check_known_settings
from core.errors import ConfigError

TECHNIQUES = ("zero-shot", "few-shot", "system", "chain-of-thought", "structured", "react")
DEFAULT_TEMPLATE = "Input: {input}\nAnswer:"
COT_TRIGGER = " Let's think step by step."
COT_INSTRUCTION = ("Think step by step, then give the final answer on its own line as "
                   "'Answer: <answer>'.")
EXAMPLE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Example:
    """One worked example: the input and the answer the model should give."""

    input: str
    label: str

    def __post_init__(self) -> None:
        check_field_types(self, "Example")
        if not self.input.strip():
            raise ConfigError("An example has an empty input.", "Fill in its input or delete it.")
        if not self.label.strip():
            raise ConfigError(f"The example {self.input[:40]!r} has no answer.",
                              "Fill in its answer (label) or delete it.")


def template_fields(template: str) -> list[str]:
    """The variables a template uses, e.g. ``['input']`` for ``'Review: {input}'``."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"The template is malformed: {exc}.",
                          "Write variables as {input}; to show a literal brace, double it: "
                          "{{ or }}.") from None


def check_template(template: str, allowed: tuple[str, ...] = ("input",)) -> str:
    """Refuse a template with unknown or missing variables; return it unchanged."""
    if not isinstance(template, str) or not template.strip():
        raise ConfigError("The template is empty.", f"Use e.g. {DEFAULT_TEMPLATE!r}.")
    names = template_fields(template)
    unknown = sorted({n for n in names if n not in allowed})
    if unknown:
        raise ConfigError(f"The template uses unknown variable(s): "
                          f"{', '.join('{' + n + '}' for n in unknown)}.",
                          f"Available: {', '.join('{' + a + '}' for a in allowed)}. Rename the "
                          "variable, or double its braces to keep it as text.")
    if "input" not in names:
        raise ConfigError("The template has no {input}: every prompt would be the same.",
                          "Put {input} where the example's text goes.")
    return template


def render(template: str, text: str) -> str:
    """The template with ``{input}`` filled in."""
    return check_template(template).format(input=text)


def _example(data: dict[str, Any]) -> Example:
    """An Example from its saved form {"input": ..., "label": ...}; other keys are an error."""
    check_known_settings(Example, data, "example")
    return Example(data.get("input", ""), data.get("label", ""))


@dataclass(frozen=True)
class PromptRecipe:
    """A technique and its settings: everything ``build_prompt`` needs besides the query."""

    technique: str = "zero-shot"
    instruction: str = ""
    template: str = DEFAULT_TEMPLATE
    examples: tuple[Example, ...] = field(default_factory=tuple)
    system: str = ""
    labels: tuple[str, ...] = field(default_factory=tuple)
    json_schema: str | None = None
    constrained: bool = True   # structured: constrain decoding to the schema

    def __post_init__(self) -> None:
        if isinstance(self.examples, (list, tuple)):  # saved sets and configs give dicts
            object.__setattr__(self, "examples", tuple(
                _example(e) if isinstance(e, dict) else e for e in self.examples))
        check_field_types(self, "Prompt")
        if self.technique not in TECHNIQUES:
            raise ConfigError(f"Unknown technique {self.technique!r}.",
                              f"Use one of {', '.join(TECHNIQUES)}.")
        check_template(self.template)
        object.__setattr__(self, "labels", tuple(self.labels))
        if self.technique == "few-shot" and not self.examples:
            raise ConfigError("Few-shot needs at least one example, and the set is empty.",
                              "Pick a saved few-shot set, or add examples in the Few-shot builder.")
        if self.technique == "structured":
            if not self.json_schema:
                raise ConfigError("Structured output needs a JSON Schema.",
                                  "Paste one, or pick a sample task: each fills in its schema.")
            object.__setattr__(self, "json_schema", check_json_schema(self.json_schema))

    def to_dict(self) -> dict[str, Any]:
        return {"technique": self.technique, "instruction": self.instruction,
                "template": self.template, "system": self.system, "labels": list(self.labels),
                "examples": [e.__dict__ for e in self.examples],
                "json_schema": self.json_schema, "constrained": self.constrained}


@dataclass(frozen=True)
class BuiltPrompt:
    """The exact text for the model and how to read what comes back."""

    text: str
    stops: tuple[str, ...]
    technique: str
    labels: tuple[str, ...] = ()
    json_schema: str | None = None   # set when decoding is to be constrained
    shots: int = 0          # worked examples in the text
    dropped_shots: int = 0  # worked examples left out because their input is the query itself

    @property
    def shots_note(self) -> str | None:
        """What a page should say when examples were left out, None when none were."""
        if not self.dropped_shots:
            return None
        n = self.dropped_shots
        what = f"{n} example{'s' if n > 1 else ''} left out: {'they are' if n > 1 else 'it is'} " \
               "the query itself (the model must not be shown the answer it is asked for)"
        if self.technique == "few-shot" and not self.shots:
            return what + "; no example is left, so the prompt is zero-shot."
        return what + "."


def normal_text(text: str) -> str:
    """``text`` as inputs are compared: spacing collapsed, case folded."""
    return " ".join(str(text).split()).casefold()


def same_text(a: str, b: str) -> bool:
    """Whether two inputs are the same text, ignoring case, surrounding and repeated spaces
    (a pasted query with an extra space or a capital is still the example it was copied from)."""
    return normal_text(a) == normal_text(b)


def shots_for(examples: tuple[Example, ...], query: str) -> tuple[tuple[Example, ...], int]:
    """The examples that may be shown for ``query`` (never the query itself) and how many
    were left out."""
    kept = tuple(e for e in examples if not same_text(e.input, query))
    return kept, len(examples) - len(kept)


def few_shot_block(template: str, examples: tuple[Example, ...] | list[Example]) -> str:
    """The worked examples, each rendered by the template and followed by its answer."""
    return EXAMPLE_SEPARATOR.join(f"{render(template, e.input)} {e.label}" for e in examples)


def template_stops(template: str) -> tuple[str, ...]:
    """Where a one-line answer ends under ``template``: a blank line, or the model starting
    the next input itself (the text before ``{input}`` on the template's first line, e.g.
    ``'\\nReview:'`` for ``'Review: {input}\\nSentiment:'``)."""
    head = render(template, "\0").split("\0", 1)[0].split("\n")[-1].strip()
    # a template that opens on {input} has no marker the model would repeat
    return ("\n\n", "\n" + head) if head else ("\n\n",)


def _with_instruction(instruction: str, body: str) -> str:
    return f"{instruction.strip()}{EXAMPLE_SEPARATOR}{body}" if instruction.strip() else body


# words for people and tools, not rules the answer must follow: in a prompt a small model
# copies them into its data (a schema's title became the event's title)
ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$anchor", "title", "description",
                         "examples", "default", "deprecated", "readOnly", "writeOnly"})
SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def _rules_only(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    kept: dict[str, Any] = {}
    for key, value in node.items():
        if key in ANNOTATIONS:
            continue
        if key in SCHEMA_MAPS and isinstance(value, dict):  # names here are fields, not keywords
            kept[key] = {name: _rules_only(sub) for name, sub in value.items()}
        elif key in SCHEMA_LISTS and isinstance(value, list):
            kept[key] = [_rules_only(sub) for sub in value]
        elif key == "items" and isinstance(value, list):  # draft-04 tuple form
            kept[key] = [_rules_only(sub) for sub in value]
        else:
            kept[key] = _rules_only(value) if isinstance(value, dict) else value
    return kept


def prompt_schema(schema: str) -> str:
    """The JSON Schema as the prompt shows it: on one line, the rules the answer must follow
    (types, fields, required, enum, patterns, bounds) without ``$schema``, ``$id``, titles,
    descriptions, examples and defaults. Validation and constrained decoding keep the full
    schema."""
    return json.dumps(_rules_only(json.loads(schema)), ensure_ascii=False)


def answer_cue(template: str) -> tuple[str, str]:
    """``template`` split into the part that asks (up to and with ``{input}``'s line) and the
    cue the answer follows (its last line when that line has no ``{input}``, e.g.
    ``'Sentiment:'``); the cue is empty when the template ends on ``{input}``'s line."""
    body, _, last = check_template(template).rstrip().rpartition("\n")
    if not body or "{input}" in last:
        return template, ""
    return body, last.strip().format()  # no variable on it: only doubled braces to undo


def _system_prompt(recipe: PromptRecipe, query: str, chat_prompt) -> tuple[str, tuple[str, ...]]:
    """The system technique: the instruction and the input in the user turn, the template's
    cue opening the assistant turn. Left in the user turn, a cue like 'Sentiment:' sits right
    above 'Assistant:' in the plain turn format, and Gemma answered it with a newline and a
    new turn: an empty answer. Measured on the four sample tasks (6 test inputs each, greedy):
    0 empty answers in this shape on transformers and on llama.cpp, 3 and 1 with the cue
    moved but a blank line after the instruction; with the cue stacked, both of the first two
    sentiment inputs were empty."""
    body, cue = answer_cue(recipe.template)
    # one newline, not a blank line, between instruction and input: after a prompt of blank-line
    # blocks Gemma often opens its answer with a blank line too (the '\n\n' stop: empty answer)
    instruction = recipe.instruction.strip()
    user = f"{instruction}\n{render(body, query)}" if instruction else render(body, query)
    messages = [Message("system", recipe.system), Message("user", user)]
    text = chat_prompt(messages)
    stops = template_stops(recipe.template)
    if text == plain_chat_prompt(messages):  # the lab's turn format: the model may write a turn
        stops = (PLAIN_STOP,) + stops
    if cue:  # after a chat template's 'assistant\n' the cue starts the line
        text += cue if text.endswith(("\n", " ")) else " " + cue
    return text, stops


def build_prompt(recipe: PromptRecipe, query: str, chat_prompt=None) -> BuiltPrompt:
    """Render ``recipe`` for ``query``. ``chat_prompt`` is the engine's (for ``system``)."""
    if not isinstance(query, str) or not query.strip():
        raise ConfigError("The input is empty.", "Type the text the model should work on.")
    query_text = render(recipe.template, query)
    # a query among its own shots would show the model the answer it is asked for
    examples, dropped = shots_for(recipe.examples, query)
    # one answer per line: the model's next example is where its answer ends
    stops = template_stops(recipe.template)
    if recipe.technique == "zero-shot":
        text = _with_instruction(recipe.instruction, query_text)
    elif recipe.technique == "few-shot":
        body = (few_shot_block(recipe.template, examples) + EXAMPLE_SEPARATOR
                if examples else "") + query_text
        text = _with_instruction(recipe.instruction, body)
    elif recipe.technique == "system":
        if chat_prompt is None:
            raise ConfigError("The system technique needs a loaded model (for its chat template).",
                              "Pick a model in the sidebar.")
        text, stops = _system_prompt(recipe, query, chat_prompt)
    elif recipe.technique == "chain-of-thought":
        instruction = f"{recipe.instruction.strip()} {COT_INSTRUCTION}".strip()
        text = _with_instruction(instruction, query_text) + COT_TRIGGER
        # reasoning runs over several lines: only two blank lines or a new input end it
        stops = ("\n\n\n",) + stops[1:]
    elif recipe.technique == "structured":
        schema = prompt_schema(recipe.json_schema)
        instruction = (f"{recipe.instruction.strip()}\nAnswer with one JSON object that follows "
                       f"this JSON Schema:\n{schema}").strip()
        block = few_shot_block(recipe.template, examples) + EXAMPLE_SEPARATOR \
            if examples else ""
        text = _with_instruction(instruction, block + query_text)
        return BuiltPrompt(text, stops, recipe.technique, recipe.labels,
                           recipe.json_schema if recipe.constrained else None,
                           len(examples), dropped)
    else:
        raise ConfigError("ReAct is a loop of prompts, not one prompt.",
                          "Use core.react.run_react for it.")
    shown = len(examples) if recipe.technique == "few-shot" else 0
    return BuiltPrompt(text, stops, recipe.technique, recipe.labels, None, shown,
                       dropped if recipe.technique == "few-shot" else 0)


ANSWER_LINE = re.compile(r"answer\s*(?:is|:)\s*[:\-]?\s*(.+)", re.IGNORECASE)
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def extract_answer(text: str, labels: tuple[str, ...] = (), numeric: bool = False) -> str | None:
    """The final answer in a model's reasoning: the last 'Answer: ...' line, else the last
    label (or number) mentioned. None when there is none."""
    lines = [m.group(1).strip() for m in ANSWER_LINE.finditer(text)]
    candidates = [lines[-1]] if lines else []
    candidates.append(text)
    for chunk in candidates:
        if labels:
            found = _last_label(chunk, labels)
            if found:
                return found
        elif numeric:
            numbers = NUMBER.findall(chunk)
            if numbers:
                return normalise_number(numbers[0] if chunk is not text else numbers[-1])
        elif chunk is not text:
            return chunk.strip().rstrip(".")
    return None


def _last_label(text: str, labels: tuple[str, ...]) -> str | None:
    best, where = None, -1
    for label in labels:
        for match in re.finditer(rf"\b{re.escape(label)}\b", text, re.IGNORECASE):
            if match.start() > where:
                best, where = label, match.start()
    return best


def normalise_number(text: str) -> str:
    """'1,234.50' -> '1234.5'; integers without a decimal point."""
    value = float(text.replace(",", ""))
    return str(int(value)) if value == int(value) else f"{value:.6g}"


def first_label(text: str, labels: tuple[str, ...]) -> str | None:
    """The label a direct answer starts with (case-insensitive), None if it names none."""
    head = text.strip().split("\n", 1)[0]
    matches = [(m.start(), label) for label in labels
               for m in [re.search(rf"\b{re.escape(label)}\b", head, re.IGNORECASE)] if m]
    return min(matches)[1] if matches else None


@dataclass(frozen=True)
class StructuredCheck:
    """Whether an answer parsed as JSON and passed the schema, and why not."""

    parsed: bool
    valid: bool
    value: Any = None
    errors: tuple[str, ...] = ()


def _json_span(text: str) -> str | None:
    start = text.find("{")
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(text[start:], start):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return None


def label_schema(labels: tuple[str, ...] | list[str]) -> str:
    """The JSON Schema of a classification answer: {"label": one of ``labels``}."""
    return json.dumps({"type": "object", "properties": {"label": {"enum": list(labels)}},
                       "required": ["label"], "additionalProperties": False}, indent=2)


def check_structured(text: str, schema: str | dict) -> StructuredCheck:
    """Parse the first JSON object in ``text`` and validate it against ``schema``."""
    import jsonschema

    span = _json_span(text)
    if span is None:
        return StructuredCheck(False, False, None, ("no complete JSON object in the answer",))
    try:
        value = json.loads(span)
    except json.JSONDecodeError as exc:
        return StructuredCheck(False, False, None, (f"not valid JSON: {exc.msg}",))
    schema_obj = json.loads(schema) if isinstance(schema, str) else schema
    validator = jsonschema.validators.validator_for(schema_obj)(schema_obj)
    errors = tuple(f"{'/'.join(map(str, e.path)) or '(top level)'}: {e.message}"
                   for e in validator.iter_errors(value))
    return StructuredCheck(True, not errors, value, errors)
