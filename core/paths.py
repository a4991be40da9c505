"""Where the lab keeps its data and its model cache.

Two folders, both set by environment variables so that tests (and users with
several labs) can point them elsewhere:

- ``PROMPTTUNE_HOME``: the lab's data (history database, runs, few-shot sets).
  Default ``~/.prompttune-lab``.
- ``PROMPTTUNE_CACHE``: rebuildable files (assembled GGUF, converted
  safetensors copies of the embedded models). Default
  ``~/.cache/prompttune-lab``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def data_dir() -> Path:
    """The lab's data folder, created if missing."""
    path = Path(os.environ.get("PROMPTTUNE_HOME") or Path.home() / ".prompttune-lab")
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """The folder of rebuildable model files, created if missing."""
    default = Path.home() / ".cache" / "prompttune-lab"
    path = Path(os.environ.get("PROMPTTUNE_CACHE") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def history_db_path() -> Path:
    """The SQLite database that records every generation."""
    return data_dir() / "lab.db"


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically: a reader sees the old file or the new
    one whole, never half of it (the staging file is renamed over it)."""
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    staging.replace(path)
