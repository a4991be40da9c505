"""Retrieval-augmented prompts: passages from a collection, wrapped around the question.

``RagConfig`` names the collection, how many passages to fetch and the
wrapper template (``{context}`` and ``{question}``). ``build_rag_prompt``
returns the exact text with numbered passages, so the answer can cite them as
``[1]``; ``cited`` reads those citations back.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from core.config import check_field_types
from core.errors import ConfigError
from core.knowledge import Hit, check_name, format_hits, search

DEFAULT_RAG_TEMPLATE = ("Use the passages to answer the question in a few words. Cite the "
                        "passage you used as [n].\n\nPassages:\n{context}\n\n"
                        "Question: {question}\nAnswer:")
NO_RAG_TEMPLATE = "Answer the question in a few words.\n\nQuestion: {question}\nAnswer:"
# the answer ends at a blank line, a new question, or where the model starts writing a passage
# of its own ("\n[4] (faq.md) ...", the format ``format_hits`` numbers passages in)
STOPS = ("\n\n", "\nQuestion:", "\n[", "\nPassages:")
CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def check_rag_template(template: str) -> str:
    """The wrapper must hold {context} and {question} and nothing else in braces."""
    try:
        names = {n for _, n, _, _ in string.Formatter().parse(template) if n is not None}
    except ValueError as exc:
        raise ConfigError(f"The RAG template is malformed: {exc}.",
                          "Write {context} and {question}; double other braces.") from None
    missing = {"context", "question"} - names
    unknown = names - {"context", "question"}
    if missing or unknown:
        raise ConfigError(
            "The RAG template " + (f"lacks {', '.join('{' + m + '}' for m in sorted(missing))}"
                                   if missing else "") +
            (" and " if missing and unknown else "") +
            (f"uses unknown {', '.join('{' + u + '}' for u in sorted(unknown))}" if unknown else "") + ".",
            "Use {context} where the passages go and {question} where the question goes.")
    return template


@dataclass(frozen=True)
class RagConfig:
    """Which collection, how many passages, and the text around them."""

    collection: str
    top_k: int = 3
    template: str = DEFAULT_RAG_TEMPLATE
    passage_chars: int = 600

    def __post_init__(self) -> None:
        check_field_types(self, "RAG")
        check_name(self.collection)
        if not 1 <= self.top_k <= 20:
            raise ConfigError(f"RAG setting top_k (passages to fetch) must be 1 to 20, got "
                              f"{self.top_k!r}.", "Use 2-5 passages.")
        if not 20 <= self.passage_chars <= 8000:
            raise ConfigError(f"RAG setting passage_chars (characters shown of each passage) must "
                              f"be 20 to 8000, got {self.passage_chars!r}.",
                              "Keep the default 600, or match the chunk size.")
        check_rag_template(self.template)


@dataclass(frozen=True)
class RagPrompt:
    text: str
    hits: tuple[Hit, ...]
    stops: tuple[str, ...] = STOPS


def build_rag_prompt(config: RagConfig, question: str) -> RagPrompt:
    """Retrieve the top-k passages for ``question`` and wrap them with it."""
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("The question is empty.", "Type a question.")
    hits = search(config.collection, question, config.top_k)
    text = config.template.format(context=format_hits(hits, config.passage_chars),
                                  question=question.strip())
    return RagPrompt(text, tuple(hits))


def plain_question_prompt(question: str) -> str:
    """The same question without passages: what the model knows on its own."""
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("The question is empty.", "Type a question.")
    return NO_RAG_TEMPLATE.format(question=question.strip())


def citations(answer: str) -> list[int]:
    """The passage numbers an answer cites as [n] (or [n, m]), in order, each once."""
    numbers = (int(n) for match in CITATION.finditer(answer) for n in match.group(1).split(","))
    return list(dict.fromkeys(numbers))


def cited(answer: str, hits: tuple[Hit, ...]) -> list[Hit]:
    """The passages an answer cites as [n], in order of first citation."""
    by_rank = {h.rank: h for h in hits}
    return [by_rank[n] for n in citations(answer) if n in by_rank]


def unknown_citations(answer: str, n_passages: int) -> list[int]:
    """The numbers an answer cites that no passage of the prompt has (passages are numbered
    1 to ``n_passages``): a citation the model invented."""
    return [n for n in citations(answer) if not 1 <= n <= n_passages]
