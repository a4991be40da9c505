"""Hybrid setups in a comparison (issue 17): a tuned model given worked examples, retrieved
passages or a system prompt, ReAct with its tools, calibrated label scores, and how much a
few-shot result moves with another draw of its examples. The unit tests use the tiny local
model; the hybrids themselves run on the embedded models with a handful of examples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core import compare, setup_eval
from core.compare import CompareConfig, VariantSpec, evaluate
from core.errors import ConfigError
from core.label_bias import calibrate
from core.setups import ModelChoice, PromptChoice, RetrievalChoice, Setup
from core.tasks import load_split, load_task

INSTRUCT = "embedded:smollm2-135m-instruct"


def _row(results, name):
    return next(v for v in results["variants"] if v["name"] == name)


def _recording(monkeypatch, name: str) -> list[str]:
    """The prompts ``setup_eval.<name>`` (_scored or _generated) is given."""
    sent: list[str] = []
    real = getattr(setup_eval, name)

    def recorded(engine, prompts, *rest, **kw):
        sent.extend(prompts)
        return real(engine, prompts, *rest, **kw)

    monkeypatch.setattr(setup_eval, name, recorded)
    return sent


# -- configs: old variants and new setups -------------------------------------------------------

def test_an_old_variants_config_loads_as_setups_and_saves_both_views():
    old = {"task": "review-sentiment", "n_examples": 5, "model": "embedded:gemma-3-270m",
           "variants": [{"name": "zero-shot", "kind": "zero-shot", "shots": 4},
                        {"name": "few-shot 4", "kind": "few-shot", "shots": 4}]}
    config = CompareConfig.from_dict(old)
    assert [s.kind for s in config.setups] == ["zero-shot", "few-shot"]
    assert config.setups[1].prompt == PromptChoice("few-shot", shots=4)
    saved = json.loads(json.dumps(config.to_dict()))
    assert saved["setups"][1] == {"name": "few-shot 4", "model": {"source": "embedded:gemma-3-270m"},
                                  "prompt": {"technique": "few-shot", "shots": 4}}
    assert saved["variants"] == [{"name": "zero-shot", "kind": "zero-shot"},
                                 {"name": "few-shot 4", "kind": "few-shot", "shots": 4}]
    assert CompareConfig.from_dict(saved) == config
    # a hand-edited "variants" beside "setups" does not count: the setups are what runs
    saved["variants"] = [{"name": "other", "kind": "cot"}]
    assert CompareConfig.from_dict(saved).setups == config.setups


def test_a_setups_config_mixes_models_and_refuses_what_cannot_run():
    hybrid = Setup("tuned + shots", ModelChoice(run_id="20261201-x"),
                   PromptChoice("few-shot", shots=4))
    config = CompareConfig("review-sentiment", (Setup("zero"), hybrid), 5, draws=3)
    assert config.variants == config.setups and config.variants[1].run_id == "20261201-x"
    assert config.to_dict()["variants"][1] == {"name": "tuned + shots", "kind": "fine-tuned",
                                               "run_id": "20261201-x"}
    with pytest.raises(ConfigError, match="setups must be a list of setups, got str"):
        CompareConfig.from_dict({"task": "review-sentiment", "setups": "zero"})
    with pytest.raises(ConfigError, match="draws .* must be 0 to 20, got 50"):
        CompareConfig("review-sentiment", (Setup("zero"),), 5, draws=50)
    agent = CompareConfig("review-sentiment", (Setup("agent", prompt=PromptChoice("react")),), 5)
    with pytest.raises(ConfigError, match="ReAct answers questions with tools") as err:
        compare.check_variants(agent)  # the CLI's gate, before anything runs
    assert "shop-math" in err.value.fix


# -- prompts of hybrids (no model needed) ----------------------------------------------------------

def test_a_tuned_runs_shots_are_written_in_its_own_template_before_the_query():
    task = load_task("review-sentiment")
    template = {"template": "Text: {text}\nLabel:", "input_variable": "text",
                "completion_prefix": " "}
    setup = Setup("t", ModelChoice(run_id="r"), PromptChoice("few-shot", shots=2))
    query = load_split("review-sentiment", "test")[0]["text"]
    [built] = setup_eval.build_prompts(task, setup, [query], 0, template=template)
    shots = setup_eval.setup_shots(task, setup.prompt, 0)
    assert built.text == "\n\n".join([f"Text: {s.input}\nLabel: {s.label}" for s in shots]
                                     + [f"Text: {query}\nLabel:"])
    assert task.instruction not in built.text  # the run learnt the task without it
    alone = setup_eval.build_prompts(task, Setup("t", ModelChoice(run_id="r")), [query], 0,
                                     template=template)[0]
    assert alone.text == setup_eval.tuned_prompt(template, query)  # as comparisons always did


def test_content_free_prompts_are_the_same_prompt_around_no_content():
    task = load_task("review-sentiment")
    setup = Setup("c", prompt=PromptChoice("few-shot", shots=2, calibrate=True))
    free = setup_eval.content_free_prompts(task, setup, 0)
    real = setup_eval.build_prompts(task, setup, ["Great kettle."], 0)[0].text
    before = real.split("Review: Great kettle.")[0]
    assert [p.removeprefix(before) for p in free] == \
        ["Review: N/A\nSentiment:", "Review: \nSentiment:", "Review: [MASK]\nSentiment:"]


def test_calibration_divides_out_the_prompts_leaning():
    # the prompt leans to the first label (0.8 for no content): an input at 0.7 / 0.3 is,
    # relative to that leaning, the second label
    free = setup_eval.content_free_mean([[0.8, 0.2], [0.4, 0.1]])  # rows normalised first
    assert np.allclose(free, [0.8, 0.2])
    fixed = calibrate([[0.7, 0.3], [0.9, 0.1]], free)
    assert fixed[0].argmax() == 1 and fixed[1].argmax() == 0
    assert np.allclose(fixed.sum(axis=1), 1.0)


# -- a comparison on the tiny model: the new row fields and the draw spread -----------------------

def test_rows_carry_their_setup_parts_label_counts_and_draw_spread(tiny_long_model_dir):
    model = dict(source=str(tiny_long_model_dir), engine="transformers", dtype="float32",
                 threads=1)
    setups = (Setup("two shots", ModelChoice(**model), PromptChoice("few-shot", shots=2)),
              Setup("two shots calibrated", ModelChoice(**model),
                    PromptChoice("few-shot", shots=2, calibrate=True)),
              VariantSpec("zero", "zero-shot"))  # an old variant beside them
    config = CompareConfig("review-sentiment", setups, 6, model=str(tiny_long_model_dir),
                           engine="transformers", draws=2)
    results = evaluate(config)
    assert all(not v["error"] for v in results["variants"]), results["variants"]
    shots = _row(results, "two shots")
    spread = shots["draw_spread"]
    assert spread["metric"] == "accuracy" and spread["draws"] == 3 and len(spread["values"]) == 3
    assert spread["values"][0] == shots["metrics"]["accuracy"]["value"]
    assert spread["min"] <= spread["values"][0] <= spread["max"] and spread["sd"] >= 0
    assert _row(results, "zero")["draw_spread"] is None  # no examples to draw
    assert shots["parts"]["prompt"] == "2-shot" and shots["parts"]["retrieval"] == "none"
    assert shots["setup"]["prompt"] == {"technique": "few-shot", "shots": 2}
    calibrated = _row(results, "two shots calibrated")
    assert calibrated["calibrated"] and not shots["calibrated"]
    for row in (shots, calibrated):
        assert sum(row["label_counts"].values()) == 6
        assert set(row["label_counts"]) == {"POSITIVE", "NEGATIVE", "MIXED"}
    for example in results["examples"]:
        for name, output in example["outputs"].items():
            assert output["score"] == float(output["correct"]), name
    assert [s["name"] for s in results["config"]["setups"]] == \
        ["two shots", "two shots calibrated", "zero"]


# -- the hybrids on the embedded models ------------------------------------------------------------

def _tuned_instruct_run() -> str:
    """A real 2-step LoRA run of the embedded instruct model on the sentiment task."""
    from core import runs
    from core.train_config import TrainConfig

    config = TrainConfig(model=INSTRUCT, task="review-sentiment", max_steps=2, batch_size=2,
                         max_train_examples=16, max_eval_examples=4, threads=1,
                         learning_rate=1e-3, precision="float32")
    run_dir = runs.create_run(config)
    assert runs.execute(config, run_dir, echo=False) == 0
    return run_dir.name


@pytest.mark.integration
def test_a_tuned_model_takes_shots_passages_and_the_instruct_model_a_system_prompt(monkeypatch):
    run_id = _tuned_instruct_run()
    tuned = ModelChoice(INSTRUCT, run_id=run_id)
    system = "You are a careful product analyst. Answer with one word."
    setups = (Setup("instruct", ModelChoice(INSTRUCT)),
              Setup("instruct + system", ModelChoice(INSTRUCT), PromptChoice(system=system)),
              Setup("tuned", tuned),
              Setup("tuned + 2 shots", tuned, PromptChoice("few-shot", shots=2)))
    scored = _recording(monkeypatch, "_scored")
    results = evaluate(CompareConfig("review-sentiment", setups, 5, model=INSTRUCT))
    assert all(not v["error"] for v in results["variants"]), results["variants"]
    queries = [e["input"] for e in results["examples"]]
    by_setup = {s.name: scored[5 * i:5 * i + 5] for i, s in enumerate(setups)}
    first = by_setup["instruct + system"][0]
    assert first.startswith("<|im_start|>system\n" + system)  # SmolLM2's own chat template
    assert first.endswith("<|im_start|>assistant\nSentiment:") and queries[0] in first
    shot_prompt = by_setup["tuned + 2 shots"][0]
    template = json.loads((load_run_dir(run_id) / "template.json").read_text())
    assert shot_prompt.endswith(setup_eval.tuned_prompt(template, queries[0]))
    assert shot_prompt.count("\nSentiment: ") == 2 and shot_prompt.count(queries[0]) == 1
    tuned_row, shots_row = _row(results, "tuned"), _row(results, "tuned + 2 shots")
    assert shots_row["kind"] == tuned_row["kind"] == "fine-tuned"
    assert shots_row["n_train_examples"] == 4 and shots_row["n_shots"] == 2
    assert shots_row["prompt_tokens_mean"] > 2 * tuned_row["prompt_tokens_mean"]
    assert shots_row["parts"]["prompt"] == "2-shot" and shots_row["parts"]["model"] == f"run {run_id}"

    # the same run with passages retrieved from the handbook, before its own template
    generated = _recording(monkeypatch, "_generated")
    rag = Setup("tuned + retrieval", tuned, retrieval=RetrievalChoice("lumen-outfitters", top_k=2))
    results = evaluate(CompareConfig("handbook-qa", (Setup("tuned", tuned), rag), 5,
                                     model=INSTRUCT))
    assert all(not v["error"] for v in results["variants"]), results["variants"]
    question = results["examples"][0]["input"]
    with_passages = generated[5]
    assert with_passages.startswith("Passages:\n[1] (") and "\n[2] (" in with_passages
    assert with_passages.endswith(setup_eval.tuned_prompt(template, question))
    assert _row(results, "tuned + retrieval")["parts"]["retrieval"] == "lumen-outfitters (k=2)"


def load_run_dir(run_id: str) -> Path:
    from core.runs import get_run

    return Path(get_run(run_id).run_dir)


@pytest.mark.integration
def test_react_runs_its_tools_on_shop_math_and_sums_its_steps():
    agent = Setup("ReAct", prompt=PromptChoice("react", tools=("calculator",), max_steps=3))
    results = evaluate(CompareConfig("shop-math", (agent, Setup("CoT", prompt=PromptChoice("cot"))),
                                     5))
    assert all(not v["error"] for v in results["variants"]), results["variants"]
    react, cot = _row(results, "ReAct"), _row(results, "CoT")
    assert react["kind"] == "react" and react["n_shots"] is None
    assert "exact_match" in react["metrics"] and "exact_match" in cot["metrics"]
    # the loop's opening prompt alone (tools and two worked questions) is ~200 tokens; every
    # step reads it again, so the sum over the steps is larger than any one prompt
    assert react["prompt_tokens_mean"] > 2 * cot["prompt_tokens_mean"]
    raws = [e["outputs"]["ReAct"]["raw"] for e in results["examples"]]
    assert all("Action" in raw for raw in raws), raws


@pytest.mark.integration
def test_calibration_undoes_the_zero_shot_collapse_onto_positive():
    """Measured first (30 test reviews, Gemma 3 270M): zero-shot answered POSITIVE for 26 of
    30 (accuracy 0.43); calibrated, 12 POSITIVE, 15 NEGATIVE, 3 MIXED (0.63). Few-shot prompts
    that collapsed (1 shot: 14 of 15 NEGATIVE; 3 shots: all POSITIVE) stayed collapsed: the
    content-free inputs did not show their leaning (README)."""
    setups = (Setup("zero-shot"), Setup("calibrated", prompt=PromptChoice(calibrate=True)))
    results = evaluate(CompareConfig("review-sentiment", setups, 12))
    plain, fixed = _row(results, "zero-shot"), _row(results, "calibrated")
    assert max(plain["label_counts"].values()) >= 9  # one-sided: 9 or more of 12 on one label
    assert max(fixed["label_counts"].values()) < max(plain["label_counts"].values())
    assert fixed["metrics"]["accuracy"]["value"] >= plain["metrics"]["accuracy"]["value"]
    assert fixed["calibrated"] and fixed["parts"]["prompt"] == "zero-shot calibrated"
