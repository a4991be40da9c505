"""Training speed settings (issue 18) on the tiny model: batches grouped by length pad less
and still follow the run's seed; LoRA on the top layers only adapts those layers, starts from
the base model's loss like the full adapter, and the estimate counts the work it saves."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.train_config import TrainConfig
from core.training import train

TEMPLATE = "Review: {text}\nSentiment:"


def tiny_config(model_dir: Path, **overrides) -> TrainConfig:
    settings = dict(model=str(model_dir), template=TEMPLATE, max_steps=None, epochs=1.0,
                    batch_size=4, max_train_examples=48, max_eval_examples=2, threads=1,
                    lora_dropout=0.0, learning_rate=1e-2)
    return TrainConfig(**{**settings, **overrides})


def steps(run_dir: Path) -> list[dict]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["type"] == "step"]


@pytest.fixture
def batches(monkeypatch) -> list[list[tuple[int, ...]]]:
    """The batches the runs train on, as tuples of token ids (the collator sees each once)."""
    import core.training as training

    seen: list[list[tuple[int, ...]]] = []
    collate = training.Collator.__call__

    def recording(self, batch):
        if any(e["labels"] is not e["input_ids"] for e in batch):  # training, not scoring
            seen.append([tuple(e["input_ids"]) for e in batch])
        return collate(self, batch)

    monkeypatch.setattr(training.Collator, "__call__", recording)
    return seen


# -- batches grouped by length ---------------------------------------------------------------


def test_grouped_batches_pad_less_and_see_every_example_once(tiny_model_dir, tmp_path,
                                                             batches):
    plain = train(tiny_config(tiny_model_dir), tmp_path / "plain", echo=False)
    plain_batches = list(batches)
    batches.clear()
    grouped = train(tiny_config(tiny_model_dir, group_by_length=True), tmp_path / "grouped",
                    echo=False)
    # one epoch each: the same examples, the same real tokens, less padding
    assert sorted(x for b in batches for x in b) == sorted(x for b in plain_batches for x in b)
    assert grouped["tokens_seen"] == plain["tokens_seen"]
    assert grouped["padding_seen"] < 0.75 * plain["padding_seen"]
    assert grouped["steps"] == plain["steps"] == 12


def test_grouped_batches_follow_the_runs_seed(tiny_model_dir, tmp_path, batches):
    def order(seed: int, name: str) -> list:
        batches.clear()
        train(tiny_config(tiny_model_dir, group_by_length=True, seed=seed), tmp_path / name,
              echo=False)
        return list(batches)

    first, again, other = order(0, "a"), order(0, "b"), order(1, "c")
    assert first == again  # a run can be repeated
    assert first != other  # and a seed still draws another order
    assert [e["loss"] for e in steps(tmp_path / "a")] == [e["loss"] for e in
                                                          steps(tmp_path / "b")]


def test_grouping_is_off_unless_asked_for():
    assert TrainConfig().group_by_length is False
    with pytest.raises(ConfigError, match="group_by_length"):
        TrainConfig(group_by_length="yes")


# -- LoRA on the top layers only -------------------------------------------------------------


def _adapted_layers(run_dir: Path) -> set[int]:
    from safetensors import safe_open

    with safe_open(str(run_dir / "adapter/adapter_model.safetensors"), "np") as fh:
        return {int(key.split(".layers.")[1].split(".")[0]) for key in fh.keys()}


def _trained(run_dir: Path) -> bool:
    """Whether any LoRA B matrix (zero at the start) moved."""
    from safetensors import safe_open

    with safe_open(str(run_dir / "adapter/adapter_model.safetensors"), "pt") as fh:
        return any(fh.get_tensor(k).abs().sum() > 0 for k in fh.keys() if "lora_B" in k)


def test_top_layers_only_adapts_those_and_starts_from_the_same_loss(tiny_model_dir, tmp_path):
    every = train(tiny_config(tiny_model_dir, max_steps=3), tmp_path / "every", echo=False)
    top = train(tiny_config(tiny_model_dir, max_steps=3, lora_layers=1), tmp_path / "top",
                echo=False)
    assert _adapted_layers(tmp_path / "every") == {0, 1}
    assert _adapted_layers(tmp_path / "top") == {1}  # the tiny model has 2 layers
    # LoRA starts as a zero update: the first step's loss is the base model's, the same batch
    first = [steps(tmp_path / name)[0]["loss"] for name in ("every", "top")]
    assert first[0] == pytest.approx(first[1], rel=1e-5)
    assert top["tokens_seen"] == every["tokens_seen"]
    assert _trained(tmp_path / "top")  # and the adapted layers learned something


def test_top_layers_that_the_model_does_not_have_are_refused(tiny_model_dir, tmp_path):
    with pytest.raises(ConfigError, match="lora_layers is 5, but the model has 2 layers"):
        train(tiny_config(tiny_model_dir, lora_layers=5), tmp_path / "run", echo=False)
    for method in ("full", "ia3", "prompt-tuning"):  # PEFT picks layers for LoRA alone
        with pytest.raises(ConfigError, match="lora_layers works for LoRA and QLoRA"):
            tiny_config(tiny_model_dir, method=method, lora_layers=1)
    with pytest.raises(ConfigError, match="lora_layers"):
        tiny_config(tiny_model_dir, lora_layers=0)


def test_the_estimate_counts_the_work_grouping_and_top_layers_save(tiny_model_dir,
                                                                    monkeypatch):
    from core import precision
    from core.train_model import STARTUP_SECONDS, estimate
    from tests.core.test_precision import AVX2, _measurement

    monkeypatch.setattr(precision, "cpu_measurement", lambda: _measurement(AVX2, native=False))
    config = tiny_config(tiny_model_dir, max_steps=4000)
    plain = estimate(config)[0] - STARTUP_SECONDS
    assert estimate(replace(config, group_by_length=True))[0] - STARTUP_SECONDS < plain
    assert estimate(replace(config, lora_layers=1))[0] - STARTUP_SECONDS < plain
    assert estimate(replace(config, lora_layers=2))[0] - STARTUP_SECONDS == plain  # all of them


# -- the end-of-run scoring: each prompt once, the validation loss from the same pass ---------


def _one_at_a_time(model, tokenizer, rows, labels) -> tuple[list[list[float]], float]:
    """Each label scored by a forward of its own whole sequence, one at a time (no padding):
    the plain way, to check the shared-cache scoring against."""
    import torch

    eos, scores, nll, tokens = tokenizer.eos_token_id, [], 0.0, 0
    for prompt, answer in rows:
        row = []
        for label in labels:
            p = tokenizer(prompt)["input_ids"]
            c = tokenizer(" " + label, add_special_tokens=False)["input_ids"] + [eos]
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([p + c])).logits[0].float(), -1)
            each = [logp[len(p) - 1 + i, tok].item() for i, tok in enumerate(c)]
            row.append(sum(each[:-1]))
            if label == answer:
                nll, tokens = nll - sum(each), tokens + len(c)
        scores.append(row)
    return scores, nll / tokens


def test_scoring_each_prompt_once_gives_the_same_answers_and_loss(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.tasks import load_split
    from core.training import label_scores

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    labels = ("POSITIVE", "NEGATIVE", "MIXED")
    rows = [(TEMPLATE.format(text=r["text"]), r["label"])
            for r in load_split("review-sentiment", "validation")[:11]]
    accuracy, loss = label_scores(model, tokenizer, rows, labels, batch_size=4)
    scores, expected_loss = _one_at_a_time(model, tokenizer, rows, labels)
    picked = [labels[s.index(max(s))] for s in scores]
    assert accuracy == round(sum(p == a for p, (_, a) in zip(picked, rows)) / len(rows), 4)
    assert loss == pytest.approx(expected_loss, rel=1e-4)


def test_a_run_reports_validation_loss_and_accuracy_from_one_scoring_pass(tiny_model_dir,
                                                                          tmp_path):
    metrics = train(tiny_config(tiny_model_dir, max_steps=2, max_eval_examples=5),
                    tmp_path / "run", echo=False)
    assert metrics["eval_loss"] > 0 and 0.0 <= metrics["accuracy"] <= 1.0
    lines = (tmp_path / "run/events.jsonl").read_text().splitlines()
    evals = [e for e in map(json.loads, lines) if e["type"] == "eval"]
    assert [e["eval_loss"] for e in evals] == [metrics["eval_loss"]]  # the chart's last point


def test_prompt_tuned_models_score_one_whole_sequence_per_label(tiny_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import core.training as training
    from core.tasks import load_split

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    labels = ("POSITIVE", "NEGATIVE", "MIXED")
    rows = [(TEMPLATE.format(text=r["text"]), r["label"])
            for r in load_split("review-sentiment", "validation")[:6]]
    cached = training.label_scores(model, tokenizer, rows, labels, batch_size=1)
    monkeypatch.setattr(training, "_is_prompt_learning", lambda model: True)
    whole = training.label_scores(model, tokenizer, rows, labels, batch_size=1)
    assert whole == (cached[0], None)  # the same answers; no loss from this path


# -- the output layer on the positions that predict an answer token only ----------------------


def test_the_loss_is_the_models_own_on_the_answer_tokens(tiny_model_dir):
    """The loss with the output layer on the answer positions alone equals the model's own
    cross-entropy over the whole batch with the prompt masked (the plain way)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.training import Collator, completion_loss
    from core.training_data import prepare_data

    config = tiny_config(tiny_model_dir, max_train_examples=8)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    batch = Collator(tokenizer.pad_token_id)(prepare_data(config, tokenizer).train[:8])
    with torch.no_grad():
        ours = completion_loss(model, batch)
        plain = model(**batch).loss  # the model's mean over the unmasked labels
    assert ours.item() == pytest.approx(plain.item(), rel=1e-5)


