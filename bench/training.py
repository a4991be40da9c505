"""Fine-tuning speed and memory: LoRA against full fine-tuning and QLoRA, as ratios.

Each method runs a handful of training steps of the live-demo setup (Gemma 3 270M,
review-sentiment, batch 8, one thread) in a fresh process, so that each one's peak
RSS is its own. The first step (allocations, warm-up) is left out of s/step.
Measured in the same run, in turn: only the ratios to LoRA carry across machines.

    python -c "from bench.training import bench_training; bench_training()"

``bench_training_ratio`` times the lab's ``train()`` against a bare transformers +
peft loop on the same batches; ``bench_live_demo`` trains the live-demo preset as it is
and as it was before issue 18, interleaved, and scores the 150 test reviews after each.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("lora", "full", "qlora")


def _measure(method: str, steps: int, model: str, **settings) -> dict:
    """Run ``steps`` steps of ``method`` (other ``settings`` of the live-demo preset changed
    too) in this process; return s/step and peak RSS."""
    from core.runs import read_events
    from core.train_config import preset
    from core.training import train

    overrides = {"method": method, "max_steps": steps, "model": model, "max_eval_examples": 1,
                 "threads": 1,
                 "learning_rate": None, "validation_split": None, "validation_fraction": 0.0,
                 **settings}
    with tempfile.TemporaryDirectory() as run_dir:
        metrics = train(preset("live-demo", **overrides), run_dir, echo=False)
        steps_seen = [e for e in read_events(run_dir, 0)[0] if e["type"] == "step"]
    later = steps_seen[1:] or steps_seen
    span = later[-1]["elapsed_s"] - (steps_seen[0]["elapsed_s"] if len(steps_seen) > 1 else 0)
    return {"method": method, "s_per_step": span / max(len(later), 1),
            "peak_rss_bytes": metrics["peak_rss_bytes"]}


def bench_training(steps: int = 6, model: str = "embedded:gemma-3-270m") -> list[dict]:
    """Print s/step and peak RSS of LoRA, full and QLoRA, with ratios against LoRA."""
    results = []
    for method in METHODS:
        code = ("import json, sys; sys.path.insert(0, %r); from bench.training import _measure; "
                "print('RESULT', json.dumps(_measure(%r, %d, %r)))" % (str(ROOT), method, steps,
                                                                          model))
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, check=False)
        lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
        if not lines:
            print(f"{method}: failed\n{out.stderr[-2000:]}")
            continue
        results.append(json.loads(lines[-1][len("RESULT "):]))
    base = next((r for r in results if r["method"] == "lora"), None)
    print(f"Fine-tuning, {model}, batch 8, 1 thread, {steps} steps (first left out)")
    for r in results:
        ratio = f"{r['s_per_step'] / base['s_per_step']:.2f}x" if base else "-"
        mem = f"{r['peak_rss_bytes'] / base['peak_rss_bytes']:.2f}x" if base else "-"
        print(f"  {r['method']:6s} {r['s_per_step']:6.2f} s/step ({ratio} LoRA)   peak RSS "
              f"{r['peak_rss_bytes'] / 2**30:5.2f} GB ({mem} LoRA)")
    return results


def _in_fresh_process(call: str) -> dict:
    """Run ``call`` (an expression on this module) in a new Python; return its RESULT."""
    code = ("import json, sys; sys.path.insert(0, %r); import bench.training as b; "
            "print('RESULT', json.dumps(b.%s))" % (str(ROOT), call))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"{call} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def _ratio_config(steps: int, model: str):
    from core.train_config import preset

    return preset("live-demo", max_steps=steps, model=model, validation_split=None,
                  validation_fraction=0.0, max_eval_examples=1, threads=1)


def _lab_tokens_per_s(steps: int, model: str, batches_file: str) -> dict:
    """The lab's train() for ``steps`` steps; records each batch it trained on (for the
    bare loop to replay) and the non-pad tokens/s of steps 2..N from its step events."""
    import core.training as training
    from core.runs import read_events

    seen: list[list[dict]] = []
    collate = training.Collator.__call__

    def recording(self, batch):  # the harness watches the batches; the lab's code is unchanged
        seen.append([{"input_ids": e["input_ids"], "labels": e["labels"]} for e in batch])
        return collate(self, batch)

    training.Collator.__call__ = recording
    with tempfile.TemporaryDirectory() as run_dir:
        training.train(_ratio_config(steps, model), run_dir, echo=False)
        elapsed = [e["elapsed_s"] for e in read_events(run_dir, 0)[0] if e["type"] == "step"]
    seen = seen[:steps]  # the data loader collates one batch ahead of the step
    Path(batches_file).write_text(json.dumps(seen))
    tokens = sum(len(e["input_ids"]) for batch in seen[1:] for e in batch)
    return {"tokens_per_s": tokens / (elapsed[-1] - elapsed[0]), "steps": len(elapsed)}


def _bare_tokens_per_s(steps: int, model: str, batches_file: str) -> dict:
    """What a person would write with transformers + peft alone: fp32 weights, autocast in the
    format the lab trains in on this processor,
    right padding, the model's own loss, AdamW with linear warmup/decay and clipping."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, get_linear_schedule_with_warmup

    from core.train_model import model_location, training_precision

    config = _ratio_config(steps, model)
    fmt = training_precision(config, "cpu")[0]
    torch.set_num_threads(config.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(config.seed)
    batches = json.loads(Path(batches_file).read_text())
    base = AutoModelForCausalLM.from_pretrained(model_location(config), dtype=torch.float32)
    pad = base.config.pad_token_id or 0
    peft = get_peft_model(base, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                           lora_dropout=config.lora_dropout, task_type="CAUSAL_LM",
                                           target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    params = [p for p in peft.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    schedule = get_linear_schedule_with_warmup(optimizer, math.ceil(config.warmup_ratio * steps),
                                               steps)
    peft.train()
    stamps, tokens = [], []
    started = time.perf_counter()
    for batch in batches:
        width = max(len(e["input_ids"]) for e in batch)
        ids = torch.tensor([e["input_ids"] + [pad] * (width - len(e["input_ids"])) for e in batch])
        labels = torch.tensor([e["labels"] + [-100] * (width - len(e["labels"])) for e in batch])
        mask = torch.tensor([[1] * len(e["input_ids"]) + [0] * (width - len(e["input_ids"]))
                             for e in batch])
        with torch.autocast("cpu", dtype=getattr(torch, fmt), enabled=fmt != "float32"):
            loss = peft(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        stamps.append(time.perf_counter() - started)
        tokens.append(int(mask.sum()))
    return {"tokens_per_s": sum(tokens[1:]) / (stamps[-1] - stamps[0]), "steps": len(stamps)}


def bench_training_ratio(steps: int = 8, model: str = "embedded:gemma-3-270m",
                         rounds: int = 1) -> dict:
    """Training tokens/s of the lab's train() over a bare transformers + peft loop on the same
    model, batches, LoRA, batch size, max length, lr, number format and threads (live-demo
    settings), each in a fresh process, alternating for ``rounds``; goal: ratio >= 0.95."""
    lab, bare = [], []
    with tempfile.TemporaryDirectory() as folder:
        batches = str(Path(folder) / "batches.json")
        for _ in range(rounds):
            lab.append(_in_fresh_process(f"_lab_tokens_per_s({steps}, {model!r}, {batches!r})"))
            bare.append(_in_fresh_process(f"_bare_tokens_per_s({steps}, {model!r}, {batches!r})"))
    lab_tps = statistics.median(r["tokens_per_s"] for r in lab)
    bare_tps = statistics.median(r["tokens_per_s"] for r in bare)
    result = {"model": model, "steps": steps, "rounds": rounds,
              "lab_tokens_per_s": round(lab_tps, 1), "bare_tokens_per_s": round(bare_tps, 1),
              "ratio": round(lab_tps / bare_tps, 3), "goal": ">= 0.95"}
    print(f"Training tokens/s, {model}, live-demo settings, {steps} steps (first left out): "
          f"lab {lab_tps:.0f}, bare transformers + peft {bare_tps:.0f}, "
          f"ratio {result['ratio']:.2f} (goal >= 0.95)")
    return result


# -- issue 18: the live-demo preset before and after, interleaved ---------------------------

# The live-demo preset's values before issue 18 (core/train_config.py, 1 Dec 2026): the baseline
# every "after" is measured against, in the same run.
BEFORE_ISSUE_18 = {"method": "lora", "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0,
                   "learning_rate": 1e-3, "batch_size": 8, "max_steps": 60,
                   "warmup_ratio": 0.1, "max_length": 128, "threads": 0}


def _loss_before_issue_18(model, inputs: dict, num_items=None, prompt_tuning: bool = False):
    """core.training.completion_loss as it was before issue 18: the output layer on the last
    ``keep`` positions, the last of which predicts nothing (the baseline's code)."""
    import torch

    labels = inputs["labels"]
    width = labels.shape[1]
    has_label = (labels != -100).any(0).nonzero()
    keep = width - int(has_label[0]) + 1 if len(has_label) else 1
    kwargs = {k: v for k, v in inputs.items() if k != "labels"}
    if prompt_tuning:
        kwargs.pop("position_ids", None)
    logits = model(**kwargs, logits_to_keep=keep).logits
    targets = labels[:, width - keep + 1:]
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
        ignore_index=-100, reduction="sum")
    count = num_items if num_items else (targets != -100).sum().clamp(min=1)
    return loss / count


def _live_demo_run(settings: dict, seed: int, model: str, old_code: bool = False) -> dict:
    """One live-demo run of ``settings`` (a full TrainConfig dict) with ``seed``, with the
    training loss computed as before issue 18 where ``old_code``: training seconds and
    accuracy on the task's test split (the run scores its "validation" split at the end:
    here the 150 test reviews)."""
    import core.training as training
    from core.train_config import TrainConfig

    if old_code:
        training.completion_loss = _loss_before_issue_18
    config = TrainConfig.from_dict({**settings, "seed": seed, "model": model,
                                    "task": "review-sentiment", "validation_split": "test"})
    with tempfile.TemporaryDirectory() as run_dir:
        started = time.perf_counter()
        metrics = training.train(config, run_dir, echo=False)
        wall = time.perf_counter() - started
    return {"seed": seed, "train_s": metrics["train_seconds"],
            "train_cpu_s": metrics.get("train_cpu_seconds"), "wall_s": round(wall, 1),
            "test_accuracy": metrics["accuracy"], "test_loss": round(metrics["eval_loss"], 4),
            "tokens_seen": metrics["tokens_seen"], "precision": metrics["precision"]}


def machine_load() -> str:
    """The 1-minute load average against the core count, in words."""
    import os

    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def processor_kind() -> tuple[bool, str]:
    """(whether this processor computes bfloat16 natively, torch's name for its instruction
    set), as core.precision measured and saved them."""
    from core.precision import cpu_measurement

    measured = cpu_measurement()
    return bool(measured.native_bf16), str(measured.processor.get("capability", "unknown"))


BEFORE = "before issue 18"


def compare_live_demo(variants: dict[str, dict], seeds: tuple[int, ...] = (0, 1, 2),
                      model: str = "embedded:gemma-3-270m") -> dict[str, list[dict]]:
    """Each variant's live-demo run for each seed, each in a fresh process, interleaved (the
    order turns with each seed so no variant always runs first); returns the runs by name.
    The variant named ``BEFORE`` trains with the loss code of before issue 18 too."""
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    names = list(variants)
    for turn, seed in enumerate(seeds):
        for name in names[turn % len(names):] + names[:turn % len(names)]:
            settings = json.dumps(variants[name])
            old_code = name == BEFORE
            result = _in_fresh_process(f"_live_demo_run(json.loads({settings!r}), {seed}, "
                                       f"{model!r}, {old_code})")
            result["load"] = machine_load()
            runs[name].append(result)
            print(f"  {name}, seed {seed}: {result['train_s']:.0f} s training, test accuracy "
                  f"{result['test_accuracy']:.3f} ({result['load']})", flush=True)
    return runs


def _summary(runs: list[dict]) -> str:
    seconds = " / ".join(f"{r['train_s']:.0f}" for r in runs)
    cpu = " / ".join(f"{r['train_cpu_s']:.0f}" for r in runs if r.get("train_cpu_s"))
    accuracy = " / ".join(f"{r['test_accuracy']:.2f}" for r in runs)
    return (f"training {seconds} s (median {statistics.median(r['train_s'] for r in runs):.0f}; "
            f"processor seconds {cpu or '-'}), test accuracy {accuracy} (mean "
            f"{statistics.mean(r['test_accuracy'] for r in runs):.3f})")


def _ratio(before: list[dict], now: list[dict], key: str) -> float | None:
    """The median over seeds of now / before for ``key`` (None where a run lacks it)."""
    pairs = [(b.get(key), n.get(key)) for b, n in zip(before, now)]
    ratios = [n / b for b, n in pairs if b and n]
    return round(statistics.median(ratios), 3) if ratios else None


def bench_live_demo(seeds: tuple[int, ...] = (0, 1, 2),
                    model: str = "embedded:gemma-3-270m") -> dict:
    """The live-demo preset as it is against its values before issue 18, on review-sentiment,
    each seed in a fresh process, interleaved: training seconds, their ratio, and accuracy on
    the 150 test reviews, beside the goal (<= 60 s of training where bfloat16 is native,
    <= 120 s where it is not)."""
    from core.train_config import PRESETS, TrainConfig

    native, capability = processor_kind()
    goal = 60 if native else 120
    print(f"Live-demo LoRA on review-sentiment, before issue 18 against now, interleaved, seeds "
          f"{', '.join(map(str, seeds))}; this processor ({capability}) "
          f"{'has' if native else 'has no'} native bfloat16 (goal <= {goal} s of training)")
    variants = {BEFORE: TrainConfig(**BEFORE_ISSUE_18).to_dict(),
                "now": PRESETS["live-demo"].to_dict()}
    runs = compare_live_demo(variants, seeds, model)
    before, now = runs[BEFORE], runs["now"]
    ratio, cpu_ratio = _ratio(before, now, "train_s"), _ratio(before, now, "train_cpu_s")
    median_now = statistics.median(r["train_s"] for r in now)
    print(f"  before issue 18: {_summary(before)}")
    print(f"  now:             {_summary(now)}")
    print(f"  training time now / before: {ratio:.2f} wall, {cpu_ratio or 0:.2f} processor "
          "seconds (medians of the seeds' ratios); now "
          f"{median_now:.0f} s against the goal of {goal} s: "
          f"{'met' if median_now <= goal else 'not met'} ({machine_load()}; a busy machine "
          "slows both, the ratio carries)")
    return {"native_bf16": native, "capability": capability, "goal_s": goal, "seeds": list(seeds),
            "before_train_s": [r["train_s"] for r in before],
            "now_train_s": [r["train_s"] for r in now], "ratio": ratio, "cpu_ratio": cpu_ratio,
            "before_test_accuracy": [r["test_accuracy"] for r in before],
            "now_test_accuracy": [r["test_accuracy"] for r in now],
            "goal_met": median_now <= goal}


def _step_parts(batches: int, rows: int, model: str) -> dict:
    """Processor seconds of the live-demo's loss (forward and backward, 1 thread) with the
    output layer as before issue 18 and now, batch by batch in turns on the same batches; and
    of scoring ``rows`` validation prompts one whole sequence per label against each prompt
    once with the labels on its cache."""
    import torch

    import core.training as training
    from core.train_config import preset
    from core.train_model import build_model, load_tokenizer
    from core.training_data import prepare_data

    torch.set_num_threads(1)
    config = preset("live-demo", model=model)
    tokenizer = load_tokenizer(config)
    data = prepare_data(config, tokenizer)
    lm = build_model(config, "cpu")
    seconds = {"before": 0.0, "now": 0.0, "whole": 0.0, "cached": 0.0}
    same = True
    for i in range(batches):
        batch = training.Collator(tokenizer.pad_token_id)(data.train[8 * i:8 * i + 8])
        losses = {}
        for name in (("before", "now") if i % 2 else ("now", "before")):
            loss_fn = _loss_before_issue_18 if name == "before" else training.completion_loss
            started = time.process_time()
            loss = loss_fn(lm, batch)
            loss.backward()
            lm.zero_grad()
            seconds[name] += time.process_time() - started if i else 0.0  # first: warm-up
            losses[name] = loss.item()
        same = same and abs(losses["before"] - losses["now"]) < 1e-4
    answers = {}
    for name in ("whole", "cached", "cached", "whole"):
        whole = name == "whole"
        training._is_prompt_learning, kept = (lambda m: whole), training._is_prompt_learning
        started = time.process_time()
        answers[name] = training.label_scores(lm, tokenizer, data.eval_rows[:rows],
                                              data.prompt_format.labels, batch_size=8)[0]
        seconds[name] += time.process_time() - started
        training._is_prompt_learning = kept
    return {"step_ratio": round(seconds["now"] / seconds["before"], 3), "same_losses": same,
            "scoring_ratio": round(seconds["cached"] / seconds["whole"], 3),
            "same_accuracy": answers["whole"] == answers["cached"],
            **{f"{k}_cpu_s": round(v, 1) for k, v in seconds.items()}}


def bench_live_demo_parts(batches: int = 9, rows: int = 24,
                          model: str = "embedded:gemma-3-270m") -> dict:
    """Where issue 18's speed came from, in a fresh process: a live-demo step's processor time
    with the output layer on the answer positions only against before, and the end-of-run
    scoring with each prompt once against a whole sequence per label."""
    result = _in_fresh_process(f"_step_parts({batches}, {rows}, {model!r})")
    print(f"Live-demo step, output layer on the answer positions only / as before issue 18: "
          f"{result['step_ratio']:.2f}x the processor time (same losses: "
          f"{result['same_losses']}); scoring each prompt once / a sequence per label: "
          f"{result['scoring_ratio']:.2f}x (same accuracy: {result['same_accuracy']})")
    return result


if __name__ == "__main__":
    bench_training(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
