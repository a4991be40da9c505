"""Compare as a first user meets it: what a tuned run really used, break-even only between
equals, saved sets that fit the task, readable ticks, configs that say only what applies,
and no query ever among its own shots."""

from __future__ import annotations

import copy
import json
import re
import urllib.parse

import pytest

from core import compare, report
from core.compare import CompareConfig, VariantSpec
from core.errors import ConfigError
from core.fewshot import FewShotSet, save_set
from core.prompting import Example
from core.tasks import load_split, load_task
from tests.core.test_report import results as results_fixture  # noqa: F401 - fixture


def _named(results, name):
    return next(v for v in results["variants"] if v["name"] == name)


# --- 1. the rows and steps a tuned run really used --------------------------------------------

def _run_folder(tmp_path, start_examples, steps, batch=8, accum=1):
    folder = tmp_path / "run"
    folder.mkdir()
    if start_examples is not None:
        (folder / "events.jsonl").write_text(
            json.dumps({"type": "start", "examples": start_examples}) + "\n"
            + json.dumps({"type": "step", "step": 1}) + "\n")
    return folder, {"task": "review-sentiment", "batch_size": batch, "grad_accum": accum}, \
        {"steps": steps}


def test_a_two_step_run_counts_the_rows_its_steps_reached_not_its_data_set(tmp_path):
    folder, config, metrics = _run_folder(tmp_path, start_examples=300, steps=2)
    assert compare.training_rows(folder, config, metrics) == 16  # 2 steps x batch 8
    many = tmp_path / "many"
    many.mkdir()
    (many / "events.jsonl").write_text(json.dumps({"type": "start", "examples": 27}) + "\n")
    assert compare.training_rows(many, config, {"steps": 60}) == 27  # 18 epochs: 27 distinct rows


def test_an_old_run_without_events_reads_its_split_and_cap(tmp_path):
    folder, config, _ = _run_folder(tmp_path, start_examples=None, steps=None)
    assert compare.training_rows(folder, config, {}) == len(load_split("review-sentiment", "train"))
    assert compare.training_rows(folder, {**config, "max_train_examples": 40}, {}) == 40
    assert compare.training_rows(folder, {"data_path": "/x.csv"}, {}) is None


def test_the_verdict_says_the_rows_and_steps_the_run_used(results_fixture):  # noqa: F811
    tuned = _named(results_fixture, "lora-live-demo")
    tuned.update(n_train_examples=16, train_steps=2)
    text = report.verdict(results_fixture)
    assert "trained further on 16 labelled examples for 2 training steps" in text
    assert "300" not in text
    table = report.when_to_use(results_fixture)
    assert "16 labelled training rows (2 steps)" in table.loc["Data needed", "Fine-tuning"]


# --- 2. break-even only between setups of comparable quality ----------------------------------

def test_a_clearly_worse_tuned_model_gets_no_break_even_but_how_much_worse(results_fixture):  # noqa: F811
    tuned = _named(results_fixture, "lora-live-demo")
    tuned["metrics"]["accuracy"] = {"value": 0.53, "low": 0.45, "high": 0.60}  # few-shot: 0.70
    for example in results_fixture["examples"]:  # an older comparison, without the tuned
        example["outputs"].pop("lora-live-demo", None)  # model's answers: the ranges decide
    row = report.break_even_rows(results_fixture).iloc[0]
    assert row["Break-even (queries)"] == "– (less accurate)"
    assert "scores 0.17 lower on accuracy than few-shot-4" in row["What it means"]
    assert "no break-even applies" in row["What it means"]
    text = report.verdict(results_fixture)
    assert "pays back" not in text and "No break-even on cost applies" in text
    assert "pays back" not in report.html_report(results_fixture)


def test_comparable_quality_keeps_the_break_even(results_fixture):  # noqa: F811
    tuned = _named(results_fixture, "lora-live-demo")
    tuned["metrics"]["accuracy"] = {"value": 0.66, "low": 0.58, "high": 0.72}  # overlaps 0.70
    assert report.break_even_rows(results_fixture).iloc[0]["Break-even (queries)"] == "111"
    # apart, but within the tolerance: still level
    _named(results_fixture, "few-shot-4")["metrics"]["accuracy"] = \
        {"value": 0.70, "low": 0.695, "high": 0.705}
    tuned["metrics"]["accuracy"] = {"value": 0.685, "low": 0.68, "high": 0.69}
    assert report.break_even_rows(results_fixture).iloc[0]["Break-even (queries)"] == "111"


