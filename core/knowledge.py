"""Document collections for retrieval: read, chunk, embed, index (faiss), search.

A collection lives in ``$PROMPTTUNE_HOME/collections/<name>/``: the original
files under ``docs/``, their chunks in ``chunks.jsonl``, a faiss inner-product
index of the normalised chunk embeddings in ``index.faiss`` and its settings in
``meta.json``. The index is exact (a flat index): for the few thousand chunks a
lab holds it answers in milliseconds, and nothing is approximate to explain.
Writes go to temporary files renamed into place, so a failed upload leaves the
collection as it was.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from core.embeddings import DEFAULT_EMBEDDER, embed
from core.errors import ConfigError, LabError
from core.paths import data_dir

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "knowledge"
SAMPLE_COLLECTION = "lumen-outfitters"
DOC_TYPES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
MAX_DOC_BYTES = 20 * 2**20
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


class DocumentError(LabError):
    """A document the lab cannot read."""


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are split: ``size`` and ``overlap`` in characters, sections first."""

    size: int = 700
    overlap: int = 100
    by_heading: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 100 <= self.size <= 8000:
            raise ConfigError(f"Chunk size must be 100 to 8000 characters, got {self.size!r}.",
                              "Use about 500-1000 for short factual documents.")
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, int) \
                or not 0 <= self.overlap <= self.size // 2:
            raise ConfigError(f"Chunk overlap must be 0 to half the chunk size ({self.size // 2}), "
                              f"got {self.overlap!r}.", "Lower the overlap.")


