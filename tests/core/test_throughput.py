"""The fastest setup is chosen by timing the real job on a sample."""

import time

import pytest

from core.throughput import fastest


def test_the_faster_setup_wins_and_every_rate_is_reported():
    def slow(batch):
        time.sleep(0.01 * len(batch))

    def quick(batch):
        time.sleep(0.001 * len(batch))

    choice = fastest({"slow": slow, "quick": quick}, list(range(8)))
    assert choice.name == "quick"
    assert set(choice.examples_per_s) == {"slow", "quick"}
    assert choice.examples_per_s["quick"] > choice.examples_per_s["slow"]


def test_no_setup_is_an_error():
    with pytest.raises(ValueError):
        fastest({}, [1])
