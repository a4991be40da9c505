"""A lab data folder written by an older lab opens with nothing lost (issue 17).

``tests/fixtures/lab_2026_12_01`` is a whole PROMPTTUNE_HOME written by commit e5888ce (main
before the job system moved to core/db.py with schema versions and comparison variants became
"setups"); its README says how. It must never be regenerated. Each test copies it to a
temporary folder, points PROMPTTUNE_HOME there and opens it with the CURRENT code, checking
what a user who upgrades the lab would notice:

- History: the 3 saved generations are listed newest first with their prompt, answer,
  settings (the seed drawn for the unseeded one), figures and Playground setup; search and
  export find them; ``python -m core history`` prints them.
- Few-shot: the saved set "reviews-one-each" loads with its 3 examples, labels and template.
- Knowledge: the collection "allotment-notes" lists its 2 documents and 3 passages, and a
  search returns the passage that answers the question.
- Tasks: the user task "support-tickets" is listed (not damaged), loads with its labels and
  its splits of 6/3/6 rows.
- Runs: the LoRA run is listed as succeeded, with its name, metrics (accuracy 0.75, 2 steps)
  and config (which still parses as a TrainConfig, so it can be repeated); its adapter folder
  holds its weights and a config peft reads; the runs index reports no problem.
- Comparisons: the finished one is listed as succeeded and the cancelled one as cancelled,
  none as damaged; ``load_results`` gives its 4 variants with metrics; the HTML report renders
  them; its saved config parses again (``read_config_file`` and ``CompareConfig.from_dict`` of
  the results' copy), and its prompt-only variants pass the checks a rerun makes.

A moved data folder: lab.db stores each run's folder as an absolute path (the fixture's point at
a folder that no longer exists); ``core.runs.get_run`` looks in the data folder's own
``runs/<id>`` first, so the run opens and a comparison with a fine-tuned variant can be rerun.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "lab_2026_12_01"
RUN_ID = "20261201-050922-fixture-lora-b853"
FINISHED = "20261201-050937-4da750"
CANCELLED = "20261201-050959-05344a"
VARIANTS = ("zero-shot", "one shot a label", "saved set", "tuned")


@pytest.fixture
def old_lab(tmp_path, monkeypatch) -> Path:
    """A copy of the old data folder as PROMPTTUNE_HOME (the fixture itself stays untouched)."""
    home = tmp_path / "old-lab"
    shutil.copytree(FIXTURE, home)
    monkeypatch.setenv("PROMPTTUNE_HOME", str(home))
    from core.tasks import clear_caches

    clear_caches()  # the task caches are process-wide; another test's tasks must not leak in
    yield home
    clear_caches()


# -- history -----------------------------------------------------------------------------------


def test_history_lists_every_old_answer_with_its_text_and_setup(old_lab):
    from core.history import count_generations, get_generation, list_generations

    entries = list_generations()
    assert count_generations() == 3
    assert [e.id for e in entries] == [3, 2, 1]
    assert [e.source for e in entries] == ["playground:Free text", "playground:Few-shot",
                                           "playground:Zero-shot"]
    assert [e.output for e in entries] == [
        "Leaves on trees turn brown\nLeaves on trees turn red\nLeaves on trees turn",
        " POSITIVE", " The kettle boils fast and looks"]
    free, few, zero = entries
    assert free.prompt == "A haiku about autumn leaves:\n"
    assert "The kettle boils fast" in zero.prompt and "Sentiment:" in zero.prompt
    assert free.params["temperature"] == 0.8 and free.params["seed"] == 0  # the drawn seed
    assert few.generation_params.stop == ("\n",)
    assert all(e.model == "embedded:gemma-3-270m" and e.completion_tokens > 0 for e in entries)
    assert all(e.time_to_first_token_s is not None for e in entries)
    assert few.setup["technique"] == "Few-shot"
    assert few.setup["fields"]["play_set"] == "reviews-one-each"
    assert zero.setup["recipe"]["technique"] == "zero-shot"
    assert get_generation(2).output == " POSITIVE"


def test_history_search_export_and_cli_find_the_old_answers(old_lab, capsys):
    from core.cli import main
    from core.history import export_history, list_generations

    assert [e.id for e in list_generations(search="kettle")] == [2, 1]
    exported = json.loads(export_history(list_generations(), "json"))
    assert [e["output"] for e in exported][1] == " POSITIVE"
    assert main(["history", "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "playground:Few-shot" in out and "POSITIVE" in out and "Leaves on trees" in out


# -- few-shot sets, collections, tasks ---------------------------------------------------------


def test_the_saved_few_shot_set_loads_with_its_examples(old_lab):
    from core.fewshot import list_sets, load_set

    assert list_sets() == ["reviews-one-each"]
    fewshot = load_set("reviews-one-each")
    assert fewshot.task == "review-sentiment"
    assert [e.label for e in fewshot.examples] == ["POSITIVE", "NEGATIVE", "MIXED"]
    assert fewshot.examples[0].input.startswith("Recieved the suitcase yesterday")
    assert fewshot.labels == ("POSITIVE", "NEGATIVE", "MIXED")
    assert "{input}" in fewshot.template


def test_the_collection_lists_and_search_returns_its_passages(old_lab):
    from core.knowledge import collection_info, document_texts, list_collections, search

    assert list_collections() == ["allotment-notes"]
    info = collection_info("allotment-notes")
    assert info.documents == ("soil.txt", "watering.md") and info.chunks == 3
    assert "potato scab" in document_texts("allotment-notes")["soil.txt"]
    hits = search("allotment-notes", "How big are the rain barrels?", k=2)
    assert len(hits) == 2
    assert hits[0].chunk.doc == "watering.md" and "200 litres" in hits[0].chunk.text


def test_the_user_task_is_listed_and_loads(old_lab, capsys):
    from core.cli import main
    from core.tasks import list_tasks, load_split, load_task

    assert "support-tickets" in list_tasks()
    task = load_task("support-tickets")
    assert task.origin == "yours" and task.kind == "classification"
    assert task.title == "Support tickets"
    assert set(task.labels) == {"billing", "delivery", "technical"}
    assert {s: len(load_split("support-tickets", s)) for s in ("train", "validation", "test")} \
        == {"train": 6, "validation": 3, "test": 6}
    assert main(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "support-tickets" in out and "damaged" not in out


# -- training runs -----------------------------------------------------------------------------


def test_the_run_is_listed_as_finished_with_its_metrics_and_adapter(old_lab, capsys):
    from core.cli import main
    from core.runs import index_problem, list_runs
    from core.train_config import TrainConfig

    [run] = list_runs()
    assert run.id == RUN_ID and run.status == "succeeded" and run.has_outputs
    assert run.name == "fixture lora" and run.data == "task:review-sentiment"
    assert run.run_dir == old_lab / "runs" / RUN_ID  # the copy, not the folder it was made in
    assert run.metrics["accuracy"] == 0.75 and run.metrics["steps"] == 2
    assert run.duration_s is not None
    assert index_problem() is None
    config = TrainConfig.from_dict(run.config)  # the run can be repeated as it was
    assert (config.method, config.lora_r, config.max_steps) == ("lora", 1, 2)
    adapter = run.run_dir / "adapter"
    assert (adapter / "adapter_model.safetensors").stat().st_size > 0
    from peft import PeftConfig

    peft_config = PeftConfig.from_pretrained(str(adapter))
    assert peft_config.r == 1 and set(peft_config.target_modules) == {"q_proj"}
    assert main(["runs"]) == 0
    assert RUN_ID in capsys.readouterr().out


def test_the_listed_run_opens_in_a_moved_data_folder(old_lab):
    from core.runs import get_run

    assert get_run(RUN_ID).run_dir == old_lab / "runs" / RUN_ID


# -- comparisons -------------------------------------------------------------------------------


def test_the_comparisons_are_listed_finished_and_none_damaged(old_lab):
    from core.compare_runs import list_comparisons

    listed = {c.id: c for c in list_comparisons()}
    assert set(listed) == {FINISHED, CANCELLED}
    assert not [c.id for c in listed.values() if c.status == "damaged"]
    finished, cancelled = listed[FINISHED], listed[CANCELLED]
    assert finished.status == "succeeded" and not finished.live
    assert finished.task == "review-sentiment" and finished.variants == VARIANTS
    assert finished.done == finished.total == 4 and finished.fraction == 1.0
    assert finished.folder == old_lab / "comparisons" / FINISHED
    assert cancelled.status == "cancelled" and cancelled.task == "support-tickets"
    assert "cancelled" in cancelled.problem


def test_the_finished_comparison_loads_its_results_and_renders_its_report(old_lab):
    from core.compare_runs import load_results
    from core.report import html_report, metrics_table, verdict

    results = load_results(FINISHED)
    variants = {v["name"]: v for v in results["variants"]}
    assert tuple(variants) == VARIANTS
    for variant in variants.values():
        assert variant["error"] is None
        assert 0 <= variant["metrics"]["accuracy"]["value"] <= 1
        assert "macro_f1" in variant["metrics"]
    assert variants["tuned"]["kind"] == "fine-tuned" and variants["tuned"]["train_steps"] == 2
    assert len(results["examples"]) == 6
    assert len(metrics_table(results)) == 4
    assert verdict(results)
    report = html_report(results)
    assert report.startswith("<!DOCTYPE html>")
    assert all(name in report for name in VARIANTS) and FINISHED in report


def test_the_finished_comparison_config_parses_again_to_be_rerun(old_lab):
    from dataclasses import replace

    from core.compare import CompareConfig, check_variants
    from core.compare_runs import load_results, read_config_file

    config = read_config_file(old_lab / "comparisons" / FINISHED / "config.json")
    assert config.task == "review-sentiment" and config.n_examples == 6
    assert [v.kind for v in config.variants] == ["zero-shot", "few-shot", "few-shot", "fine-tuned"]
    assert config.variants[2].fewshot_set == "reviews-one-each"
    assert config.variants[3].run_id == RUN_ID
    assert CompareConfig.from_dict(load_results(FINISHED)["config"]) == config
    check_variants(replace(config, variants=config.variants[:3]))  # the saved set still serves


def test_the_comparison_with_the_run_can_be_rerun_in_a_moved_data_folder(old_lab):
    from core.compare import check_variants
    from core.compare_runs import read_config_file

    check_variants(read_config_file(old_lab / "comparisons" / FINISHED / "config.json"))
