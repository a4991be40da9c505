"""Fine-tuning a causal LM on a task: the Trainer loop, its events, and what a run leaves.

``train(config, run_dir)`` does the work in the calling process (``core.runs`` starts it
in a process of its own) and leaves in ``run_dir``: ``adapter/`` (PEFT) or ``model/``
(full fine-tuning), ``template.json`` (how to prompt the tuned model exactly as it was
trained), ``metrics.json``, ``events.jsonl`` (one JSON object per line) and, on request,
``merged/``. The settings are ``core.train_config.TrainConfig``; the model and the
estimate before a start are in ``core.train_model``.

Choices measured on 2-core CPUs (see ../shared/MEASURED.md): fp32 weights, with bf16
autocast where this processor computes bf16 faster (``core.precision`` measures it; bf16
weights are a trap for training, and on AVX2-only processors bf16 arithmetic is ~35x
slower than fp32), dynamic padding, loss on the completion tokens only, and the LM head
applied to those positions only (Gemma's 262k-word head costs more than the rest of the
model).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import LabError
from core.paths import write_json
from core.train_config import (TrainConfig, lr_factor, many_passes_warning, schedule_summary,
                               warmup_steps)
from core.threads import SharedCores
from core.train_model import (build_model, check_max_length, load_base, load_tokenizer,
                              resolve_device, step_seconds, training_precision)
from core.training_data import PromptFormat, prepare_data


# -- training loop pieces ----------------------------------------------------------


class Collator:
    """Left-pads a batch (dynamic padding), with position ids; counts the tokens it saw and
    the padding it added (work spent on no example: ``group_by_length`` cuts it).

    Left padding puts every completion at the end of its row, so the LM head only
    needs the last few positions (``logits_to_keep``).
    """

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id
        self.tokens_seen = 0
        self.padding_seen = 0

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        width = max(len(e["input_ids"]) for e in batch)
        ids, labels, mask = [], [], []
        for e in batch:
            pad = width - len(e["input_ids"])
            ids.append([self.pad_id] * pad + e["input_ids"])
            labels.append([-100] * pad + e["labels"])
            mask.append([0] * pad + [1] * len(e["input_ids"]))
            self.tokens_seen += len(e["input_ids"])
            self.padding_seen += pad
        mask_t = torch.tensor(mask)
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "attention_mask": mask_t,
                "position_ids": (mask_t.cumsum(-1) - 1).clamp(min=0)}


def completion_loss(model, inputs: dict, num_items: int | None = None,
                    prompt_tuning: bool = False):
    """Cross-entropy on the completion tokens only, with the LM head on their positions."""
    import torch

    labels = inputs["labels"]
    width = labels.shape[1]
    has_label = (labels != -100).any(0).nonzero()
    keep = width - int(has_label[0]) + 1 if len(has_label) else 1
    kwargs = {k: v for k, v in inputs.items() if k != "labels"}
    if prompt_tuning:  # PEFT prepends virtual tokens and ignores position ids
        kwargs.pop("position_ids", None)
    # the logit at position t predicts the token at t + 1, so the last position predicts
    # nothing: the head skips it (positions as indices), except under prompt tuning, whose
    # virtual tokens shift every index (it takes the last ``keep`` and drops one)
    exact = keep > 1 and not prompt_tuning
    positions = torch.arange(width - keep, width - 1, device=labels.device) if exact else keep
    logits = model(**kwargs, logits_to_keep=positions).logits
    logits = logits if exact else logits[:, :-1]
    targets = labels[:, width - keep + 1:]
    loss = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
        ignore_index=-100, reduction="sum")
    count = num_items if num_items else (targets != -100).sum().clamp(min=1)
    return loss / count


def _trainer_class():
    from transformers import Trainer

    class CompletionTrainer(Trainer):
        """Trainer whose loss is ``completion_loss`` (head on completion positions only)."""

        prompt_tuning = False
        run_config: TrainConfig | None = None  # the run's: its schedule and warm-up

        def create_scheduler(self, num_training_steps, optimizer=None):
            """The run's schedule with a warm-up whose first step learns (``lr_factor``)."""
            if self.lr_scheduler is None and self.run_config is not None:
                from functools import partial

                import torch

                warmup = warmup_steps(self.run_config, num_training_steps)
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                    optimizer or self.optimizer,
                    partial(lr_factor, warmup=warmup, total=num_training_steps,
                            scheduler=self.run_config.scheduler))
                self._created_lr_scheduler = True
            return super().create_scheduler(num_training_steps, optimizer)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if num_items_in_batch is not None and hasattr(num_items_in_batch, "to"):
                num_items_in_batch = num_items_in_batch.to(inputs["labels"].device)
            loss = completion_loss(model, inputs, num_items_in_batch, self.prompt_tuning)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                # num_items_in_batch counts every process's tokens and DDP averages the
                # gradients over processes: scale back up, as Trainer.compute_loss does
                loss = loss * self.accelerator.num_processes
            return (loss, {"loss": loss}) if return_outputs else loss

    return CompletionTrainer


