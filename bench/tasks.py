"""Your own task at scale: a 100,000-row CSV made into a task, and the Compare page opened on it.

- Creating: ``read_source`` + ``plan_task`` + ``create_task`` on a 100,000-row, three-label
  CSV written here (made-up reviews from a fixed vocabulary, seeded), in a fresh process so
  its peak memory is its own. Baseline in the same run: the same file read by Python's csv
  module alone, also in a fresh process. Goal: under 10 s on 2 cores.
- Opening: the Compare page's server time (AppTest, one script run) with the new task picked,
  against the same page on the shipped review-sentiment task. Goal: under 2 s.
"""

from __future__ import annotations

import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = 100_000
WORDS = {"positive": "great lovely comfortable sturdy fast excellent bright happy".split(),
         "negative": "broken slow flimsy late awful noisy cracked refund".split(),
         "mixed": "okay fine average although decent but however partly".split()}
FILLER = "the boots shoes kettle lamp order box arrived after days with it was and".split()

CREATE = """
import json, resource, sys, time
t0 = time.perf_counter()
from core.task_builder import create_task, plan_task, task_request
from core.task_sources import read_source
t1 = time.perf_counter()
source = read_source(sys.argv[1])
t2 = time.perf_counter()
draft = plan_task(task_request("bench-100k", source, kind="classification",
                               input_column="text", label_column="label"), source)
t3 = time.perf_counter()
task = create_task(draft)
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "read_s": t2 - t1, "plan_s": t3 - t2, "create_s": t4 - t3,
                  "total_s": t4 - t1, "kept": draft.counts.get("kept"),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BARE = """
import csv, json, resource, sys, time
t0 = time.perf_counter()
with open(sys.argv[1], newline="", encoding="utf-8") as fh:
    rows = list(csv.DictReader(fh))
print(json.dumps({"total_s": time.perf_counter() - t0, "rows": len(rows),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_csv(path: Path, rows: int = ROWS, seed: int = 0) -> None:
    """A CSV of ``rows`` made-up reviews with three labels (written by this benchmark)."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "label"])
        for i in range(rows):
            label = rng.choice(tuple(WORDS))
            words = rng.choices(FILLER, k=rng.randint(6, 30)) + rng.choices(WORDS[label], k=3)
            rng.shuffle(words)
            out.writerow([f"#{i} " + " ".join(words), label])


def _child(code: str, path: Path, env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_create(rows: int = ROWS) -> tuple[dict, dict]:
    """Create the task in a fresh process, against reading the file alone."""
    home = tempfile.mkdtemp(prefix="bench-tasks-")
    env = {**os.environ, "PROMPTTUNE_HOME": home, "PYTHONPATH": str(ROOT)}
    path = Path(home) / "reviews-100k.csv"
    write_csv(path, rows)
    bare = _child(BARE, path, env)
    lab = _child(CREATE, path, env)
    out = {"rows": rows, "file_mib": round(path.stat().st_size / 2**20, 1),
           "bare_csv_read_s": round(bare["total_s"], 2),
           "create_task_s": round(lab["total_s"], 2),
           "of_which_read_plan_write_s": [round(lab[k], 2) for k in ("read_s", "plan_s", "create_s")],
           "rows_kept": lab["kept"], "ratio_to_bare_read": round(lab["total_s"] / bare["total_s"], 1),
           "peak_mib": round(lab["peak_mib"]), "bare_peak_mib": round(bare["peak_mib"]),
           "goal": "create_task_s < 10"}
    return out, env


def _page_seconds(task: str, rounds: int) -> float:
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(rounds):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)  # as the app opens it
        at.session_state["cmp_task"] = task
        at.switch_page("pages/7_Compare.py")
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
        if at.exception:
            raise RuntimeError(f"the Compare page failed on {task}: {at.exception[0].message}")
    return statistics.median(times)


def bench_tasks(rows: int = ROWS, rounds: int = 3) -> dict:
    """Both goals; the page is opened in this process with the benchmark's data folder."""
    out, env = bench_create(rows)
    os.environ["PROMPTTUNE_HOME"] = env["PROMPTTUNE_HOME"]
    _page_seconds("review-sentiment", 1)  # warm: imports and caches, as a running app has them
    sample = _page_seconds("review-sentiment", rounds)
    yours = _page_seconds("bench-100k", rounds)
    out |= {"compare_page_sample_task_s": round(sample, 2),
            "compare_page_100k_task_s": round(yours, 2),
            "page_ratio_to_sample_task": round(yours / sample, 2),
            "page_goal": "compare_page_100k_task_s < 2"}
    return out
