"""Pieces of the Knowledge page: a retrieved passage with highlights, the side-by-side ask."""

from __future__ import annotations

import html
import re

import streamlit as st

from core.config import GenerationParams
from core.knowledge import Hit
from core.rag import RagConfig, build_rag_prompt, cited, plain_question_prompt
from ui.controls import figures_row, plain, stream_answer

STOPWORDS = {"the", "and", "for", "how", "what", "does", "did", "with", "from", "that", "this",
             "much", "many", "who", "when", "where", "which", "are", "was", "can", "you"}


def highlight(text: str, question: str) -> str:
    """The passage as HTML with the question's words marked; everything else escaped."""
    words = sorted({w for w in re.findall(r"\w+", question.lower())
                    if len(w) > 2 and w not in STOPWORDS}, key=len, reverse=True)
    if not words:
        return html.escape(text)
    # match on the raw text and escape each piece: marking the escaped text would also
    # match inside entities (a question about "amp" would break every "&amp;")
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\w*", re.IGNORECASE)
    parts, last = [], 0
    for match in pattern.finditer(text):
        parts += [html.escape(text[last:match.start()]), f"<mark>{html.escape(match.group(0))}</mark>"]
        last = match.end()
    return "".join(parts + [html.escape(text[last:])])


def show_hit(hit: Hit, question: str) -> None:
    """One passage: its source and heading (uploaded text: escaped, never markdown) and body."""
    with st.container(border=True):
        st.markdown(f"**[{hit.rank}]** {plain(hit.chunk.doc)} · "
                    f"{plain(hit.chunk.heading or '(no heading)')} · similarity **{hit.score:.3f}**")
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
        st.caption("Cites: " + (", ".join(f"[{h.rank}] {plain(h.chunk.doc)}" for h in used)
                                if used else "no passage cited"))
        figures_row(completion, compact=True)
