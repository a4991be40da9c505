"""``python -m core``: answers with figures, and clear errors instead of tracebacks."""

import json
import subprocess
import sys
from pathlib import Path

from core.cli import main
from core.history import list_generations

ROOT = Path(__file__).resolve().parents[2]


def test_generate_prints_the_answer_and_its_figures(tiny_model_dir, capsys):
    code = main(["generate", "The quick brown", "--model", str(tiny_model_dir), "--dtype",
                 "float32", "--max-new-tokens", "5"])
    out, err = capsys.readouterr()
    assert code == 0 and out.strip()
    assert "prompt +" in err and "completion tokens" in err and "tok/s" in err
    assert list_generations()[0].source == "cli"


def test_generate_json_and_stream(tiny_model_dir, capsys):
    main(["generate", "The quick", "--model", str(tiny_model_dir), "--max-new-tokens", "4", "--json"])
    record = json.loads(capsys.readouterr().out)
    assert record["engine"] == "transformers" and record["completion_tokens"] <= 4
    assert record["params"]["max_new_tokens"] == 4
    main(["generate", "The quick", "--model", str(tiny_model_dir), "--max-new-tokens", "4",
          "--stream", "--no-history"])
    assert len(list_generations()) == 1


def test_chat_generation_uses_the_plain_format(tiny_model_dir, capsys):
    main(["generate", "Hi", "--system", "Be brief.", "--model", str(tiny_model_dir),
          "--max-new-tokens", "3", "--json"])
    record = json.loads(capsys.readouterr().out)
    assert record["prompt"] == "Be brief.\n\nUser: Hi\nAssistant:"
    assert "\nUser:" in record["params"]["stop"]


def test_bad_parameter_exits_2_with_problem_and_fix(tiny_model_dir, capsys):
    code = main(["generate", "x", "--model", str(tiny_model_dir), "--temperature", "9"])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: temperature must be between 0.0 and 5.0" in err and "fix:" in err


def test_missing_model_folder_exits_2(capsys, tmp_path):
    code = main(["generate", "x", "--model", str(tmp_path / "missing")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_too_long_prompt_in_the_cli(tiny_model_dir, capsys):
    code = main(["generate", "fox " * 400, "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "reads at most 256 tokens" in err and "Shorten the prompt" in err
    assert list_generations() == []  # a refused prompt is not recorded


def test_history_and_score_commands(tiny_model_dir, capsys):
    main(["generate", "The quick", "--model", str(tiny_model_dir), "--max-new-tokens", "2"])
    capsys.readouterr()
    main(["history", "--export", "json"])
    assert json.loads(capsys.readouterr().out)[0]["prompt"] == "The quick"
    main(["score", "Review: great. Sentiment:", " p", " n", "--model", str(tiny_model_dir)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "logprob" in lines[0]


def test_module_entry_point_runs_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "core", "generate", "x", "--model",
                             str(tmp_path / "missing")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "error:" in result.stderr


def test_json_schema_file_errors_are_explained(tiny_model_dir, tmp_path, capsys):
    bad = tmp_path / "schema.json"
    bad.write_text('{"type": "objec"}')
    code = main(["generate", "x", "--model", str(tiny_model_dir), "--json-schema", str(bad)])
    assert code == 2 and "not a valid JSON Schema at type" in capsys.readouterr().err
    code = main(["generate", "x", "--model", str(tiny_model_dir), "--json-schema",
                 str(tmp_path / "missing.json")])
    assert code == 2 and "Could not read the JSON Schema file" in capsys.readouterr().err


def test_constrained_generation_from_the_cli(tiny_model_dir, tmp_path, capsys):
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "properties": {"ok": {"type": "boolean"}}, '
                      '"required": ["ok"], "additionalProperties": false}')
    code = main(["generate", "Answer:", "--model", str(tiny_model_dir), "--max-new-tokens", "40",
                 "--json-schema", str(schema), "--json"])
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and json.loads(record["completion"]) in ({"ok": True}, {"ok": False})
