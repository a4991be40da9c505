"""Bad-input catalogue cases (issue 15, outside tester): compare.

Registered into tests/test_bad_inputs.py's CASES with its @case decorator, and checked by its one
test with the same two assertions: the message names the problem and the fix, and the lab's data
is byte for byte what it was.
"""

from __future__ import annotations

import json

from tests.test_bad_inputs import FIX, case, seen, upload  # noqa: F401


ZERO = [{"name": "zero-shot", "kind": "zero-shot"}]


def _compare(lab, name: str, text: str | bytes, *args: str) -> str:
    return lab.cli("compare", lab.file(name, text), *args)


def _config(lab, **settings) -> str:
    return json.dumps({"task": "review-sentiment", "model": str(lab.tiny), "n_examples": 5,
                       "variants": ZERO, **settings})


@case("cli-compare-config-not-utf8")
def _(lab):
    return _compare(lab, "compare.json", _config(lab).encode("utf-16")), \
        ["is not UTF-8 text", "fix: Save the config as UTF-8"]


@case("cli-compare-config-nested-deeply")
def _(lab):
    nested = '{"task": "review-sentiment", "variants": ' + "[" * 100_000 + "]" * 100_000 + "}"
    return _compare(lab, "compare.json", nested), ["nested too deeply", *FIX]


@case("cli-compare-seed-negative")
def _(lab):  # numpy's ValueError once, and a results folder left behind marked failed
    return _compare(lab, "compare.json", _config(lab, seed=-1)), \
        ["The seed must be 0 to", "fix: Use any whole number from 0"]


@case("cli-compare-seed-text")
def _(lab):
    return _compare(lab, "compare.json", _config(lab, seed="abc")), \
        ["setting seed must be a whole number, got 'abc'", "fix: Give seed as a whole number"]


@case("cli-compare-shots-fraction")
def _(lab):
    variants = [{"name": "few", "kind": "few-shot", "shots": 2.5}]
    return _compare(lab, "compare.json", _config(lab, variants=variants)), \
        ["setting shots must be a whole number, got 2.5", *FIX]


@case("cli-compare-price-nan")
def _(lab):  # json.loads reads NaN; it would flow into every cost
    text = _config(lab, prices={"input_per_million": 0.1}).replace("0.1", "NaN")
    return _compare(lab, "compare.json", text), ["input_per_million must be", "finite number", *FIX]


@case("cli-compare-price-infinity")
def _(lab):
    text = _config(lab, prices={"gpu_hour": 1.5}).replace("1.5", "Infinity")
    return _compare(lab, "compare.json", text), ["gpu_hour must be", "finite number", *FIX]


@case("cli-compare-rag-top-k-zero")
def _(lab):
    variants = [{"name": "rag", "kind": "rag", "collection": "notes", "top_k": 0}]
    return _compare(lab, "compare.json", _config(lab, variants=variants)), \
        ["top_k must be 1 to 20, got 0", "fix: Use 2-5 passages"]


@case("cli-compare-out-holds-another-comparison")
def _(lab):
    out = lab.tmp / "earlier"
    out.mkdir()
    (out / "results.json").write_text('{"variants": []}')
    (out / "progress.jsonl").write_text('{"done": 1, "total": 1, "current": "done"}\n')
    said = _compare(lab, "compare.json", _config(lab), "--out", str(out))
    assert (out / "results.json").read_text() == '{"variants": []}'  # the earlier one kept whole
    return said, [f"{out} already holds another comparison", "fix: Give --out a new or empty folder"]
