"""Bad-input catalogue cases (issue 15, outside tester): cli.

Registered into tests/test_bad_inputs.py's CASES with its @case decorator, and checked by its one
test with the same two assertions: the message names the problem and the fix, and the lab's data
is byte for byte what it was.
"""

from __future__ import annotations

from tests.test_bad_inputs import FIX, case, seen, upload  # noqa: F401
