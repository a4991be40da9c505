"""Pieces of the Knowledge page: adding documents, deleting with a confirmation, the sample
questions as a pick list, a retrieved passage with highlights, the side-by-side ask judged
against the reference answer."""

from __future__ import annotations

import html
import re

import streamlit as st

from core.config import GenerationParams
from core.errors import LabError
from core.knowledge import (SAMPLE_COLLECTION, Added, ChunkSettings, CollectionInfo, Hit,
                            SampleQuestion, add_documents as add_to_collection, added_to_sample,
                            collection_bytes, delete_collection, find_sample_question,
                            restore_sample_collection, sample_questions)
from core.metrics import contains_answer, token_f1
from core.rag import RagConfig, build_rag_prompt, cited, plain_question_prompt
from ui.controls import figures_row, plain, stream_answer
from ui.engine import show_error

FLASH = "kb_flash"          # what the last add said, shown after the rerun that switches to it
SELECT_NEXT = "kb_select_next"
UPLOAD_VERSION = "kb_upload_version"  # bumped to give the upload box a new key: an empty box
OWN_QUESTION = ""           # the pick list's first entry: a question the user typed

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


def uploader_key() -> str:
    """The upload box's key. Streamlit keeps a file in the box across reruns; a new key (after an
    add or a delete) empties it, so files already added, or meant for a deleted collection, are
    not added to the next collection with one click."""
    version = st.session_state.get(UPLOAD_VERSION, 0)
    return "kb_files" if not version else f"kb_files_{version}"


def clear_uploads() -> None:
    """Empty the upload box on the next run."""
    st.session_state[UPLOAD_VERSION] = st.session_state.get(UPLOAD_VERSION, 0) + 1


def add_documents(files: list, target: str, embedder: str) -> None:
    """Add the uploads to collection ``target`` (``core.knowledge.add_documents``) and switch
    the page to it; the messages survive the rerun that shows the collection. Nothing
    readable: said, and the collection is as it was."""
    settings = ChunkSettings(int(st.session_state["kb_size"]), int(st.session_state["kb_overlap"]),
                             st.session_state["kb_by_heading"])
    with st.spinner("Chunking and embedding..."):
        done = add_to_collection(target, [(upload.name, upload.getvalue()) for upload in files],
                                 settings, embedder)
    if done.info is None:
        for exc in done.skipped:
            show_error(exc)
        st.warning("Nothing was added; the collection is as it was.")
        return
    st.session_state[FLASH] = (list(done.skipped), added_message(done))
    st.session_state[SELECT_NEXT] = done.collection
    clear_uploads()  # added: left in the box, they would go into the next collection too
    st.rerun()


def added_message(done: Added) -> str:
    """What adding did, in one line: the counts, the documents replaced, the files skipped."""
    skipped = (f" {len(done.skipped)} file(s) were skipped (see above); the rest of the "
               "collection is intact." if done.skipped else "")
    updated = (f" Replaced with the new upload: {', '.join(plain(d) for d in done.replaced)}."
               if done.replaced else "")
    return (f"**{plain(done.collection)}**: {count_of(len(done.info.documents), 'document')}, "
            f"{count_of(done.info.chunks, 'chunk')} indexed.{updated}{skipped}")


def select_pending(collections: list[str]) -> None:
    """Before the widgets: open the collection just indexed, and empty the new-name box."""
    name = st.session_state.pop(SELECT_NEXT, None)
    if name in collections:
        st.session_state["kb_collection"] = name
        st.session_state["kb_new"] = ""


def show_flash() -> None:
    """What the last add said: files skipped and why, then what was indexed."""
    problems, message = st.session_state.pop(FLASH, ((), ""))
    for exc in problems:
        show_error(exc)
    if message:
        st.success(message, icon=":material/check_circle:")