# --- 5. no break-even: say what to add ----------------------------------------------------------

def test_without_a_tuned_variant_the_report_says_to_add_one(results_fixture):  # noqa: F811
    results_fixture["variants"] = [v for v in results_fixture["variants"]
                                   if v["kind"] != "fine-tuned"]
    missing = report.break_even_missing(results_fixture)
    assert "needs a fine-tuned variant" in missing and "Train page" in missing
    page = report.html_report(results_fixture)
    section = page.split("Break-even: when does fine-tuning pay for itself?")[1][:800]
    assert "needs a fine-tuned variant" in section and "Nothing to show" not in section


def test_a_failed_tuned_variant_is_named_as_the_reason(results_fixture):  # noqa: F811
    _named(results_fixture, "lora-live-demo")["error"] = "Run gone."
    assert "could not run" in report.break_even_missing(results_fixture)


# --- 3. saved few-shot sets must fit the task -------------------------------------------------

def _save(name, labels, examples):
    save_set(FewShotSet(name, tuple(Example(t, label) for t, label in examples), labels=labels))


def test_only_sets_labelled_for_the_task_are_offered_and_others_refused():
    _save("tickets", ("bug", "feature", "question"),
          [("App crashes on start", "bug"), ("Add dark mode", "feature"),
           ("How do I export?", "question"), ("Login fails", "bug")])
    _save("reviews", ("POSITIVE", "NEGATIVE", "MIXED"),
          [("Great kettle", "POSITIVE"), ("Broke in a week", "NEGATIVE"),
           ("Fast but loud", "MIXED"), ("Love it", "POSITIVE")])
    sentiment = load_task("review-sentiment")
    assert compare.fitting_sets(sentiment) == ["reviews"]
    assert compare.fitting_sets(load_task("shop-math")) == []
    config = CompareConfig("review-sentiment", (VariantSpec("set tickets", "few-shot", shots=64,
                                                            fewshot_set="tickets"),), 5)
    with pytest.raises(ConfigError, match="answers bug, feature, question, which are not labels"):
        compare.check_variants(config)  # the CLI's gate, before anything runs


def test_a_set_counts_its_real_examples_and_the_chart_places_it_there(results_fixture):  # noqa: F811
    _save("reviews", (), [("Great kettle", "POSITIVE"), ("Broke in a week", "NEGATIVE"),
                          ("Fast but loud", "MIXED"), ("Love it", "POSITIVE")])
    spec = VariantSpec("set reviews", "few-shot", shots=64, fewshot_set="reviews")
    assert compare.shots_used(load_task("review-sentiment"), spec, 0) == 4
    fig = report.quality_vs_examples(results_fixture)
    fig.to_json()
    # 6. only the counts used are labelled, no minor ticks (they read "5 1 2 5 10 2")
    assert list(fig.layout.xaxis.tickvals) == [4, 300]
    assert list(fig.layout.xaxis.ticktext) == ["4", "300"]
    assert fig.layout.xaxis.minor.ticks == ""


# --- 8. a saved config says only what applies -------------------------------------------------

def test_each_variant_saves_only_its_own_settings_and_old_configs_still_read():
    config = CompareConfig("review-sentiment", (
        VariantSpec("zero-shot", "zero-shot"), VariantSpec("few-shot 4", "few-shot", shots=4),
        VariantSpec("cot", "cot")), 5)
    saved = config.to_dict()["variants"]
    assert saved == [{"name": "zero-shot", "kind": "zero-shot"},
                     {"name": "few-shot 4", "kind": "few-shot", "shots": 4},
                     {"name": "cot", "kind": "cot"}]
    assert CompareConfig.from_dict(config.to_dict()) == config
    old = {**config.to_dict(), "variants": [
        {"name": "zero-shot", "kind": "zero-shot", "shots": 4, "fewshot_set": None,
         "collection": None, "top_k": 3, "run_id": None, "constrained": True}]}
    assert CompareConfig.from_dict(old).variants[0].kind == "zero-shot"


