"""Turning a conversation (system, user and assistant turns) into the model's text.

Models with a chat template (SmolLM2 Instruct, most instruct models) use it.
Base models have none (Gemma 3 270M base): for them the lab uses one plain-text
format, documented in the README and shown in the UI::

    <system text>

    User: <user text>
    Assistant: <assistant text>
    User: <user text>
    Assistant:

The system text stands alone at the top (left out if empty); each turn is one
``Role: text`` block; the prompt ends with ``Assistant:`` so the model writes
the answer. ``PLAIN_STOP`` ends an answer where the model starts the next user
turn itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import check_field_types
from core.errors import ConfigError

ROLES = ("system", "user", "assistant")
PLAIN_STOP = "\nUser:"


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: str
    content: str

    def __post_init__(self) -> None:
        check_field_types(self, "Message")
        if self.role not in ROLES:
            raise ConfigError(f"Unknown message role {self.role!r}.", f"Use one of {', '.join(ROLES)}.")
        if not isinstance(self.content, str):
            raise ConfigError("Message content must be text.")


def plain_chat_prompt(messages: list[Message]) -> str:
    """The lab's plain-text format for models without a chat template."""
    parts: list[str] = []
    turns = list(messages)
    if turns and turns[0].role == "system":
        if turns[0].content.strip():
            parts.append(turns[0].content.strip() + "\n")
        turns = turns[1:]
    for message in turns:
        if message.role == "system":
            raise ConfigError("A system message may only come first.",
                              "Move the system text to the top of the conversation.")
        parts.append(f"{message.role.capitalize()}: {message.content.strip()}")
    parts.append("Assistant:")
    return "\n".join(parts)


def chat_prompt(tokenizer, messages: list[Message]) -> str:
    """Render a conversation as the exact text the model will see."""
    if not messages:
        raise ConfigError("The conversation is empty.", "Write at least one user message.")
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([m.__dict__ for m in messages], tokenize=False,
                                             add_generation_prompt=True)
    return plain_chat_prompt(messages)


def chat_stops(tokenizer) -> tuple[str, ...]:
    """Stop sequences that end an assistant answer in the format ``chat_prompt`` used."""
    return () if getattr(tokenizer, "chat_template", None) else (PLAIN_STOP,)