def count_of(n: int, noun: str) -> str:
    """"1 document", "2 documents": a count with its noun in the right number."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MB" if nbytes >= 2**20 else f"{max(1, round(nbytes / 1024))} KB"


def delete_controls(info: CollectionInfo) -> None:
    """Delete a collection after a confirmation that names it and its size; the sample
    collection is kept (other pages use it) and can be rebuilt from its shipped files."""
    size = (f"{count_of(len(info.documents), 'document')}, {count_of(info.chunks, 'chunk')}, "
            f"{_size(collection_bytes(info.name))} on disk")
    if info.name == SAMPLE_COLLECTION:
        _restore_sample_controls(size, added_to_sample())
        return
    _delete_expander(info.name, f"its {size}", f"its {count_of(len(info.documents), 'document')}")


def damaged_controls(name: str) -> None:
    """What can be done with a collection that cannot be read: delete it (the sample: rebuild
    it from its shipped files)."""
    if name == SAMPLE_COLLECTION:
        _restore_sample_controls("damaged", [])
    else:
        _delete_expander(name, "its damaged files", "its files")


def _delete_expander(name: str, removes: str, what: str) -> None:
    shown = plain(name)
    with st.expander(f"Delete '{shown}'"):
        st.markdown(f"Deleting **{shown}** removes {removes}. The files on your "
                    "computer are not touched, but the lab keeps no other copy.")
        sure = st.checkbox(f"Yes, delete '{shown}' and {what}", key=f"kb_delete_ok_{name}")
        if st.button(f"Delete '{shown}'", key="kb_delete", disabled=not sure,
                     icon=":material/delete:"):
            try:
                delete_collection(name)
            except LabError as exc:
                show_error(exc)
                return
            st.session_state.pop(f"kb_delete_ok_{name}", None)
            clear_uploads()  # else a file chosen for this collection would go to the next one
            st.session_state[FLASH] = ((), f"Deleted **{shown}**.")
            st.rerun()


def _restore_sample_controls(size: str, extra: list[str]) -> None:
    with st.expander("Restore the sample collection"):
        st.markdown(f"**{SAMPLE_COLLECTION}** ({size}) is the sample handbook. It cannot be deleted "
                    "here: the Playground's RAG and ReAct examples, the handbook questions and the "
                    "Compare page use it. Restoring rebuilds it from the shipped files in "
                    "assets/knowledge with the default settings (700 / 100, split at headings).")
        if extra:
            st.warning(f"Restoring removes the {len(extra)} document(s) you added to it: "
                       + ", ".join(plain(d) for d in extra) + ".")
        sure = st.checkbox("Yes, rebuild it from the shipped files", key="kb_restore_ok")
        if st.button("Restore the sample", key="kb_restore", disabled=not sure):
            try:
                with st.spinner("Rebuilding the sample handbook..."):
                    info = restore_sample_collection()
            except LabError as exc:
                show_error(exc)
                return
            st.session_state.pop("kb_restore_ok", None)
            st.session_state[FLASH] = ((), f"**{SAMPLE_COLLECTION}** restored: "
                                           f"{count_of(len(info.documents), 'document')}, "
                                           f"{count_of(info.chunks, 'chunk')}.")
            st.rerun()


def question_picker(name: str) -> None:
    """The collection's sample questions as a pick list (before the question box): picking
    one puts it in the box; the list always shows what the box holds."""
    questions = sample_questions(name)
    if not questions:
        return
    by_id = {q.id: q for q in questions}
    asked = find_sample_question(name, st.session_state.get("kb_question", ""))
    st.session_state["kb_pick"] = asked.id if asked else OWN_QUESTION

    def pick() -> None:
        chosen = by_id.get(st.session_state["kb_pick"])
        if chosen:
            st.session_state["kb_question"] = chosen.question

    st.selectbox(f"Sample questions ({len(questions)}, each with a reference answer)",
                 [OWN_QUESTION, *by_id], key="kb_pick", on_change=pick,
                 format_func=lambda i: (f"{by_id[i].question}  →  {by_id[i].answer}" if i
                                        else "(your own question: type it below)"),
                 help="Pick one to ask it; its reference answer is shown beside the model's.")


def show_reference(reference: SampleQuestion) -> None:
    """The reference answer of a sample question and where the handbook says it."""
    st.info(f"**Reference answer:** {plain(reference.answer)} · in {plain(reference.doc)}: "
            f"“{plain(reference.evidence)}”", icon=":material/fact_check:")


def show_verdict(answer: str, reference: SampleQuestion) -> None:
    """Whether an answer holds the reference answer, judged as the Compare page judges a
    handbook question (the reference's words, normalised, inside the answer); green only
    for right."""
    if contains_answer(answer, reference.answer):
        st.success(f"Holds the reference answer ({plain(reference.answer)}).",
                   icon=":material/check_circle:")
    elif token_f1(answer, reference.answer) >= 0.5:
        st.warning(f"Partly matches the reference ({plain(reference.answer)}): some of its words "
                   "are missing or differ; read both.", icon=":material/rule:")
    else:
        st.error(f"Does not match the reference answer ({plain(reference.answer)}).",
                 icon=":material/cancel:")


def ask_side_by_side(engine, config: RagConfig, question: str,
                     reference: SampleQuestion | None = None) -> None:
    """The same question without and with the passages, streamed in two columns, each judged
    against the reference answer where the question is a sample one."""
    rag = build_rag_prompt(config, question)
    bare = plain_question_prompt(question)  # not "plain": that escapes text for markdown
    params = GenerationParams(max_new_tokens=48, stop=rag.stops)
    without, with_docs = st.columns(2)
    with without:
        st.markdown("**Without the documents**")
        with st.expander(f"Prompt · {engine.count_tokens(bare)} tokens"):
            st.code(bare, language=None, wrap_lines=True)
        completion = stream_answer(engine.stream(bare, params))
        if reference:
            show_verdict(completion.text, reference)
        figures_row(completion, compact=True)
    with with_docs:
        st.markdown(f"**With {count_of(len(rag.hits), 'passage')} (RAG)**")
        with st.expander(f"Prompt · {engine.count_tokens(rag.text)} tokens"):
            st.code(rag.text, language=None, wrap_lines=True)
        completion = stream_answer(engine.stream(rag.text, params))
        used = cited(completion.text, rag.hits)
        st.caption("Cites: " + (", ".join(f"[{h.rank}] {plain(h.chunk.doc)}" for h in used)
                                if used else "no passage cited"))
        if reference:
            show_verdict(completion.text, reference)
        figures_row(completion, compact=True)
