"""``python -m core review``: a blind review written to a report, its ratings file imported,
a judge run, the summary printed; bad input is the problem and its fix with exit status 2.

Every test runs in its own PROMPTTUNE_HOME (conftest's autouse ``lab_home``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import review_store
from core.cli import main
from core.compare_runs import load_results
from core.review import build_pairs, pack
from tests.core.test_judge import made_up_results

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lab_2026_12_01" / "comparisons"
OLD = "20261201-050937-4da750"
CMP = "20261201-120000-abc123"


@pytest.fixture
def comparison(lab_home) -> dict:
    """A finished free-text comparison in the test's lab: the old lab's comparison folder with
    made-up results of two setups on six examples."""
    folder = lab_home / "comparisons" / CMP
    shutil.copytree(FIXTURE / OLD, folder)
    (folder / "results.json").write_text(json.dumps(made_up_results(CMP)), encoding="utf-8")
    return load_results(CMP)


def ratings_file(path: Path, results: dict, reviewer: str, votes: list[str]) -> Path:
    """What the offline page saves after ``reviewer`` voted ``votes`` on the review's pairs."""
    packed = pack(results, build_pairs(results, n=len(votes)))
    path.write_text(json.dumps({
        "format": "prompttune-lab-ratings", "version": 1, "comparison": packed["comparison"],
        "pack": packed["pack"], "reviewer": reviewer,
        "ratings": [{"pair": p["pair"], "vote": v, "at": "2026-12-01T12:00:00Z"}
                    for p, v in zip(packed["pairs"], votes)]}), encoding="utf-8")
    return path


def house_votes(results: dict, n: int) -> list[str]:
    """The votes of a person who always prefers the house-style answer."""
    return ["A" if p.setup_a == "house style" else "B" for p in build_pairs(results, n=n)]


def test_a_report_with_a_blind_review_is_written_and_names_no_setup_in_its_pairs(
        comparison, tmp_path, capsys):
    out = tmp_path / "review.html"
    assert main(["review", CMP, "--pairs", "4", "--pack", str(out)]) == 0
    said = capsys.readouterr().out
    assert "4 pairs to review" in said and "--import" in said
    page = out.read_text(encoding="utf-8")
    packed = pack(comparison, build_pairs(comparison, n=4))
    assert packed["pack"] in page and "prompttune-lab-review" in page
    assert main(["review", CMP, "--pairs", "4", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == packed and "house style" not in json.dumps(printed)


def test_a_ratings_file_is_imported_once_and_the_summary_shows_who_wins(
        comparison, tmp_path, capsys):
    saved = ratings_file(tmp_path / "ratings-dana.json", comparison, "Dana",
                         house_votes(comparison, 6))
    assert main(["review", CMP, "--import", str(saved)]) == 0
    assert "Imported 6 votes by Dana" in capsys.readouterr().out
    assert main(["review", CMP, "--import", str(saved)]) == 0
    assert "counted once" in capsys.readouterr().out
    assert main(["review", CMP, "--summary"]) == 0
    said = capsys.readouterr().out
    assert "6 votes by people on 6 pairs (Dana 6)" in said
    assert "house style over curt: 1.00" in said and "6 wins, 0 losses" in said
    assert main(["review", CMP, "--summary", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["votes"] == 6 and found["win_rates"][0]["setup"] == "house style"


def test_the_summary_of_an_unrated_comparison_says_how_to_start(comparison, capsys):
    assert main(["review", CMP, "--summary"]) == 0
    assert "No votes yet" in capsys.readouterr().out


def test_a_judge_rates_the_pairs_and_its_agreement_with_people_is_said(
        comparison, tmp_path, tiny_long_model_dir, capsys):
    saved = ratings_file(tmp_path / "r.json", comparison, "Dana", house_votes(comparison, 6))
    main(["review", CMP, "--import", str(saved)])
    capsys.readouterr()
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Q: {input}\nA: {answer_a}\nB: {answer_b}\nBetter answer:", encoding="utf-8")
    assert main(["review", CMP, "--judge", str(tiny_long_model_dir), "--engine", "transformers",
                 "--dtype", "float32", "--pairs", "3", "--prompt-file", str(prompt)]) == 0
    said = capsys.readouterr().out
    name = f"judge: {tiny_long_model_dir.name}"
    assert f"{name} rated 6 pairs" in said  # the 3 drawn and the 3 more Dana rated
    assert "changed places on" in said and "kappa" in said.lower()
    assert review_store.reviewers(CMP)[name] == 6
    assert main(["review", CMP, "--summary"]) == 0
    assert name in capsys.readouterr().out


@pytest.mark.parametrize("args, problem, fix", [
    (["no-such-comparison", "--summary"], "no comparison 'no-such-comparison'", "Pick one"),
    ([CMP, "--setups", "curt", "fancy"], "'fancy' are not in comparison", "curt, house style"),
    ([CMP, "--setups", "curt"], "1 setup is chosen", "Pick two"),
    ([CMP, "--pairs", "0"], "must be 1 or more", "20 pairs"),
    ([CMP, "--import", "missing.json"], "There is no ratings file", "Check the path"),
    ([CMP, "--prompt-file", "p.txt"], "no --judge is given", "--judge MODEL"),
    ([CMP, "--judge", "embedded:gemma-3-270m", "--prompt-file", "missing.txt"],
     "There is no prompt file", "Check the path"),
])
def test_bad_input_is_the_problem_and_its_fix_with_exit_2(comparison, args, problem, fix,
                                                          capsys):
    assert main(["review", *args]) == 2
    said = capsys.readouterr().err
    assert problem in said and fix in said and "Traceback" not in said


def test_a_bad_judge_prompt_is_refused_before_any_model_loads(comparison, tmp_path, capsys):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("{input} {answer_a} {answer_b} {foo}", encoding="utf-8")
    assert main(["review", CMP, "--judge", "/no/such/model", "--prompt-file", str(prompt)]) == 2
    said = capsys.readouterr().err
    assert "unknown placeholder {foo}" in said and "{{" in said


def test_a_ratings_file_for_another_comparison_is_refused_with_where_to_import_it(
        comparison, tmp_path, capsys):
    other = made_up_results("20261130-090000-ffffff")
    saved = ratings_file(tmp_path / "r.json", other, "Dana", ["A", "B"])
    assert main(["review", CMP, "--import", str(saved)]) == 2
    said = capsys.readouterr().err
    assert "20261130-090000-ffffff" in said and review_store.ratings(CMP) == []
