"""The benchmarks have their own entry (``python -m bench``) and core never imports them;
``python -m core bench`` only hands its arguments on (issue 17)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_no_core_module_imports_the_benchmarks():
    importers = [p.name for p in sorted((ROOT / "core").glob("*.py")) if "bench" in _imports(p)]
    assert importers == []


def test_both_entries_print_the_benchmarks_usage():
    for argv in (["-m", "bench", "--help"], ["-m", "core", "bench", "--help"]):
        done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert "usage: python -m bench" in done.stdout


def test_the_cli_compare_prints_the_verdict_and_each_paired_difference(tiny_model_dir, tmp_path,
                                                                       lab_home, capsys):
    import json

    from core.cli import main

    model = {"source": str(tiny_model_dir), "engine": "transformers"}
    path = tmp_path / "compare.json"
    path.write_text(json.dumps({"task": "review-sentiment", "n_examples": 6, "setups": [
        {"name": "zero", "model": model, "prompt": {"technique": "zero-shot"}},
        {"name": "calibrated", "model": model,
         "prompt": {"technique": "zero-shot", "calibrate": True}}]}))
    capsys.readouterr()
    assert main(["compare", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\nverdict: On 6 test examples of" in out
    assert "(paired 95% interval" in out  # the pair, in words, under the verdict