@dataclass(frozen=True)
class Chunk:
    """One passage of a document: what is embedded and what the model reads."""

    doc: str
    heading: str
    text: str
    start: int  # character offset in the document's text


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk and its cosine similarity to the question."""

    chunk: Chunk
    score: float
    rank: int


def check_name(name: str, what: str = "collection") -> str:
    """A name safe as a folder name (no path separators, no dots first)."""
    if not isinstance(name, str) or not NAME.match(name.strip()):
        raise ConfigError(f"{name!r} is not a usable {what} name.",
                          "Use 1-64 letters, digits, spaces, '-', '_' or '.', starting with a "
                          "letter or digit (no '/' or '\\').")
    return name.strip()


def read_document(data: bytes, name: str) -> str:
    """The text of an uploaded document; DocumentError says why there is none."""
    suffix = Path(name).suffix.lower()
    if suffix not in DOC_TYPES:
        raise DocumentError(f"{name}: the lab reads {', '.join(DOC_TYPES)} files.",
                            "Convert the document to one of those formats.")
    if not data.strip():
        raise DocumentError(f"{name} is empty.", "Choose a file with text in it.")
    if len(data) > MAX_DOC_BYTES:
        raise DocumentError(f"{name} is {len(data) / 2**20:.0f} MB; documents may be up to "
                            f"{MAX_DOC_BYTES // 2**20} MB.", "Split it into smaller files.")
    if suffix == ".pdf":
        return _pdf_text(data, name)
    if b"\x00" in data[:8192]:
        raise DocumentError(f"{name} is binary, not a {suffix} text file.",
                            "Upload the document as text, Markdown, HTML or PDF.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name} is not UTF-8 text (byte {exc.start}).",
                            "Save it as UTF-8.") from None
    if suffix in (".html", ".htm"):
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(text, "html.parser")
        for tag in soup(["script", "style"]):
            tag.decompose()
        for level in range(1, 7):  # keep headings as Markdown so chunking can split on them
            for tag in soup.find_all(f"h{level}"):
                tag.replace_with(f"\n{'#' * level} {tag.get_text(' ', strip=True)}\n")
        text = re.sub(r"\n{3,}", "\n\n", soup.get_text("\n"))
    if not text.strip():
        raise DocumentError(f"{name} holds no text.", "Choose a file with text in it.")
    return text.strip()


def _pdf_text(data: bytes, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise DocumentError(f"{name} is not a readable PDF ({exc}).",
                            "Open and re-save it, or export it as text.") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise DocumentError(f"{name} has no text layer (it is a scan or images only).",
                            "Run OCR on it first (e.g. ocrmypdf) or upload the text.")
    return text


def _sections(text: str, by_heading: bool) -> list[tuple[str, int, str]]:
    """(heading, offset, body) per Markdown section; one section when not by heading."""
    if not by_heading:
        return [("", 0, text)]
    marks = [m for m in re.finditer(r"^#{1,6} +(.+)$", text, re.MULTILINE)]
    if not marks:
        return [("", 0, text)]
    sections = [("", 0, text[:marks[0].start()])] if marks[0].start() else []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        sections.append((mark.group(1).strip(), mark.start(), text[mark.start():end]))
    return sections


def chunk_text(text: str, doc: str, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    """Split into passages of at most ``size`` characters (sections first), cut at spaces."""
    chunks: list[Chunk] = []
    for heading, offset, body in _sections(text, settings.by_heading):
        start = 0
        while start < len(body):
            end = min(len(body), start + settings.size)
            if end < len(body):
                space = body.rfind(" ", start + settings.size // 2, end)
                end = space if space > 0 else end
            piece = body[start:end].strip()
            if piece:
                chunks.append(Chunk(doc, heading, piece, offset + start))
            if end >= len(body):
                break
            start = max(end - settings.overlap, start + 1)
    return chunks


def collections_dir() -> Path:
    path = data_dir() / "collections"
    path.mkdir(parents=True, exist_ok=True)
    return path


def list_collections() -> list[str]:
    return sorted(p.parent.name for p in collections_dir().glob("*/meta.json"))


def _folder(name: str) -> Path:
    return collections_dir() / check_name(name)


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    documents: tuple[str, ...]
    chunks: int
    settings: ChunkSettings
    embedder: str


def collection_info(name: str) -> CollectionInfo:
    folder = _folder(name)
    if not (folder / "meta.json").is_file():
        raise ConfigError(f"There is no collection named {name!r}.",
                          "Create it on the Knowledge page, or pick an existing one.")
    meta = json.loads((folder / "meta.json").read_text())
    return CollectionInfo(name, tuple(meta["documents"]), meta["chunks"],
                          ChunkSettings(**meta["settings"]), meta["embedder"])


def build_collection(name: str, documents: dict[str, str],
                     settings: ChunkSettings = ChunkSettings(),
                     embedder: str = DEFAULT_EMBEDDER) -> CollectionInfo:
    """(Re)build collection ``name`` from ``{file name: text}``; replaces it atomically."""
    import faiss

    if not documents:
        raise ConfigError("The collection has no documents.", "Upload at least one document.")
    folder = _folder(name)
    chunks = [c for doc, text in sorted(documents.items()) for c in chunk_text(text, doc, settings)]
    vectors = embed([f"{c.heading}\n{c.text}" if c.heading else c.text for c in chunks], embedder)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    staging = folder.with_name(folder.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "docs").mkdir(parents=True)
    for doc, text in documents.items():
        (staging / "docs" / (Path(doc).name + ".txt")).write_text(text, encoding="utf-8")
    with (staging / "chunks.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in chunks)
    faiss.write_index(index, str(staging / "index.faiss"))
    meta = {"documents": sorted(documents), "chunks": len(chunks),
            "settings": asdict(settings), "embedder": embedder}
    (staging / "meta.json").write_text(json.dumps(meta, indent=2))
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    _load_index.cache_clear()
    return collection_info(name)


def document_texts(name: str) -> dict[str, str]:
    """The stored text of every document of a collection."""
    docs = _folder(name) / "docs"
    return {p.name.removesuffix(".txt"): p.read_text(encoding="utf-8") for p in sorted(docs.glob("*.txt"))}


def delete_collection(name: str) -> None:
    shutil.rmtree(_folder(name), ignore_errors=True)
    _load_index.cache_clear()


@lru_cache(maxsize=4)
def _load_index(name: str, stamp: float):
    import faiss

    folder = _folder(name)
    with (folder / "chunks.jsonl").open(encoding="utf-8") as fh:
        chunks = [Chunk(**json.loads(line)) for line in fh]
    return faiss.read_index(str(folder / "index.faiss")), chunks


def search(name: str, query: str, k: int = 3) -> list[Hit]:
    """The ``k`` chunks most similar to ``query`` (cosine), best first."""
    if not isinstance(query, str) or not query.strip():
        raise ConfigError("The question is empty.", "Type a question to search for.")
    info = collection_info(name)
    if info.chunks == 0:
        raise ConfigError(f"The collection {name!r} is empty.", "Add documents to it first.")
    index, chunks = _load_index(name, (_folder(name) / "meta.json").stat().st_mtime)
    scores, ids = index.search(embed([query], info.embedder), min(k, len(chunks)))
    return [Hit(chunks[i], float(s), r + 1) for r, (s, i) in enumerate(zip(scores[0], ids[0])) if i >= 0]


def sample_documents() -> dict[str, str]:
    """The shipped sample collection's documents, read like uploads."""
    folder = ASSETS / SAMPLE_COLLECTION
    if not folder.is_dir():
        raise ConfigError(f"The sample collection is missing from {folder}.",
                          "Restore assets/knowledge from the repository (git checkout assets).")
    return {p.name: read_document(p.read_bytes(), p.name) for p in sorted(folder.iterdir())
            if p.suffix.lower() in DOC_TYPES and p.name.lower() != "readme.md"}


