"""Bad-input catalogue cases (issue 15, outside tester): training.

Registered into tests/test_bad_inputs.py's CASES with its @case decorator, and checked by its one
test with the same two assertions: the message names the problem and the fix, and the lab's data
is byte for byte what it was.
"""

from __future__ import annotations

import json

from tests.test_bad_inputs import FIX, case, seen, upload  # noqa: F401


@case("train-config-empty-yaml")
def _(lab):
    return lab.cli("train", lab.file("empty.yaml", "# nothing set yet\n")), \
        ["empty.yaml", "empty", "no setting", "fix:", "mapping"]


@case("train-config-yaml-list")
def _(lab):
    return lab.cli("train", lab.file("train.yaml", "- lora_r: 8\n- task: review-sentiment\n")), \
        ["train.yaml holds", "list", "fix:", "mapping"]


@case("train-config-missing-task")
def _(lab):
    config = lab.file("train.json", json.dumps({"task": "no-such-task", "model": str(lab.tiny)}))
    return lab.cli("train", config), ["There is no sample task named 'no-such-task'",
                                      "fix: Pick one of:"]
