"""Document collections for retrieval: read, chunk, embed, index (faiss), search.

A collection lives in ``$PROMPTTUNE_HOME/collections/<name>/``: the original
files under ``docs/``, their chunks in ``chunks.jsonl``, a faiss inner-product
index of the normalised chunk embeddings in ``index.faiss`` and its settings in
``meta.json``. The index is exact (a flat index): for the few thousand chunks a
lab holds it answers in milliseconds, and nothing is approximate to explain.
A build writes the new collection in a staging folder under
``collections/.staging/`` (a name no collection can have: names start with a
letter or digit) and renames it into place, so a failed build (bad upload, full
disk, read-only folder) leaves the collection as it was and no other collection
is touched.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from core.config import check_field_types
from core.embeddings import DEFAULT_EMBEDDER, embed
from core.errors import ConfigError, LabError
from core.paths import data_dir, storage_error

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "knowledge"
SAMPLE_COLLECTION = "lumen-outfitters"
DOC_TYPES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
MAX_DOC_BYTES = 20 * 2**20
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
# a stored document is docs/<name>.txt: 200 bytes leave room for the suffix within the 255 bytes
# a file name may have on common file systems
MAX_DOC_NAME_BYTES = 200
STAGING = ".staging"  # inside collections/; a collection name cannot start with a dot


class DocumentError(LabError):
    """A document the lab cannot read."""


class DamagedCollectionError(LabError):
    """A collection whose files cannot be read back (truncated, edited, half copied)."""


@contextmanager
def _reading(name: str, folder: Path):
    """Reading a collection's files: what goes wrong becomes a DamagedCollectionError that
    names the collection, so one damaged folder never breaks the others or the page."""
    try:
        yield
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        reason = getattr(exc, "problem", None) or f"{type(exc).__name__}: {exc}"
        raise DamagedCollectionError(
            f"The collection {_shown(name)} is damaged and cannot be read ({reason[:200]}).",
            f"Delete it on the Knowledge page and build it again from your documents (its "
            f"texts are in {folder / 'docs'}), or restore the folder from a backup.") from exc


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are split: ``size`` and ``overlap`` in characters, sections first."""

    size: int = 700
    overlap: int = 100
    by_heading: bool = True

    def __post_init__(self) -> None:
        check_field_types(self, "Chunk")
        if not 100 <= self.size <= 8000:
            raise ConfigError(f"Chunk size must be 100 to 8000 characters, got {self.size!r}.",
                              "Use about 500-1000 for short factual documents.")
        if not 0 <= self.overlap <= self.size // 2:
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


def _shown(name: object, limit: int = 60) -> str:
    """A name as a message quotes it: repr (a NUL or a tab shows as \\x00, \\t), shortened."""
    text = repr(name)
    return text if len(text) <= limit else text[:limit - 4] + "...'"


def check_name(name: str, what: str = "collection") -> str:
    """A name safe as a folder name (no path separators, no dots first)."""
    if not isinstance(name, str) or not NAME.match(name.strip()):
        raise ConfigError(f"{_shown(name)} is not a usable {what} name.",
                          "Use 1-64 letters, digits, spaces, '-', '_' or '.', starting with a "
                          "letter or digit (no '/' or '\\').")
    return name.strip()


def check_document_name(name: str) -> str:
    """The name a document is stored, listed and cited under: its file name without any folder
    (``a/notes.md`` -> ``notes.md``); DocumentError where the disk could not take it."""
    base = Path(name).name if isinstance(name, str) else ""
    if base in ("", ".", ".."):
        raise DocumentError(f"{_shown(name)} is not a usable document name.",
                            "Give the file a name such as notes.md.")
    if any(ord(c) < 32 or ord(c) == 127 for c in base):
        raise DocumentError(f"The document name {_shown(base)} contains a control character "
                            "(such as a NUL byte, a tab or a line break).",
                            "Rename the file without it, then upload it again.")
    if len(base.encode("utf-8")) > MAX_DOC_NAME_BYTES:
        raise DocumentError(f"The document name {_shown(base)} is too long ({len(base)} "
                            f"characters; the lab keeps names up to {MAX_DOC_NAME_BYTES} bytes).",
                            "Rename the file to a shorter name, then upload it again.")
    return base


