"""The CLI's output piped into a reader that stops early (``python -m core runs --json | head``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_reader_that_stops_early_gets_no_error_and_no_wrong_fix(tmp_path):
    # tasks list prints every task; a reader that closes after one byte breaks the pipe
    reader = ("import subprocess, sys\n"
              "p = subprocess.Popen([sys.executable, '-c', "
              "'import sys; from core.cli import main; [main([\"tasks\", \"list\"]) for _ in range(400)]'],"
              " stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=sys.argv[1])\n"
              "p.stdout.read(1); p.stdout.close(); err = p.stderr.read(); p.wait()\n"
              "sys.stdout.write(err.decode())\n")
    done = subprocess.run([sys.executable, "-c", reader, str(ROOT)], capture_output=True, text=True,
                          env={"PROMPTTUNE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert "error:" not in done.stdout and "fix:" not in done.stdout and "Traceback" not in done.stdout
