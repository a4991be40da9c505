"""The "quick" advice on review-sentiment, headless, against its goal (issue 18): at most
10 minutes of wall time on 2 cores, beside the live-demo LoRA's training time inside it.

It runs in a fresh process with an empty lab folder (PROMPTTUNE_HOME), so no finished point
from an earlier sweep is reused: the figure is a first advice's. The converted model stays
in the cache folder, as after a first start.

    python -m bench --only advise
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 600  # the "quick" budget: 10 minutes

MISSING = ("core.advice_job is not there yet (the advisor's sweep, issue 18): this benchmark "
           "needs core.advice_job.run_headless and core.advice_plan.AdviceConfig.")


def _advise(task: str, budget: str) -> dict:
    """The advice in this process (its lab folder set by the caller); wall time and points."""
    try:
        from core.advice_job import run_headless
        from core.advice_plan import AdviceConfig
    except ImportError as exc:
        return {"error": f"{MISSING} ({exc})"}
    started = time.perf_counter()
    advice, _ = run_headless(AdviceConfig(task=task, budget=budget), say=lambda *a, **k: None)
    wall = time.perf_counter() - started
    points = advice.get("points", [])
    tuned = [p for p in points if p.get("kind") == "tuned" and p.get("train_seconds")]
    all_rows = max(tuned, key=lambda p: p.get("rows") or 0, default=None)
    return {"wall_s": round(wall, 1), "points": len(points),
            "skipped": len(advice.get("skipped", [])),
            "train_s": round(sum(p["train_seconds"] for p in tuned), 1),
            "live_demo_train_s": all_rows["train_seconds"] if all_rows else None,
            "live_demo_point": all_rows["name"] if all_rows else None,
            "recommendation": advice.get("recommendation", {}).get("choice")}


def bench_advise(task: str = "review-sentiment", budget: str = "quick") -> dict:
    """Time the headless advice in a fresh process and an empty lab folder; print it against
    the 600 s goal, with the live-demo LoRA's (all training rows) training seconds in it."""
    code = ("import json, sys; sys.path.insert(0, %r); from bench.advise import _advise; "
            "print('RESULT', json.dumps(_advise(%r, %r)))" % (str(ROOT), task, budget))
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PROMPTTUNE_HOME": home}
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, check=False, env=env)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(lines[-1][len("RESULT "):]) if lines else \
        {"error": f"the advice failed:\n{out.stderr[-3000:]}"}
    if "error" in result:
        print(f"Quick advice on {task}: not measured. {result['error']}")
        return result
    met = "met" if result["wall_s"] <= GOAL_S else "not met"
    print(f"Quick advice on {task}, headless, nothing reused: {result['wall_s']:.0f} s wall "
          f"(goal <= {GOAL_S} s: {met}; {os.getloadavg()[0]:.1f} load on {os.cpu_count()} "
          f"cores), {result['points']} points, {result['skipped']} skipped; training "
          f"{result['train_s']:.0f} s in all, of which {result['live_demo_point']}: "
          f"{result['live_demo_train_s'] or 0:.0f} s; advice: {result['recommendation']}")
    return {**result, "goal_s": GOAL_S, "goal_met": result["wall_s"] <= GOAL_S}