class EventLog:
    """Appends JSON lines to ``events.jsonl`` (and prints a progress line)."""

    def __init__(self, run_dir: Path, echo: bool = True, enabled: bool = True) -> None:
        self.path = run_dir / "events.jsonl"
        self.echo = echo
        self.enabled = enabled

    def write(self, kind: str, **fields: Any) -> None:
        if not self.enabled:
            return
        event = {"type": kind, "time": round(time.time(), 3), **fields}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")
        if self.echo:
            print(format_event(event), flush=True)


def format_event(event: dict) -> str:
    """One human line for an event, as the CLI prints it."""
    kind = event.get("type")
    if kind == "step":
        parts = [f"step {event['step']}/{event['total_steps']}"]
        for key, fmt in (("loss", "loss {:.4f}"), ("learning_rate", "lr {:.2e}"),
                         ("tokens_per_s", "{:.0f} tok/s"), ("eta_s", "eta {:.0f} s")):
            if event.get(key) is not None:
                parts.append(fmt.format(event[key]))
        parts.append(f"rss {event.get('rss_bytes', 0) / 2**30:.2f} GB")
        return " · ".join(parts)
    if kind == "eval":
        return f"step {event['step']}: eval_loss {event['eval_loss']:.4f}"
    if kind == "schedule" and event.get("summary"):
        return f"schedule: {event['summary']}"
    if kind == "start" and event.get("precision"):
        step = event.get("estimated_step_s")
        return (f"start: {event.get('examples')} training examples on {event.get('device')}, "
                f"threads {event.get('threads')}, number format {event['precision_reason']}"
                + (f"; estimated {step:.2f} s a step" if step else ""))
    rest = {k: v for k, v in event.items() if k not in ("type", "time")}
    return f"[{kind}] {json.dumps(rest)}"


def rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _progress_callback(log: EventLog, run_dir: Path, collator: Collator,
                       cores: SharedCores | None = None, config: TrainConfig | None = None):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """Writes a step event per log, an eval event per evaluation; stops on a cancel file;
        with ``cores`` (threads auto), sets the thread count before every step."""

        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.first_step: int | None = None
            self.cancelled = False

        def on_train_begin(self, args, state, control, **kwargs):
            self.started, self.first_step = time.perf_counter(), state.global_step
            if config is not None:  # the steps are known now: say the schedule over them
                log.write("schedule", scheduler=config.scheduler, total_steps=state.max_steps,
                          warmup_steps=warmup_steps(config, state.max_steps),
                          learning_rate=config.lr,
                          summary=schedule_summary(config, state.max_steps))

        def on_step_begin(self, args, state, control, **kwargs):
            if cores is not None:
                cores.update()

        def on_step_end(self, args, state, control, **kwargs):
            # a cancel that arrives with the last step done stops nothing: the run finished
            last = state.global_step >= state.max_steps
            if agreed(args, (run_dir / "cancel").exists() and not last):
                self.cancelled = True
                control.should_training_stop = True
                control.should_save = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "eval_loss" in logs:
                log.write("eval", step=state.global_step, eval_loss=logs["eval_loss"])
                return
            if "loss" not in logs:
                return
            elapsed = time.perf_counter() - self.started
            # every process sees batches like rank 0's: its count times the processes
            tokens = collator.tokens_seen * world_size()
            done = max(state.global_step - (self.first_step or 0), 1)
            log.write("step", step=state.global_step, total_steps=state.max_steps,
                      epoch=round(state.epoch or 0.0, 4), loss=logs.get("loss"),
                      learning_rate=logs.get("learning_rate"),
                      tokens_per_s=round(tokens / elapsed, 1) if elapsed else None,
                      rss_bytes=rss_bytes(), elapsed_s=round(elapsed, 2),
                      threads=cores.threads if cores is not None else None,
                      eta_s=round(elapsed / done * (state.max_steps - state.global_step), 1))

    return Progress()


