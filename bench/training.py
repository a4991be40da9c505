"""Fine-tuning speed and memory: LoRA against full fine-tuning and QLoRA, as ratios.

Each method runs a handful of training steps of the live-demo setup (Gemma 3 270M,
review-sentiment, batch 8, one thread) in a fresh process, so that each one's peak
RSS is its own. The first step (allocations, warm-up) is left out of s/step.
Measured in the same run, in turn: only the ratios to LoRA carry across machines.

    python -c "from bench.training import bench_training; bench_training()"
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("lora", "full", "qlora")


def _measure(method: str, steps: int, model: str) -> dict:
    """Run ``steps`` steps of ``method`` in this process; return s/step and peak RSS."""
    from core.runs import read_events
    from core.training import preset, train

    overrides = {"method": method, "max_steps": steps, "model": model, "max_eval_examples": 1,
                 "learning_rate": None, "validation_split": None, "validation_fraction": 0.0}
    with tempfile.TemporaryDirectory() as run_dir:
        metrics = train(preset("live-demo", **overrides), run_dir, echo=False)
        steps_seen = [e for e in read_events(run_dir, 0)[0] if e["type"] == "step"]
    later = steps_seen[1:] or steps_seen
    span = later[-1]["elapsed_s"] - (steps_seen[0]["elapsed_s"] if len(steps_seen) > 1 else 0)
    return {"method": method, "s_per_step": span / max(len(later), 1),
            "peak_rss_bytes": metrics["peak_rss_bytes"]}


def bench_training(steps: int = 6, model: str = "embedded:gemma-3-270m") -> list[dict]:
    """Print s/step and peak RSS of LoRA, full and QLoRA, with ratios against LoRA."""
    results = []
    for method in METHODS:
        code = ("import json, sys; sys.path.insert(0, %r); from bench.training import _measure; "
                "print('RESULT', json.dumps(_measure(%r, %d, %r)))" % (str(ROOT), method, steps,
                                                                          model))
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, check=False)
        lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
        if not lines:
            print(f"{method}: failed\n{out.stderr[-2000:]}")
            continue
        results.append(json.loads(lines[-1][len("RESULT "):]))
    base = next((r for r in results if r["method"] == "lora"), None)
    print(f"Fine-tuning, {model}, batch 8, 1 thread, {steps} steps (first left out)")
    for r in results:
        ratio = f"{r['s_per_step'] / base['s_per_step']:.2f}x" if base else "-"
        mem = f"{r['peak_rss_bytes'] / base['peak_rss_bytes']:.2f}x" if base else "-"
        print(f"  {r['method']:6s} {r['s_per_step']:6.2f} s/step ({ratio} LoRA)   peak RSS "
              f"{r['peak_rss_bytes'] / 2**30:5.2f} GB ({mem} LoRA)")
    return results


if __name__ == "__main__":
    bench_training(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
