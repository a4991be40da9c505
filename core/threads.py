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

from core.paths import cache_dir, write_json

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
    return int(threads_measurement()["threads"])


def threads_measurement() -> dict:
    """The saved thread measurement for this machine's core count, measured once if none."""
    path = cache_dir() / CHOICE_FILE
    try:
        saved = json.loads(path.read_text())
        if saved.get("cores") == os.cpu_count() and int(saved["threads"]) > 0:
            return saved
    except (OSError, ValueError, KeyError, TypeError):
        pass
    choice = measure_threads()
    try:
        write_json(path, choice)
    except OSError:
        pass  # a read-only cache: the choice holds for this process
    return choice


def thread_speedup(threads: int) -> float:
    """How much faster ``threads`` threads ran the workload than one, as measured at first
    start (1.0 where that was not measured for this count)."""
    try:
        rates = threads_measurement()["rates"]
        return max(1.0, float(rates[str(threads)]) / float(rates["1"]))
    except (ValueError, KeyError, TypeError, ZeroDivisionError):
        return 1.0


class SharedCores:
    """Thread count for a long job that shares the machine: every core while the rest of
    the machine is idle, one while another process keeps a core busy (MEASURED.md: two
    threads beside a busy neighbour run 4-15x slower than one). ``update()`` looks at the
    CPU time the other processes used since the last call and sets torch's count."""

    BUSY_CORES = 0.3  # others using more than this share of a core count as busy

    def __init__(self, cores: int | None = None) -> None:
        import psutil

        self.cores = cores or os.cpu_count() or 1
        self._me = psutil.Process()
        self._last = self._sample()
        self.threads = self.cores
        self.others_busy = 0.0

    def _sample(self) -> tuple[float, float, float]:
        import psutil

        times = psutil.cpu_times()
        busy = sum(getattr(times, name, 0.0) for name in
                   ("user", "nice", "system", "irq", "softirq", "steal"))
        mine = sum(self._me.cpu_times()[:2])
        return time.monotonic(), busy, mine

    def update(self) -> int:
        """Re-read the load and set the thread count for what comes next; return it."""
        import torch

        now = self._sample()
        wall = now[0] - self._last[0]
        if wall > 0.05:
            self.others_busy = max(0.0, (now[1] - self._last[1]) - (now[2] - self._last[2])) / wall
            self._last = now
            self.threads = 1 if self.others_busy > self.BUSY_CORES else self.cores
        torch.set_num_threads(self.threads)
        return self.threads