# -- the run ------------------------------------------------------------------------


def set_threads(threads: int) -> SharedCores | None:
    """Training threads: ``threads``, or (0, auto) a ``SharedCores`` that gives the run every
    core while the machine is otherwise idle and one while something else is busy."""
    import torch

    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process
        pass
    if threads:
        torch.set_num_threads(threads)
        return None
    cores = SharedCores(max(1, (os.cpu_count() or 1) // world_size()))
    cores.update()
    return cores


def is_main_process() -> bool:
    """Rank 0 (or no distributed launch): the one process that writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    """How many processes train together (``accelerate launch``/torchrun set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def agreed(args, flag: bool) -> bool:
    """Rank 0's ``flag``, the same on every process: a cancel seen by one rank a step before
    the others would leave them waiting in the gradient all-reduce for ever."""
    import torch
    import torch.distributed as dist

    if world_size() == 1 or not dist.is_initialized():
        return flag
    value = torch.tensor([int(flag)], device=args.device)
    dist.broadcast(value, src=0)
    return bool(value.item())


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete ``checkpoints/checkpoint-N`` folder of a run, if any.

    A kill while a checkpoint is written leaves a folder without ``trainer_state.json``
    (transformers writes it last): resuming from that one would fail every time, so the
    newest folder that has it is the one to resume from.
    """
    found = sorted((run_dir / "checkpoints").glob("checkpoint-*"),
                   key=lambda p: int(p.name.rsplit("-", 1)[-1]) if p.name.rsplit("-", 1)[-1].isdigit() else -1)
    complete = [p for p in found if (p / "trainer_state.json").is_file()]
    return complete[-1] if complete else None


def _training_args(config: TrainConfig, run_dir: Path, device: str, precision: str):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"), num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr, lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_ratio, seed=config.seed, logging_steps=1,
        eval_strategy="steps" if config.eval_steps else "no", eval_steps=config.eval_steps or None,
        save_strategy="steps" if config.save_steps else "no", save_steps=config.save_steps or 500,
        save_total_limit=2, bf16=precision == "bfloat16", fp16=precision == "float16",
        use_cpu=device == "cpu", report_to="none",
        disable_tqdm=True, remove_unused_columns=False, prediction_loss_only=True,
        label_names=["labels"], dataloader_num_workers=0, optim="adamw_torch",
        train_sampling_strategy="group_by_length" if config.group_by_length else "random")


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False,
          echo: bool = True) -> dict:
    """Fine-tune as ``config`` says; write the outputs into ``run_dir``; return the metrics.

    Raises LabError for anything a person can fix. A ``cancel`` file in ``run_dir``
    stops training after the current step; the adapter is still saved and the
    returned metrics say ``cancelled: true``.
    """
    import torch
    from transformers import PrinterCallback

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    main = is_main_process()
    log = EventLog(run_dir, echo=echo and main, enabled=main)
    cores = set_threads(config.threads)
    device = resolve_device(config)
    precision, precision_why = training_precision(config, device)
    started = time.perf_counter()
    check_max_length(config)
    tokenizer = load_tokenizer(config)
    data = prepare_data(config, tokenizer)
    for warning in data.warnings:
        log.write("warning", message=warning)
    many = many_passes_warning(config, len(data.train))
    if many:
        log.write("warning", message=many)
    checkpoint = last_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise LabError("There is no checkpoint to resume from in this run.",
                       "Start the run again, with save_steps above 0 to keep checkpoints.")
    torch.manual_seed(config.seed)
    model = build_model(config, device, precision)
    threads = cores.cores if cores is not None else config.threads
    log.write("start", examples=len(data.train), validation=len(data.validation),
              train_tokens=data.train_tokens, cut=data.cut, device=device,
              precision=precision, precision_reason=precision_why,
              threads="auto" if cores is not None else config.threads,
              estimated_step_s=step_seconds(config, data, precision, device, threads),
              raw_step_s=step_seconds(config, data, precision, device, threads, calibrated=False),
              trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
              resumed_from=checkpoint.name if checkpoint else None,
              load_s=round(time.perf_counter() - started, 2))
    collator = Collator(tokenizer.pad_token_id)
    progress = _progress_callback(log, run_dir, collator, cores, config)
    trainer = _trainer_class()(model=model,
                               args=_training_args(config, run_dir, device, precision),
                               train_dataset=data.train,
                               eval_dataset=data.validation or None,
                               data_collator=collator, callbacks=[progress])
    trainer.prompt_tuning = config.method == "prompt-tuning"
    trainer.run_config = config
    trainer.remove_callback(PrinterCallback)  # our events print their own lines
    train_started, cpu_started = time.perf_counter(), time.process_time()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    train_seconds = time.perf_counter() - train_started
    # processor seconds this process spent training: on a shared machine the wall time
    # carries the neighbours' load too, this figure much less of it
    cpu_seconds = time.process_time() - cpu_started
    metrics = {"cancelled": progress.cancelled, "steps": trainer.state.global_step,
               "train_loss": result.training_loss, "train_seconds": round(train_seconds, 2),
               "train_cpu_seconds": round(cpu_seconds, 2),
               "tokens_seen": collator.tokens_seen, "padding_seen": collator.padding_seen,
               "examples_cut": data.cut,
               "peak_rss_bytes": peak_rss_bytes(), "method": config.method,
               "precision": precision, "precision_reason": precision_why}
    scored = not progress.cancelled and bool(data.prompt_format.labels and data.eval_rows)
    if not progress.cancelled and data.validation and not scored:
        metrics["eval_loss"] = trainer.evaluate()["eval_loss"]
    state_dict = gathered_state_dict(trainer)  # collective: every process takes part
    if main:
        out = save_outputs(trainer.model, tokenizer, config, data.prompt_format, run_dir,
                           state_dict)
        metrics["output_dir"] = out.name
    if scored:
        # every process scores: under FSDP or ZeRO-3 a forward pass gathers the weights from
        # all of them, so a rank-0-only pass would wait for the others for ever. The same
        # pass gives the validation loss: no second pass over the validation rows
        metrics["accuracy"], loss = label_scores(trainer.model, tokenizer, data.eval_rows,
                                                 data.prompt_format.labels,
                                                 autocast=scoring_autocast(config, device))
        if loss is None and data.validation:
            loss = trainer.evaluate()["eval_loss"]
        elif loss is not None:
            log.write("eval", step=trainer.state.global_step, eval_loss=loss)
        if loss is not None:
            metrics["eval_loss"] = loss
    if main:
        if config.merge_after and not progress.cancelled:
            merge_adapter(config, run_dir)
        metrics["total_seconds"] = round(time.perf_counter() - started, 2)
        write_json(run_dir / "metrics.json", metrics)
        log.write("end", **{k: v for k, v in metrics.items() if k != "method"})
    return metrics


def gathered_state_dict(trainer) -> dict | None:
    """The whole model's weights where FSDP or DeepSpeed shard them over the processes
    (a collective call: every rank makes it); None where each process holds them whole."""
    from accelerate.utils import DistributedType

    kind = trainer.accelerator.distributed_type
    if kind == DistributedType.FSDP:
        return trainer.accelerator.get_state_dict(trainer.model)
    if kind == DistributedType.DEEPSPEED:
        return trainer.accelerator.get_state_dict(trainer.deepspeed)
    return None


def save_outputs(model, tokenizer, config: TrainConfig, fmt: PromptFormat, run_dir: Path,
                 state_dict: dict | None = None) -> Path:
    """adapter/ (PEFT) or model/ (full), and template.json; returns the model folder."""
    if config.method == "full":
        out = run_dir / "model"
        model.save_pretrained(out, safe_serialization=True, state_dict=state_dict)
        tokenizer.save_pretrained(out)
    else:
        out = run_dir / "adapter"
        model.peft_config["default"].base_model_name_or_path = config.model
        model.save_pretrained(out, safe_serialization=True, state_dict=state_dict)
    write_json(run_dir / "template.json", fmt.to_dict())
    return out


def merge_adapter(config: TrainConfig, run_dir: Path) -> Path:
    """merged/: the adapter folded into a fresh fp32 copy of the base (QLoRA too)."""
    from peft import PeftModel

    base = load_base(replace(config, method="lora"), "cpu")
    merged = PeftModel.from_pretrained(base, run_dir / "adapter").merge_and_unload()
    merged.save_pretrained(run_dir / "merged", safe_serialization=True)
    load_tokenizer(config).save_pretrained(run_dir / "merged")
    return run_dir / "merged"


def _is_prompt_learning(model) -> bool:
    config = getattr(model, "active_peft_config", None)
    return bool(config is not None and config.is_prompt_learning)


def scoring_autocast(config: TrainConfig, device: str) -> str | None:
    """The autocast format for scoring the tuned model (prompt processing): the run's own
    format where the user set one, else the one measured fastest for prompt processing."""
    from core.precision import choose_format

    if config.method == "qlora" and device == "cpu":
        return None  # bitsandbytes' CPU layers compute in float32
    fmt = choose_format(config.precision, "prefill", device)[0]
    return None if fmt == "float32" else fmt


def label_accuracy(model, tokenizer, rows: list[tuple[str, str]], labels: tuple[str, ...],
                   batch_size: int = 16, autocast: str | None = None) -> float:
    """Share of ``rows`` whose answer is the label of highest log-likelihood after the prompt
    (under ``autocast`` in that format over the float32 weights, where given)."""
    return label_scores(model, tokenizer, rows, labels, batch_size, autocast)[0]


def label_scores(model, tokenizer, rows: list[tuple[str, str]], labels: tuple[str, ...],
                 batch_size: int = 16, autocast: str | None = None) -> tuple[float, float | None]:
    """(accuracy, loss) on ``rows``: accuracy by the label of highest log-likelihood after the
    prompt; loss the mean cross-entropy per token of each row's own answer and the end of text
    after it (the completion the run trained on: the validation loss), None where no answer
    is one of the labels.

    Each prompt runs through the model once and every label's tokens then run on a copy of
    its cache, all labels in one forward: about a third of the work of a forward per label
    (prompt-tuned models, whose virtual tokens do not fit a cache, take that slower way and
    give no loss)."""
    import torch

    cands = [tokenizer(" " + label, add_special_tokens=False)["input_ids"] for label in labels]
    prompts = [tokenizer(p)["input_ids"] for p, _ in rows]
    model.eval()
    device = next(model.parameters()).device
    mixed = torch.autocast(device.type, dtype=getattr(torch, autocast or "float32"),
                           enabled=autocast is not None)
    score = _whole_sequence_scores if _is_prompt_learning(model) else _cached_scores
    scores, ends = [], []
    with torch.inference_mode(), mixed:
        for start in range(0, len(prompts), batch_size):
            batch = Collator(tokenizer.pad_token_id)(
                [{"input_ids": s, "labels": s} for s in prompts[start:start + batch_size]])
            batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
            chunk_scores, chunk_ends = score(model, batch, cands, tokenizer)
            scores += chunk_scores
            ends += chunk_ends
    right, nll, tokens = 0, 0.0, 0
    for (_, answer), row, end in zip(rows, scores, ends):
        right += labels[row.index(max(row))].strip().lower() == answer.strip().lower()
        named = [i for i, label in enumerate(labels)
                 if label.strip().lower() == answer.strip().lower()]
        if named and end is not None:
            nll -= row[named[0]] + end[named[0]]
            tokens += len(cands[named[0]]) + 1
    return round(right / len(rows), 4), (nll / tokens if tokens else None)


def _cached_scores(model, batch: dict, cands: list[list[int]],
                   tokenizer) -> tuple[list[list[float]], list[list[float]]]:
    """Per prompt of the left-padded ``batch``: each candidate's log-likelihood, and that of
    the end of text after it, from one pass over the prompts and one over all candidates on
    their cache (repeated once per candidate)."""
    import torch

    eos = tokenizer.eos_token_id
    out = model(**batch, use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1].float(), -1)
    rows, n, width = first.shape[0], len(cands), max(map(len, cands))
    cache = out.past_key_values
    if cache is None:  # a model that keeps no cache: one whole sequence per label
        return _whole_sequence_scores(model, batch, cands, tokenizer)
    cache.batch_repeat_interleave(n)  # row b * n + j: prompt b, candidate j
    ids = torch.tensor([c + [eos] * (width - len(c)) for c in cands]).repeat(rows, 1)
    mask = batch["attention_mask"].repeat_interleave(n, 0)
    start = batch["position_ids"][:, -1:].repeat_interleave(n, 0) + 1
    logits = model(input_ids=ids.to(first.device),
                   attention_mask=torch.cat([mask, torch.ones_like(ids, device=mask.device)], 1),
                   position_ids=start + torch.arange(width, device=start.device),
                   past_key_values=cache, use_cache=True, logits_to_keep=width).logits
    logp = torch.log_softmax(logits.float(), -1).view(rows, n, width, -1)
    scores, ends = [], []
    for b in range(rows):
        scores.append([first[b, c[0]].item() + sum(logp[b, j, i - 1, c[i]].item()
                                                    for i in range(1, len(c)))
                       for j, c in enumerate(cands)])
        ends.append([logp[b, j, len(c) - 1, eos].item() for j, c in enumerate(cands)])
    return scores, ends


def _whole_sequence_scores(model, batch: dict, cands: list[list[int]],
                           tokenizer) -> tuple[list[list[float]], list[None]]:
    """Each candidate's log-likelihood after each prompt of ``batch``, one whole sequence per
    prompt and candidate (for prompt-tuned models, whose virtual tokens come first, and models
    without a cache); no end-of-text figures."""
    import torch

    prompts = [ids[mask.bool()].tolist()
               for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]
    seqs = [p + c for p in prompts for c in cands]
    keep = max(map(len, cands)) + 1
    whole = Collator(tokenizer.pad_token_id)([{"input_ids": s, "labels": s} for s in seqs])
    device = batch["input_ids"].device
    names = ("input_ids", "attention_mask") if _is_prompt_learning(model) else \
        ("input_ids", "attention_mask", "position_ids")  # PEFT drops prompt tuning's positions
    inputs = {k: whole[k].to(device) for k in names}
    logp = torch.log_softmax(model(**inputs, logits_to_keep=keep).logits.float(), -1)
    flat = [sum(logp[i, keep - len(c) - 1 + j, tok].item() for j, tok in enumerate(c))
            for i, c in enumerate(cands * len(prompts))]
    return [flat[k:k + len(cands)] for k in range(0, len(flat), len(cands))], \
        [None] * len(prompts)
