"""The job system's overhead: a comparison run as a background job against the same evaluation
called directly.

- Job: ``start_comparison`` (folder, config, status, index row, spawn), then polling
  ``get_comparison`` as a page does until it ends, then ``load_results``: what the Compare
  page costs, end to end.
- Direct: a fresh process that imports ``core.compare`` and calls ``evaluate`` on the same
  config (a fresh process too, so both pay the interpreter start, imports and model load that
  any evaluation in its own process pays; what differs is the job system).

Interleaved rounds, medians; in a data folder of its own (the lab's models and caches are
shared). Goal: the job within 5% of the direct call (ratio <= 1.05).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.05
POLL_S = 0.2  # how often the bench looks (the page's own poll is every 2 s)
DIRECT = """
import json, sys, time
started = time.perf_counter()
from core.compare import CompareConfig, evaluate
results = evaluate(CompareConfig.from_dict(json.loads(sys.argv[1])))
print(json.dumps({"wall_s": time.perf_counter() - started, "duration_s": results["duration_s"]}))
"""


def job_config(examples: int) -> dict:
    """Two prompt setups on the shipped sentiment task and the embedded model."""
    return {"task": "review-sentiment", "n_examples": examples,
            "variants": [{"name": "zero-shot", "kind": "zero-shot"},
                         {"name": "few-shot 4", "kind": "few-shot", "shots": 4}]}


def _direct(config: dict) -> float:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", DIRECT, json.dumps(config)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    json.loads(out.stdout.strip().splitlines()[-1])  # it finished and said so
    return time.perf_counter() - started


def _job(config: dict) -> float:
    from core.compare import CompareConfig
    from core.compare_runs import get_comparison, load_results, start_comparison

    started = time.perf_counter()
    comparison_id = start_comparison(CompareConfig.from_dict(config))
    while (comparison := get_comparison(comparison_id)).live:
        time.sleep(POLL_S)
    if comparison.status != "succeeded":
        raise RuntimeError(f"the bench's comparison {comparison.status}: {comparison.problem}")
    load_results(comparison_id)
    return time.perf_counter() - started


def bench_job_overhead(examples: int = 40, rounds: int = 2) -> dict:
    """Median seconds of the job and of the direct call, and their ratio against the goal."""
    config = job_config(examples)
    saved = os.environ.get("PROMPTTUNE_HOME")
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as home:
        os.environ["PROMPTTUNE_HOME"] = home
        try:
            _direct(config)  # warm up: the model's converted copy, the thread measurement
            jobs, direct = [], []
            for _ in range(rounds):
                jobs.append(_job(config))
                direct.append(_direct(config))
        finally:
            if saved is None:
                os.environ.pop("PROMPTTUNE_HOME", None)
            else:
                os.environ["PROMPTTUNE_HOME"] = saved
    job_s, direct_s = statistics.median(jobs), statistics.median(direct)
    ratio = job_s / direct_s
    return {"examples": examples, "setups": len(config["variants"]), "rounds": rounds,
            "job_s": round(job_s, 2), "direct_evaluate_s": round(direct_s, 2),
            "ratio": round(ratio, 3), "goal": f"<= {GOAL}",
            "meets_goal": ratio <= GOAL}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    for key, value in bench_job_overhead().items():
        print(f"  {key:28s} {value}")
