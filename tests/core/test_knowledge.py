"""Collections: reading documents, chunking, the faiss index, retrieval, RAG prompts, metrics."""

from __future__ import annotations

import json

import pytest

from core.errors import ConfigError
from core.knowledge import (ChunkSettings, DocumentError, build_collection, chunk_text,
                            collection_info, list_collections, read_document, search)
from core.metrics import contains_answer, exact_match, normalise, rouge_l, token_f1
from core.rag import RagConfig, build_rag_prompt, check_rag_template, cited

DOCS = {"tents.md": "# Tents\n\n## Karsk 2P\nThe Karsk 2P tent costs 289 euros and weighs 1,850 grams.\n\n"
                    "## Fjell 3P\nThe Fjell 3P tent costs 412 euros.",
        "hours.md": "# Opening hours\n\nThe Valdmark store opens at 09:30 on weekdays and closes at 18:00."}


def _minimal_pdf(text: str | None) -> bytes:
    """A one-page PDF, with a text layer when ``text`` is given."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject
    import io

    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    if text:
        font = DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                                 NameObject("/Subtype"): NameObject("/Type1"),
                                 NameObject("/BaseFont"): NameObject("/Helvetica")})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
            {NameObject("/F1"): writer._add_object(font)})})
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_documents_of_each_kind_are_read():
    assert read_document(b"# Hi\nthere", "a.md") == "# Hi\nthere"
    html = read_document(b"<html><h2>Rules</h2><script>x()</script><p>Be kind.</p></html>", "a.html")
    assert "## Rules" in html and "Be kind." in html and "x()" not in html
    assert "Hello tents" in read_document(_minimal_pdf("Hello tents"), "a.pdf")


@pytest.mark.parametrize("data, name, message", [
    (b"", "e.md", "is empty"),
    (b"\x00\x01\x02", "b.txt", "is binary"),
    ("caf\u00e9".encode("latin-1"), "l.txt", "not UTF-8"),
    (b"%PDF-1.4 truncated", "t.pdf", "not a readable PDF"),
    (b"x", "a.docx", "reads .txt"),
])
def test_unreadable_documents_are_explained(data, name, message):
    with pytest.raises(DocumentError, match=message):
        read_document(data, name)


def test_a_pdf_without_a_text_layer_is_named():
    with pytest.raises(DocumentError, match="no text layer"):
        read_document(_minimal_pdf(None), "scan.pdf")


def test_chunks_follow_headings_size_and_overlap():
    chunks = chunk_text(DOCS["tents.md"], "tents.md", ChunkSettings(size=100, overlap=0))
    assert [c.heading for c in chunks] == ["Tents", "Karsk 2P", "Fjell 3P"]
    long = "word " * 100
    pieces = chunk_text(long, "x", ChunkSettings(size=100, overlap=20, by_heading=False))
    assert all(len(p.text) <= 100 for p in pieces) and len(pieces) > 5
    assert pieces[1].start < pieces[0].start + len(pieces[0].text)  # they overlap
    with pytest.raises(ConfigError, match="overlap"):
        ChunkSettings(size=200, overlap=150)


def test_collection_is_indexed_searched_and_persisted():
    info = build_collection("shop", DOCS, ChunkSettings(size=200, overlap=0))
    assert list_collections() == ["shop"] and info.chunks == collection_info("shop").chunks
    hits = search("shop", "What does the Karsk 2P cost?", k=2)
    assert hits[0].chunk.heading == "Karsk 2P" and hits[0].score > hits[1].score
    assert search("shop", "When does the store open?", k=1)[0].chunk.doc == "hours.md"


def test_bad_collection_names_and_questions():
    with pytest.raises(ConfigError, match="not a usable collection name"):
        build_collection("../x", DOCS)
    with pytest.raises(ConfigError, match="no collection named"):
        search("missing", "q")
    build_collection("shop", DOCS)
    with pytest.raises(ConfigError, match="question is empty"):
        search("shop", "  ")


def test_rag_prompt_numbers_passages_and_reads_citations():
    build_collection("shop", DOCS, ChunkSettings(size=200, overlap=0))
    rag = build_rag_prompt(RagConfig("shop", top_k=2), "How much is the Fjell 3P?")
    assert "[1] (tents.md)" in rag.text and rag.text.endswith("Question: How much is the Fjell 3P?\nAnswer:")
    assert [h.rank for h in cited("412 euros [1], see also [7] and [1]", rag.hits)] == [1]


@pytest.mark.parametrize("template, message", [
    ("{question}", "lacks {context}"), ("{context} {question} {extra}", "unknown {extra}"),
    ("{context", "malformed")])
def test_rag_templates_are_checked(template, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        check_rag_template(template)


def test_answer_metrics():
    assert normalise("The Karsk 2P costs €289.") == "karsk 2p costs 289"
    assert exact_match("289 euros.", "289 Euros") == 1.0
    assert token_f1("it costs 289 euros", "289 euros") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert contains_answer("It costs 1,850 grams in all", "1,850 grams") == 1.0
    assert contains_answer("18500", "1850") == 0.0
    assert rouge_l("x b c d", "x c d") == pytest.approx(2 * 0.75 * 1 / 1.75)


def test_sample_questions_have_their_evidence_in_the_documents():
    from core.knowledge import ASSETS, SAMPLE_COLLECTION, sample_documents

    docs = sample_documents()
    rows = [json.loads(line) for line in (ASSETS / SAMPLE_COLLECTION / "questions.jsonl").open()]
    assert len(rows) >= 50
    assert all(r["evidence"] in docs[r["doc"]] or r["doc"].endswith(".html") for r in rows)