def ensure_sample_collection() -> str:
    """Build the sample collection the first time it is asked for; return its name."""
    if SAMPLE_COLLECTION not in list_collections():
        build_collection(SAMPLE_COLLECTION, sample_documents())
    return SAMPLE_COLLECTION


def collection_bytes(name: str) -> int:
    """The disk space a collection takes: its documents, chunks and index."""
    return sum(p.stat().st_size for p in _folder(name).rglob("*") if p.is_file())


def added_to_sample() -> list[str]:
    """The documents in the sample collection that the shipped sample does not hold: what a
    rebuild from the shipped files would remove."""
    shipped = {p.name for p in (ASSETS / SAMPLE_COLLECTION).iterdir()
               if p.suffix.lower() in DOC_TYPES and p.name.lower() != "readme.md"}
    return [doc for doc in collection_info(SAMPLE_COLLECTION).documents if doc not in shipped]


def restore_sample_collection() -> CollectionInfo:
    """Rebuild the sample collection from the shipped files with the default settings."""
    return build_collection(SAMPLE_COLLECTION, sample_documents())


@dataclass(frozen=True)
class SampleQuestion:
    """A question shipped with a sample collection, its reference answer and where it is."""

    id: str
    question: str
    answer: str
    doc: str
    evidence: str


@lru_cache(maxsize=4)
def sample_questions(name: str) -> tuple[SampleQuestion, ...]:
    """The questions with reference answers shipped for collection ``name`` (none for a
    collection the user built: only assets/knowledge/<name>/questions.jsonl has them)."""
    path = ASSETS / check_name(name) / "questions.jsonl"
    if not path.is_file():
        return ()
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return tuple(SampleQuestion(r["id"], r["question"], r["answer"], r["doc"], r.get("evidence", ""))
                 for r in rows)


def find_sample_question(name: str, question: str) -> SampleQuestion | None:
    """The shipped question that ``question`` is (case and spacing aside), if any."""
    key = " ".join(question.lower().split())
    return next((q for q in sample_questions(name) if " ".join(q.question.lower().split()) == key),
                None)


def format_hits(hits: list[Hit], max_chars: int = 600) -> str:
    """Retrieved passages as the model reads them: numbered, with their source."""
    return "\n".join(f"[{h.rank}] ({h.chunk.doc}) {h.chunk.text[:max_chars]}" for h in hits)

