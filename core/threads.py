"""How many CPU threads the lab's engines use, chosen by measurement.

On 2 shared cores, 2 threads are faster than 1 only while nothing else is busy;
with a neighbour (a training run, a test suite) 2 threads run 4-15x slower than
1, because each OpenMP thread waits for a descheduled partner (MEASURED.md).
So at first start the lab times a small fixed workload with 1 thread and with
all cores, keeps the faster (all cores only if clearly faster), and saves the
choice in the cache. ``PROMPTTUNE_THREADS`` or the sidebar override it.
"""

from __future__ import annotations

import json
import os
import time

from core.paths import cache_dir

CHOICE_FILE = "threads.json"
MIN_GAIN = 1.3  # more threads must be at least this much faster to be worth the risk


def _workload_rate(threads: int, seconds: float = 0.4) -> float:
    """Matrix products per second of a decode-sized workload on ``threads`` threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(640, 2048), torch.randn(2048, 640)
        torch.mm(a, b)  # warm up
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            torch.mm(a, b)
            done += 1
        return done / (time.perf_counter() - started)
    finally:
        torch.set_num_threads(before)


def measure_threads() -> dict:
    """Time the workload with 1 thread and with every core; return the rates and the choice."""
    cores = os.cpu_count() or 1
    rates = {1: _workload_rate(1)}
    if cores > 1:
        rates[cores] = _workload_rate(cores)
    best = cores if cores > 1 and rates[cores] >= MIN_GAIN * rates[1] else 1
    return {"rates": {str(k): round(v, 1) for k, v in rates.items()}, "threads": best,
            "cores": cores, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}


def default_threads() -> int:
    """``PROMPTTUNE_THREADS`` if set, else the saved measurement (measuring once if none)."""
    env = os.environ.get("PROMPTTUNE_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    path = cache_dir() / CHOICE_FILE
    try:
        saved = json.loads(path.read_text())
        if saved.get("cores") == os.cpu_count():
            return int(saved["threads"])
    except (OSError, ValueError, KeyError):
        pass
    choice = measure_threads()
    path.write_text(json.dumps(choice, indent=2))
    return int(choice["threads"])