def test_the_reports_reproduce_config_drops_settings_that_do_not_apply(results_fixture):  # noqa: F811
    results_fixture["config"]["variants"][0].update(shots=4, constrained=True, top_k=3)
    page = report.html_report(results_fixture)
    link = re.search(r'download="CONFIG.json" href="data:application/json;charset=utf-8,([^"]+)"',
                     page)
    zero = json.loads(urllib.parse.unquote(link.group(1)))["variants"][0]
    assert zero["kind"] == "zero-shot" and not {"shots", "constrained", "top_k"} & set(zero)


# --- 9. shots from train, queries from test, never a query among its own shots ---------------

def test_no_few_shot_prompt_holds_its_own_query_among_its_shots(tiny_long_model_dir, monkeypatch):
    task = load_task("review-sentiment")
    test_rows = load_split("review-sentiment", "test")
    train_inputs = {r["text"] for r in load_split("review-sentiment", "train")}
    # a saved set made from the very rows being asked about, the worst case
    _save("leaky", (), [(r["text"], r["label"]) for r in test_rows[:3]]
          + [(next(iter(train_inputs)), "POSITIVE")])
    config = CompareConfig("review-sentiment", (
        VariantSpec("few-shot 2", "few-shot", shots=2), VariantSpec("few-shot 8", "few-shot", shots=8),
        VariantSpec("set leaky", "few-shot", shots=4, fewshot_set="leaky")), 6,
        model=str(tiny_long_model_dir), engine="transformers")
    sent: list[str] = []
    real = compare._scored

    def recorded(engine, prompts, labels, prefix=" ", *rest):
        sent.extend(prompts)
        return real(engine, prompts, labels, prefix, *rest)

    from core import setup_eval  # one setup is evaluated there (issue 17)

    monkeypatch.setattr(setup_eval, "_scored", recorded)
    ticks = []
    results = compare.evaluate(config, lambda *a: ticks.append(a))
    assert all(not v["error"] for v in results["variants"]), results["variants"]
    queries = [e["input"] for e in results["examples"]]
    assert queries == [r["text"] for r in test_rows[:6]]  # queries: the test split
    assert len(sent) == 3 * 6
    for i, prompt in enumerate(sent):
        query = queries[i % 6]
        assert prompt.count(query) == 1, f"the query is among its own shots:\n{prompt}"
    drawn = compare._shots(task, config.variants[1], config.seed)
    assert len(drawn) == 8 and all(s.input in train_inputs for s in drawn)  # shots: train
    assert _named(results, "set leaky")["n_shots"] == 4
    # progress: each variant, then its examples as they go through
    assert (1, 3, "few-shot 8") in ticks and (1, 3, "few-shot 8", 6, 6) in ticks
    assert ticks[-1] == (3, 3, "done")


def test_scoring_reports_its_examples_in_chunks_and_a_cancel_lands_between_them():
    from core.errors import LabError

    class Engine:
        calls: list[int] = []

        def score_batch(self, prompts, candidates):
            self.calls.append(len(prompts))
            from core.generation import normalise

            return [normalise(candidates, [-i for i in range(len(candidates))],
                              [1] * len(candidates)) for _ in prompts]

        def count_tokens(self, text):
            return len(text.split())

    ticks = []
    out = compare._scored(Engine(), [f"Review {i}" for i in range(20)], ("A", "B"),
                          on_example=lambda done, n: ticks.append((done, n)))
    assert ticks == [(16, 20), (20, 20)] and out.predictions == ["A"] * 20
    asked = iter([False, True])
    with pytest.raises(LabError, match="cancelled"):
        compare._scored(Engine(), [f"Review {i}" for i in range(20)], ("A", "B"),
                        should_stop=lambda: next(asked))
    assert Engine.calls == [16, 4, 16]  # the cancelled one stopped after its first chunk


def test_a_real_two_step_run_reads_as_its_rows_and_steps(tiny_model_dir):
    from core import runs
    from tests.core.test_runs import tiny_config

    config = tiny_config(tiny_model_dir, max_steps=2, batch_size=2, max_train_examples=16)
    run_dir = runs.create_run(config)
    assert runs.execute(config, run_dir, echo=False) == 0
    spec = VariantSpec("tuned", "fine-tuned", run_id=run_dir.name)
    _, _, metrics, _ = compare._fine_tuned(spec, CompareConfig(
        "review-sentiment", (spec,), 5, model=str(tiny_model_dir), engine="transformers"))
    assert metrics["steps"] == 2 and metrics["train_rows"] == 4  # 2 steps x batch 2, of 16 read