def check_unique_documents(names: list[str]) -> None:
    """Refuse two documents with one file name: one would silently replace the other."""
    seen: dict[str, list[str]] = {}
    for name in names:  # each name's own faults are check_document_name's, file by file
        seen.setdefault(Path(str(name)).name, []).append(name)
    twice = {base: given for base, given in seen.items() if len(given) > 1}
    if twice:
        base, given = next(iter(sorted(twice.items())))
        paths = f" ({', '.join(given)})" if any(g != base for g in given) else ""
        raise ConfigError(f"{len(given)} documents are named {base}{paths}; a "
                          "collection keeps one document per file name, so one would replace "
                          "the other." + (f" {len(twice) - 1} other name(s) are doubled too."
                                          if len(twice) > 1 else ""),
                          "Rename one of them (e.g. add the folder to the name), then add them "
                          "again.")


def read_document(data: bytes, name: str) -> str:
    """The text of an uploaded document; DocumentError says why there is none."""
    name = check_document_name(name)
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
    """The folder of the collections (not created here: a read-only data folder can still be
    listed and searched)."""
    return data_dir() / "collections"


def list_collections() -> list[str]:
    """The names of the built collections (a staging folder is never one: it starts with '.')."""
    return sorted(p.parent.name for p in collections_dir().glob("*/meta.json")
                  if not p.parent.name.startswith("."))


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
    """What a collection holds and how it was built; ConfigError where there is none."""
    folder = _folder(name)
    if not (folder / "meta.json").is_file():
        raise ConfigError(f"There is no collection named {_shown(name)}.",
                          "Create it on the Knowledge page, or pick an existing one.")
    with _reading(name, folder):
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        return CollectionInfo(name, tuple(str(d) for d in meta["documents"]), int(meta["chunks"]),
                              ChunkSettings(**meta["settings"]), str(meta["embedder"]))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, under another user
        return True
    return True


def _new_staging() -> Path:
    """A fresh staging folder ``collections/.staging/build-<pid>-<random>``; the staging left by
    a build whose process died (killed mid-write) is cleared first."""
    root = collections_dir() / STAGING
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("build-*"):
        pid = old.name.split("-")[1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"build-{os.getpid()}-", dir=root))


def _write_collection(folder: Path, documents: dict[str, str], chunks: list[Chunk], index,
                      meta: dict) -> None:
    """Every file of a collection, written into ``folder`` (a staging folder)."""
    import faiss

    (folder / "docs").mkdir(parents=True)
    for doc, text in documents.items():
        (folder / "docs" / (doc + ".txt")).write_text(text, encoding="utf-8")
    with (folder / "chunks.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in chunks)
    # serialised here and written by Python, so a full disk is an OSError with its errno (faiss's
    # own writer raises a RuntimeError that says neither)
    (folder / "index.faiss").write_bytes(faiss.serialize_index(index).tobytes())
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))


def _swap_in(new: Path, folder: Path, old: Path) -> None:
    """Put ``new`` where ``folder`` is; the previous collection goes to ``old`` (in staging),
    and back into place if the second rename fails."""
    if folder.exists():
        folder.rename(old)
    try:
        new.rename(folder)
    except OSError:
        if old.exists():
            old.rename(folder)
        raise


def build_collection(name: str, documents: dict[str, str],
                     settings: ChunkSettings = ChunkSettings(),
                     embedder: str = DEFAULT_EMBEDDER) -> CollectionInfo:
    """(Re)build collection ``name`` from ``{file name: text}``; replaces it atomically.

    Documents are kept under their file names (``a/notes.md`` -> ``notes.md``); two with one
    file name are refused. A full disk or a read-only folder raises a StorageError and leaves
    the collection as it was, with no staging files."""
    import faiss

    if not documents:
        raise ConfigError("The collection has no documents.", "Upload at least one document.")
    folder = _folder(name)
    check_unique_documents(list(documents))
    documents = {check_document_name(doc): text for doc, text in documents.items()}
    chunks = [c for doc, text in sorted(documents.items()) for c in chunk_text(text, doc, settings)]
    vectors = embed([f"{c.heading}\n{c.text}" if c.heading else c.text for c in chunks], embedder)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    meta = {"documents": sorted(documents), "chunks": len(chunks),
            "settings": asdict(settings), "embedder": embedder}
    staging = None
    try:
        staging = _new_staging()
        _write_collection(staging / "new", documents, chunks, index, meta)
        _swap_in(staging / "new", folder, staging / "old")
    except OSError as exc:
        raise storage_error(exc, f"index the collection '{folder.name}'") from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        _load_index.cache_clear()
    return collection_info(name)


