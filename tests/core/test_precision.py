"""The number format per kind of work, chosen by measurement (core.precision).

The choice itself is tested with fake timings shaped like the two kinds of processor
measured here; the real measurement runs once on this machine and once with torch and
oneDNN capped at AVX2, which emulates bfloat16 as a processor without AVX512-BF16 does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core import precision
from core.errors import ConfigError
from core.precision import Measurement, choose, choose_format, measure

# tokens/s, shaped like what was measured (issue 13 and this machine): on an AVX2-only
# processor bf16 training and prompt processing crawl, decoding still gains (memory-bound)
AVX2 = {"train": {"float32": 5500, "bfloat16": 130},
        "prefill": {"float32": 14000, "bfloat16": 2900, "float16": 2800},
        "decode": {"float32": 79, "bfloat16": 255, "float16": 227}}
NATIVE = {"train": {"float32": 5600, "bfloat16": 9400},
          "prefill": {"float32": 10200, "bfloat16": 29000, "float16": 2800},
          "decode": {"float32": 76, "bfloat16": 112, "float16": 187}}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _measurement(rates, native):
    return Measurement({"name": "test cpu", "capability": "AVX2" if not native else "AVX512",
                        "native_bf16": native}, rates, {"float32": 1.4e10, "bfloat16": 1e9})


def test_without_native_bf16_training_and_prompts_stay_float32_and_decoding_takes_bf16():
    chosen = choose(AVX2)
    assert chosen == {"train": "float32", "prefill": "float32", "decode": "bfloat16",
                      "generate": "bfloat16"}
    why = _measurement(AVX2, native=False).reason("train")
    assert why.startswith("float32: this processor has no native bfloat16 (AVX2)")
    assert "42x slower for a training step" in why


def test_with_native_bf16_every_kind_of_work_takes_bf16():
    chosen = choose(NATIVE)
    assert set(chosen.values()) == {"bfloat16"}
    assert _measurement(NATIVE, native=True).reason("train") == \
        "bfloat16: measured 1.7x faster than float32 for a training step on this processor " \
        "(native bfloat16)"


def test_a_small_gain_keeps_float32_and_float16_is_never_picked_automatically():
    rates = {"train": {"float32": 100, "bfloat16": 110},
             "prefill": {"float32": 100, "bfloat16": 90, "float16": 500},
             "decode": {"float32": 100, "float16": 900}}
    chosen = choose(rates)
    assert chosen["train"] == "float32"  # 1.1x is inside the margin
    assert chosen["prefill"] == chosen["decode"] == "float32"  # float16 measured, not taken
    assert "only 1.10x as fast" in _measurement(rates, native=True).reason("train")


def test_measure_skips_a_format_without_kernels_and_records_rates():
    def timer(work, fmt):
        if fmt == "float16":
            raise RuntimeError("no kernel")
        return AVX2[work][fmt], AVX2[work][fmt] * 1e6

    found = measure({"name": "fake"}, timer=timer)
    assert "float16" not in found.rates["prefill"]
    assert found.rates["train"] == {"float32": 5500, "bfloat16": 130}
    assert found.token_params_per_s == {"float32": 5.5e9, "bfloat16": 1.3e8}
    assert found.chosen["train"] == "float32"


def test_the_choice_is_saved_once_and_measured_again_for_another_processor(monkeypatch,
                                                                           tmp_path):
    monkeypatch.setenv("PROMPTTUNE_CACHE", str(tmp_path))
    calls = []

    def fake_measure(here, **_):
        calls.append(here["name"])
        return Measurement(here, AVX2 if here["name"] == "old" else NATIVE, {"float32": 1.0})

    monkeypatch.setattr(precision, "measure", fake_measure)
    monkeypatch.setattr(precision, "processor", lambda: {"name": "old", "native_bf16": False,
                                                         "capability": "AVX2"})
    assert precision.cpu_measurement().chosen["train"] == "float32"
    assert precision.cpu_measurement().chosen["train"] == "float32"
    assert calls == ["old"]  # the second call read the saved file
    saved = json.loads((tmp_path / precision.CHOICE_FILE).read_text())
    assert saved["rates"]["train"]["bfloat16"] == 130 and saved["chosen"]["decode"] == "bfloat16"
    monkeypatch.setattr(precision, "processor", lambda: {"name": "new", "native_bf16": True,
                                                         "capability": "AVX512"})
    assert precision.cpu_measurement().chosen["train"] == "bfloat16"
    assert calls == ["old", "new"]


def test_a_damaged_saved_choice_is_measured_again(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTTUNE_CACHE", str(tmp_path))
    (tmp_path / precision.CHOICE_FILE).write_text("{not json")
    monkeypatch.setattr(precision, "measure",
                        lambda here, **_: Measurement(here, NATIVE, {"float32": 1.0}))
    assert precision.cpu_measurement().chosen["train"] == "bfloat16"


def test_a_format_asked_for_is_kept_and_auto_follows_the_measurement():
    avx2 = lambda: _measurement(AVX2, native=False)  # noqa: E731
    assert choose_format("bfloat16", "train", "cpu", avx2) == \
        ("bfloat16", "bfloat16: set in the settings")
    assert choose_format("auto", "train", "cpu", avx2)[0] == "float32"
    assert choose_format("auto", "generate", "cpu", avx2)[0] == "bfloat16"
    assert choose_format("auto", "prefill", "cpu", avx2)[0] == "float32"
    with pytest.raises(ConfigError, match="Unknown number format 'int4'"):
        choose_format("int4", "train", "cpu", avx2)


def test_the_real_measurement_on_this_machine():
    found = measure(seconds=0.05)
    for work in ("train", "prefill", "decode"):
        assert found.rates[work]["float32"] > 0 and found.rates[work]["bfloat16"] > 0
        assert found.chosen[work] in ("float32", "bfloat16")
        assert found.reason(work).startswith(found.chosen[work] + ":")
    assert found.processor["capability"] and found.token_params_per_s["float32"] > 1e8


def test_capped_at_avx2_bf16_training_is_measured_slow_and_float32_is_chosen(tmp_path):
    """What a processor without native bf16 does, on any machine: torch and oneDNN capped
    at AVX2 emulate bf16 arithmetic (matrix products ~35-40x slower than fp32)."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
           "PROMPTTUNE_CACHE": str(tmp_path)}
    code = ("import json; from core.precision import cpu_measurement; m = cpu_measurement(); "
            "print(json.dumps({'chosen': m.chosen, 'why': m.reason('train'), "
            "'gain': m.speedup('train', 'bfloat16'), 'native': m.native_bf16}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["chosen"]["train"] == "float32" and found["chosen"]["prefill"] == "float32"
    assert found["gain"] < 0.2  # bf16 at least 5x slower for a training step
    assert found["native"] in (False, None)
    if found["native"] is False:
        assert "no native bfloat16" in found["why"]
