"""Knowledge: documents in, chunks and an index out; see what the retriever finds; ask with and without."""

import pandas as pd
import streamlit as st

from core.errors import LabError
from core.knowledge import (SAMPLE_COLLECTION, ChunkSettings, build_collection, chunk_text,
                            collection_info, document_texts, ensure_sample_collection,
                            find_sample_question, list_collections, search)
from core.embeddings import DEFAULT_EMBEDDER
from core.rag import DEFAULT_RAG_TEMPLATE, RagConfig
from ui.controls import init_state, plain
from ui.engine import show_error
from ui.knowledge import (add_documents, ask_side_by_side, count_of, damaged_controls,
                          delete_controls, question_picker, select_pending, show_flash, show_hit,
                          show_reference, uploader_key)
from ui.sidebar import render_sidebar

st.set_page_config(page_title="Knowledge · PromptTune Lab", page_icon="📖",  # offline: see app.py
                   layout="wide")
engine = render_sidebar()
st.title(":material/menu_book: Knowledge")
st.caption("Retrieval-augmented generation (RAG) is the middle ground: the model stays as it is, "
           "and passages from your documents are put in the prompt. Build a collection, see how "
           "it is split and what the retriever finds, then ask with and without it.")

init_state({"kb_collection": SAMPLE_COLLECTION, "kb_new": "", "kb_size": 700, "kb_overlap": 100,
            "kb_by_heading": True, "kb_embedder": DEFAULT_EMBEDDER,
            "kb_question": "How much does the Karsk 2P tent cost?",
            "kb_k": 3, "kb_template": DEFAULT_RAG_TEMPLATE})
state = st.session_state


def collection_picker(collections: list[str]) -> None:
    """The collection shown below, the sample's build button, a new collection's name."""
    left, right = st.columns([2, 1])
    with left:
        if collections:
            if state["kb_collection"] not in collections:
                state["kb_collection"] = collections[0]
            st.selectbox("Collection", collections, key="kb_collection")
        else:
            st.info("No collection yet: build the sample handbook or create your own below.")
    with right:
        if SAMPLE_COLLECTION not in collections and st.button("Build the sample collection",
                                                              key="kb_sample", type="primary"):
            try:
                with st.spinner("Reading, chunking and embedding the sample handbook..."):
                    ensure_sample_collection()
                state["kb_collection"] = SAMPLE_COLLECTION
                st.rerun()
            except LabError as exc:
                show_error(exc)
        st.text_input("New collection name", key="kb_new", placeholder="e.g. product-docs")


def add_box(collections: list[str]) -> None:
    """Uploads, chunk settings and the embedding model; the button adds them to the new name,
    else to the collection shown."""
    st.subheader("Add documents")
    files = st.file_uploader("Plain text, Markdown, HTML or PDF",
                             type=["txt", "md", "markdown", "html", "htm", "pdf"],
                             accept_multiple_files=True, key=uploader_key())
    c1, c2, c3 = st.columns(3)
    c1.number_input("Chunk size (characters)", 100, 8000, step=50, key="kb_size")
    c2.number_input("Overlap (characters)", 0, 4000, step=25, key="kb_overlap")
    c3.toggle("Split at headings first", key="kb_by_heading")
    st.text_input("Embedding model", key="kb_embedder",
                  help="The embedded all-MiniLM-L6-v2 works offline; any sentence-transformers "
                       "model id or folder works where the Hub is reachable. A collection keeps "
                       "the model it was built with.")
    target = state["kb_new"].strip() or (state["kb_collection"] if collections else "")
    # a button label is Markdown (images included): the typed name is escaped
    add = st.button(f"Add to '{plain(target)}' and index" if target else "Add and index",
                    key="kb_add", disabled=not files or not target)
    # one slot for what adding says, present on every run: the elements below keep their places
    # (an open expander that moved down by one message would close on the next click)
    with st.container():
        if add:
            try:
                add_documents(files, target, state["kb_embedder"].strip() or DEFAULT_EMBEDDER)
            except LabError as exc:
                show_error(exc)
        show_flash()


def inside(name: str) -> None:
    """The collection's documents, how they are split, re-indexing and deleting."""
    st.subheader(f"Inside '{plain(name)}'")
    try:
        info = collection_info(name)
        texts = document_texts(name)
    except LabError as exc:  # a damaged collection: say so, offer to delete it; the others work
        show_error(exc)
        damaged_controls(name)
        st.stop()
    embedder = 'all-MiniLM-L6-v2' if info.embedder == DEFAULT_EMBEDDER else plain(info.embedder)
    st.caption(f"{count_of(len(info.documents), 'document')} · {count_of(info.chunks, 'chunk')} · "
               f"chunk size {info.settings.size}, overlap {info.settings.overlap}, "
               f"{'split at headings' if info.settings.by_heading else 'no heading split'}"
               f" · embeddings: {embedder} in a faiss flat inner-product index (exact search)")
    with st.expander("How the documents are split"):
        doc = st.selectbox("Document", sorted(texts), key="kb_doc")
        chunks = chunk_text(texts[doc], doc, info.settings)
        st.dataframe(pd.DataFrame([{"#": i + 1, "heading": c.heading, "characters": len(c.text),
                                    "text": c.text[:160]} for i, c in enumerate(chunks)]),
                     hide_index=True, width="stretch")
        if st.button("Re-index with the settings above", key="kb_reindex"):
            try:
                settings = ChunkSettings(int(state["kb_size"]), int(state["kb_overlap"]),
                                         state["kb_by_heading"])
                with st.spinner("Re-indexing..."):
                    build_collection(name, texts, settings, info.embedder)
                st.rerun()
            except LabError as exc:
                show_error(exc)
    delete_controls(info)


def retrieval(name: str) -> list:
    """What the retriever finds for a question, with the sample's reference answer."""
    st.subheader("What the retriever finds")
    question_picker(name)
    q1, q2 = st.columns([4, 1])
    q1.text_input("Question", key="kb_question")
    q2.number_input("top-k", 1, 20, key="kb_k")
    reference = find_sample_question(name, state["kb_question"])
    if reference:
        show_reference(reference)
    try:
        hits = search(name, state["kb_question"], int(state["kb_k"]))
    except LabError as exc:
        show_error(exc)
        return []
    for hit in hits:
        show_hit(hit, state["kb_question"])
    return hits


def ask(name: str, hits: list) -> None:
    """The question asked with and without the passages, side by side."""
    st.subheader("Ask with and without the documents")
    st.text_area("RAG prompt ({context} = the passages, {question} = the question)",
                 key="kb_template", height=110)
    if st.button("Ask both", key="kb_ask", type="primary", disabled=engine is None or not hits):
        try:
            ask_side_by_side(engine, RagConfig(name, int(state["kb_k"]), state["kb_template"]),
                             state["kb_question"],
                             find_sample_question(name, state["kb_question"]))
        except LabError as exc:
            show_error(exc)


collections = list_collections()
select_pending(collections)
collection_picker(collections)
add_box(collections)
if not collections:
    st.stop()
name = state["kb_collection"] if state["kb_collection"] in collections else collections[0]
inside(name)
ask(name, retrieval(name))