@dataclass(frozen=True)
class Added:
    """What adding documents to a collection did: the collection after it (None when nothing
    could be read and it is as it was), the documents that replaced ones of the same name,
    and the files skipped, each with why."""

    collection: str
    info: CollectionInfo | None
    added: tuple[str, ...]
    replaced: tuple[str, ...]
    skipped: tuple[LabError, ...]


def add_documents(name: str, files: list[tuple[str, bytes]],
                  settings: ChunkSettings = ChunkSettings(),
                  embedder: str = DEFAULT_EMBEDDER) -> Added:
    """Read ``files`` (``(file name, bytes)``) and (re)index collection ``name`` with them and
    its documents, creating it if new. A file that cannot be read is skipped and said; two
    with one name are refused before anything is read (one would silently replace the other);
    a document of the same name as one in the collection replaces it."""
    name = check_name(name)
    check_unique_documents([file_name for file_name, _ in files])
    read, skipped = {}, []
    for file_name, data in files:
        try:
            read[file_name] = read_document(data, file_name)
        except LabError as exc:
            skipped.append(exc)
    if not read:
        return Added(name, None, (), (), tuple(skipped))
    kept = document_texts(name) if name in list_collections() else {}
    info = build_collection(name, {**kept, **read}, settings, embedder)
    stored = {check_document_name(doc) for doc in read}
    return Added(name, info, tuple(sorted(stored)), tuple(sorted(set(kept) & stored)),
                 tuple(skipped))


def document_texts(name: str) -> dict[str, str]:
    """The stored text of every document of a collection."""
    folder = _folder(name)
    with _reading(name, folder):
        return {p.name.removesuffix(".txt"): p.read_text(encoding="utf-8")
                for p in sorted((folder / "docs").glob("*.txt"))}


def delete_collection(name: str) -> None:
    """Remove a collection: moved out of the list in one rename, then its files removed; a
    read-only folder raises a StorageError and keeps it whole."""
    folder = _folder(name)
    if not folder.exists():
        return
    try:
        staging = _new_staging()
        folder.rename(staging / "old")
    except OSError as exc:
        raise storage_error(exc, f"delete the collection '{folder.name}'") from exc
    finally:
        _load_index.cache_clear()
    shutil.rmtree(staging, ignore_errors=True)


@lru_cache(maxsize=4)
def _load_index(name: str, stamp: float):
    import faiss

    folder = _folder(name)
    with _reading(name, folder):
        with (folder / "chunks.jsonl").open(encoding="utf-8") as fh:
            chunks = [Chunk(**json.loads(line)) for line in fh]
        index = faiss.read_index(str(folder / "index.faiss"))
        if index.ntotal != len(chunks):
            raise ValueError(f"its index holds {index.ntotal} passages, its chunks.jsonl "
                             f"{len(chunks)}")
    return index, chunks


def search(name: str, query: str, k: int = 3) -> list[Hit]:
    """The ``k`` chunks most similar to ``query`` (cosine), best first."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"The number of passages to fetch (k) must be a whole number of at "
                          f"least 1, got {_shown(k)}.", "Fetch 1 to 20 passages (3 is a good start).")
    if not isinstance(query, str) or not query.strip():
        raise ConfigError("The question is empty.", "Type a question to search for.")
    info = collection_info(name)
    if info.chunks == 0:
        raise ConfigError(f"The collection {_shown(name)} is empty.", "Add documents to it first.")
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

