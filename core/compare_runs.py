"""Comparisons in a process of their own: progress, cancel, and every past one kept.

Like training runs: ``start_comparison`` writes the config into
``$PROMPTTUNE_HOME/comparisons/<id>/`` and starts ``python -m core compare
CONFIG --out DIR`` detached, so a closed tab or an app restart loses nothing.
The process appends progress lines to ``progress.jsonl``, watches for a
``cancel`` file, and writes ``results.json`` then ``status.json`` (atomically)
when done. The ``comparisons`` table of the lab's database indexes them.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.compare import CompareConfig, check_variants, evaluate
from core.errors import ConfigError, LabError
from core.paths import data_dir, history_db_path, write_json

ROOT = Path(__file__).resolve().parent.parent
SPAWN_GRACE_S = 60  # a comparison with no pid recorded this long after its start never started
SCHEMA = """
CREATE TABLE IF NOT EXISTS comparisons (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, task TEXT NOT NULL,
    variants TEXT NOT NULL, status TEXT NOT NULL, folder TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Comparison:
    id: str
    folder: Path
    status: str          # queued | running | succeeded | cancelled | failed | crashed
    task: str
    variants: tuple[str, ...]
    created_at: str
    done: int = 0
    total: int = 0
    current: str = ""
    problem: str | None = None
    fix: str | None = None
    started: float | None = None   # when it was started (epoch seconds: its config was saved)
    ended: float | None = None     # when its final status was written; None while live
    examples_done: int = 0         # of the current variant's examples
    examples: int = 0              # 0 until the current variant reports its first ones

    @property
    def fraction(self) -> float:
        """How much of the whole comparison is done, counting the current variant's examples."""
        part = self.examples_done / self.examples if self.examples else 0.0
        return min(1.0, (self.done + part) / max(self.total, 1))

    @property
    def live(self) -> bool:
        """Whether it is still queued or running."""
        return self.status in ("queued", "running")

    @property
    def elapsed_s(self) -> float | None:
        """Seconds from its start to its end, or to now while it runs."""
        if self.started is None:
            return None
        return max(0.0, (self.ended if self.ended is not None else time.time()) - self.started)


def comparisons_dir() -> Path:
    path = data_dir() / "comparisons"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _index(comparison_id: str, status: str, config: CompareConfig | None = None,
           folder: Path | None = None) -> None:
    with closing(sqlite3.connect(history_db_path(), timeout=10)) as conn, conn:
        conn.executescript(SCHEMA)
        if config is not None:
            conn.execute("INSERT OR REPLACE INTO comparisons VALUES (?, ?, ?, ?, ?, ?)",
                         (comparison_id, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          config.task, json.dumps([v.name for v in config.variants]), status,
                          str(folder)))
        else:
            conn.execute("UPDATE comparisons SET status = ? WHERE id = ?", (status, comparison_id))


def start_comparison(config: CompareConfig) -> str:
    """Save the config and start the evaluation in the background; return its id."""
    check_variants(config)  # a variant that cannot run is refused before anything is saved
    comparison_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    folder = comparisons_dir() / comparison_id
    folder.mkdir()
    write_json(folder / "config.json", config.to_dict())
    write_json(folder / "status.json", {"status": "queued"})
    _index(comparison_id, "queued", config, folder)
    with (folder / "log.txt").open("w") as log:  # the child keeps its own copy of the handle
        process = subprocess.Popen([sys.executable, "-m", "core", "compare",
                                    str(folder / "config.json"), "--out", str(folder)], cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    write_json(folder / "status.json", {"status": "queued", "pid": process.pid})
    return comparison_id


def _training_busy() -> bool:
    from core.runs import list_runs

    return any(r.status in ("queued", "running") for r in list_runs())


def execute(config: CompareConfig, folder: Path) -> dict:
    """What the background process does (also ``python -m core compare`` in the foreground)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "status.json", {"status": "running", "pid": os.getpid()})
    progress_file = (folder / "progress.jsonl").open("a")

    def progress(done: int, total: int, name: str, examples_done: int | None = None,
                 examples: int | None = None) -> None:
        line = {"done": done, "total": total, "current": name}
        if examples:
            line.update(examples_done=examples_done, examples=examples)
        progress_file.write(json.dumps(line) + "\n")
        progress_file.flush()
        if not examples:  # the log keeps one line a variant
            print(f"[{done}/{total}] {name}", flush=True)

    cancelled = lambda: (folder / "cancel").exists()  # noqa: E731
    # share the two cores with a training run instead of fighting over them (4-15x slower)
    threads = 1 if _training_busy() else None
    try:
        results = evaluate(config, progress, cancelled, threads)
    except LabError as exc:
        status = "cancelled" if cancelled() else "failed"
        write_json(folder / "status.json", {"status": status, "problem": exc.problem, "fix": exc.fix})
        _index(folder.name, status)
        raise
    except Exception as exc:  # recorded for the page, then re-raised for the log's traceback
        write_json(folder / "status.json", {"status": "failed",
                                             "problem": f"{type(exc).__name__}: {exc}",
                                             "fix": "See log.txt in the comparison's folder."})
        _index(folder.name, "failed")
        raise
    results["id"] = folder.name
    write_json(folder / "results.json", results)
    write_json(folder / "status.json", {"status": "succeeded"})
    _index(folder.name, "succeeded")
    return results


def read_config_file(path: Path) -> CompareConfig:
    """A comparison config saved by the Compare page (or written by hand), checked."""
    if not path.is_file():
        raise ConfigError(f"There is no comparison config at {path}.",
                          "Save one from the Compare page, or write one (see README).")
    try:
        return CompareConfig.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ConfigError(f"{path} is not a valid comparison config: {exc}.",
                          "Compare it with a config the Compare page saved.") from None


def run_config_file(path: Path, out: Path | None = None) -> tuple[dict, Path]:
    """``python -m core compare``: run a config file in the foreground; (results, folder)."""
    config = read_config_file(path)
    check_variants(config)  # before the results folder is made: a bad variant leaves no trace
    folder = out if out is not None else comparisons_dir() / datetime.now().strftime("%Y%m%d-%H%M%S-cli")
    return execute(config, folder), folder


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child stays a zombie until reaped: that is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _read_status(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "status.json").read_text())


def _gone(status: dict[str, Any], folder: Path) -> bool:
    """Whether the process of a live status has ended. No pid yet means it is being started
    right now, unless the app died before recording one (a minute ago or more)."""
    if status.get("pid"):
        return not _pid_alive(status["pid"])
    return time.time() - (folder / "status.json").stat().st_mtime > SPAWN_GRACE_S


def get_comparison(comparison_id: str) -> Comparison:
    folder = comparisons_dir() / comparison_id
    if "/" in comparison_id or not (folder / "config.json").is_file():
        raise LabError(f"There is no comparison {comparison_id!r}.", "Pick one from the list.")
    config = json.loads((folder / "config.json").read_text())
    status = _read_status(folder)
    if status["status"] in ("queued", "running") and _gone(status, folder):
        status = _read_status(folder)  # it may have finished just before it ended: re-read
        if status["status"] in ("queued", "running"):
            # recorded, so the list and the index stop calling it live and the page says why
            status = {"status": "crashed", "problem": "The evaluation process ended without "
                      "recording a result (killed, out of memory, or the machine restarted).",
                      "fix": "Run the comparison again: its settings are kept with it."}
            write_json(folder / "status.json", status)
            _index(comparison_id, "crashed")
    state = status["status"]
    lines = (folder / "progress.jsonl").read_text().splitlines() if (folder / "progress.jsonl").exists() else []
    last = json.loads(lines[-1]) if lines else {}
    return Comparison(comparison_id, folder, state, config["task"],
                      tuple(v["name"] for v in config["variants"]),
                      datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc).isoformat(timespec="seconds"),
                      last.get("done", 0), last.get("total", len(config["variants"])),
                      last.get("current", ""), status.get("problem"), status.get("fix"),
                      (folder / "config.json").stat().st_mtime,
                      None if state in ("queued", "running")
                      else (folder / "status.json").stat().st_mtime,
                      last.get("examples_done", 0), last.get("examples", 0))


def list_comparisons() -> list[Comparison]:
    """Newest first."""
    return [get_comparison(p.name) for p in sorted(comparisons_dir().iterdir(), reverse=True)
            if (p / "config.json").is_file()]


def load_results(comparison_id: str) -> dict[str, Any]:
    path = get_comparison(comparison_id).folder / "results.json"  # an id never leaves the folder
    if not path.is_file():
        raise LabError(f"Comparison {comparison_id} has no results yet.", "Wait for it to finish.")
    return json.loads(path.read_text())


def cancel_comparison(comparison_id: str) -> None:
    """Ask the running evaluation to stop after its current example."""
    (get_comparison(comparison_id).folder / "cancel").touch()