# -- the estimate calibrated by the lab's own finished runs --------------------------------------


def _finished_run(home, name: str, seconds: float, raw: float, steps: int = 60, **changes):
    import json
    import os
    import time

    folder = home / "runs" / name
    folder.mkdir(parents=True)
    config = {"model": "embedded:gemma-3-270m", "method": "lora", **changes.pop("config", {})}
    metrics = {"steps": steps, "train_seconds": seconds, "precision": "float32",
               "cancelled": False, **changes}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "events.jsonl").write_text(json.dumps(
        {"type": "start", "device": "cpu", "raw_step_s": raw, "estimated_step_s": raw * 9}) + "\n")
    stamp = time.time() - 1000 + len(list((home / "runs").iterdir()))
    os.utime(folder, (stamp, stamp))
    return folder


def test_the_training_estimate_follows_how_this_machines_runs_really_trained(lab_home,
                                                                              monkeypatch):
    from core import train_model
    from core.train_config import preset

    config = preset("live-demo")
    monkeypatch.setattr(train_model, "token_params_per_s", lambda *a: 1e9)
    monkeypatch.setattr(train_model, "_step_work", lambda c, d: (40.0, 3.0, 1e8, 1e8))
    uncalibrated = train_model.step_seconds(config, None, "float32", "cpu", 2)
    assert train_model.measured_ratio(config, "float32") is None  # no run yet: the benchmark
    # a run timed on a busy machine (3x the estimate) and one on a quiet one (half of it):
    # the quiet one speaks for the machine, the estimate halves
    _finished_run(lab_home, "busy", seconds=60 * 3.0, raw=1.0)
    _finished_run(lab_home, "quiet", seconds=60 * 0.5, raw=1.0)
    assert train_model.measured_ratio(config, "float32") == 0.5
    assert train_model.step_seconds(config, None, "float32", "cpu", 2) == \
        pytest.approx(uncalibrated * 0.5, rel=0.01)
    assert train_model.step_seconds(config, None, "float32", "cpu", 2, calibrated=False) == \
        uncalibrated


def test_runs_of_another_kind_or_cut_short_do_not_calibrate_the_estimate(lab_home):
    from core import train_model
    from core.train_config import preset

    config = preset("live-demo")
    _finished_run(lab_home, "other-model", 30, 1.0, config={"model": "other"})
    _finished_run(lab_home, "full", 30, 1.0, config={"method": "full"})
    _finished_run(lab_home, "cancelled", 30, 1.0, cancelled=True)
    _finished_run(lab_home, "three-steps", 1.5, 1.0, steps=3)
    _finished_run(lab_home, "bfloat16", 30, 1.0, precision="bfloat16")
    (lab_home / "runs" / "damaged").mkdir()
    assert train_model.measured_ratio(config, "float32") is None
    assert train_model.measured_ratio(config, "bfloat16") == 0.5
