"""Choosing, by measurement, the fastest way to run an evaluation job.

Which is faster depends on the job and the machine: on 2 CPU cores llama.cpp
scores few-shot prompts an order of magnitude faster than transformers (it
reuses the shared prefix), while on a GPU a padded transformers batch wins.
So the lab times a small sample of the real job on each candidate setup and
runs the rest on the fastest, and records which one it used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    """The setup picked for a job and the examples/s each candidate reached on the sample."""

    name: str
    examples_per_s: dict[str, float]


def fastest(setups: dict[str, Callable[[Sequence], object]], sample: Sequence,
            warmup: int = 1) -> Choice:
    """Run ``sample`` through each setup (after ``warmup`` examples) and pick the fastest."""
    if not setups:
        raise ValueError("fastest() needs at least one setup to time")
    rates: dict[str, float] = {}
    for name, run in setups.items():
        if warmup:
            run(sample[:warmup])
        started = time.perf_counter()
        run(sample)
        rates[name] = len(sample) / max(time.perf_counter() - started, 1e-9)
    best = max(rates, key=rates.get)
    return Choice(best, {k: round(v, 3) for k, v in rates.items()})
