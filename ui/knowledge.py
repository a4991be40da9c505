"""Pieces of the Knowledge page: a retrieved passage with highlights, the side-by-side ask."""

from __future__ import annotations

import html
import re

import streamlit as st

from core.config import GenerationParams
from core.knowledge import Hit
from core.rag import RagConfig, build_rag_prompt, cited, plain_question_prompt
from ui.controls import figures_row, stream_answer

STOPWORDS = {"the", "and", "for", "how", "what", "does", "did", "with", "from", "that", "this",
             "much", "many", "who", "when", "where", "which", "are", "was", "can", "you"}


def highlight(text: str, question: str) -> str:
    """The passage as HTML with the question's words marked."""
    words = sorted({w for w in re.findall(r"\w+", question.lower())
                    if len(w) > 2 and w not in STOPWORDS}, key=len, reverse=True)
    escaped = html.escape(text)
    if not words:
        return escaped
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\w*", re.IGNORECASE)
    return pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped)


def show_hit(hit: Hit, question: str) -> None:
    with st.container(border=True):
        st.markdown(f"**[{hit.rank}]** `{hit.chunk.doc}` · {hit.chunk.heading or '(no heading)'} · "
                    f"similarity **{hit.score:.3f}**")
        st.html(f"<div style='font-size:0.9rem;line-height:1.4'>{highlight(hit.chunk.text, question)}</div>")


def ask_side_by_side(engine, config: RagConfig, question: str) -> None:
    """The same question without and with the passages, streamed in two columns."""
    rag = build_rag_prompt(config, question)
    plain = plain_question_prompt(question)
    params = GenerationParams(max_new_tokens=48, stop=rag.stops)
    without, with_docs = st.columns(2)
    with without:
        st.markdown("**Without the documents**")
        with st.expander(f"Prompt · {engine.count_tokens(plain)} tokens"):
            st.code(plain, language=None, wrap_lines=True)
        figures_row(stream_answer(engine.stream(plain, params)), compact=True)
    with with_docs:
        st.markdown(f"**With {len(rag.hits)} passages (RAG)**")
        with st.expander(f"Prompt · {engine.count_tokens(rag.text)} tokens"):
            st.code(rag.text, language=None, wrap_lines=True)
        completion = stream_answer(engine.stream(rag.text, params))
        used = cited(completion.text, rag.hits)
        st.caption("Cites: " + (", ".join(f"[{h.rank}] {h.chunk.doc}" for h in used)
                                if used else "no passage cited"))
        figures_row(completion, compact=True)
