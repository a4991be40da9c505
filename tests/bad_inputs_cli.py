"""Bad-input catalogue cases (issue 15, outside tester): cli.

Registered into tests/test_bad_inputs.py's CASES with its @case decorator, and checked by its one
test with the same two assertions: the message names the problem and the fix, and the lab's data
is byte for byte what it was.
"""

from __future__ import annotations

from tests.test_bad_inputs import FIX, case, seen, upload  # noqa: F401


# -- history ----------------------------------------------------------------------------------------


@case("cli-history-limit-huge")
def _(lab):  # was an OverflowError traceback from SQLite
    return lab.cli("history", "--limit", "99999999999999999999999"), \
        ["argument --limit", "must be a whole number from 1 to 1,000,000,000", "usage:"]


@case("cli-history-limit-zero")
def _(lab):
    return lab.cli("history", "--limit", "0"), ["argument --limit", "from 1 to", "got 0"]


# -- generate -----------------------------------------------------------------------------------------


@case("cli-stdin-huge-prompt")
def _(lab):  # refused by its length, before a tokenizer reads it (was minutes and gigabytes)
    return lab.cli("generate", "-", "--model", str(lab.tiny), stdin=b"word " * 4_000_000), \
        ["The prompt is 20,000,000 characters", "256 tokens", "fix: Shorten the prompt"]


@case("cli-model-name-too-long")
def _(lab):  # an OSError traceback from the file system
    return lab.cli("generate", "hi", "--model", str(lab.tmp / ("m" * 300))), \
        ["File name too long", "fix: Use a shorter path"]


# -- train --------------------------------------------------------------------------------------------


@case("cli-train-empty-yaml")
def _(lab):  # a 0-byte file: was a training run of every default
    return lab.cli("train", lab.file("train.yaml", b"")), ["train.yaml", "empty", "fix:"]


@case("cli-train-unknown-task")
def _(lab):  # was refused only after a failed run folder had been made and indexed
    config = lab.file("train.yaml", "task: no-such-task\nmax_steps: 2\n")
    return lab.cli("train", config, "--preset", "live-demo"), \
        ["There is no sample task named 'no-such-task'", "fix: Pick one of:"]


@case("cli-train-run-dir-name-too-long")
def _(lab):
    return lab.cli("train", "--preset", "live-demo", "--run-dir", str(lab.tmp / ("r" * 300))), \
        ["File name too long", "fix: Use a shorter path"]


# -- pages: few-shot set names, history search ------------------------------------------------------


@case("fewshot-set-name-300-characters")
def _(lab):  # would be an OSError (file name too long) if the name reached the disk
    from tests.test_bad_inputs import _fs_save_as

    return _fs_save_as(lab, "kettle " * 43), ["is not a usable few-shot set name", "1-64 letters"]


@case("history-search-nul-byte")
def _(lab):
    at = lab.page("pages/2_History.py")
    at.text_input(key="hist_search").set_value("fox\x00![x](http://127.0.0.1:9/x.png)").run()
    shown = seen(at)
    assert "![x]" not in shown, "the search text was rendered as Markdown"
    return shown, ["No saved answer contains", "fox"]
