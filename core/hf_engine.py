"""The transformers engine: generation, streaming, batches and label scoring.

It serves any Hugging Face causal LM, on CPU or GPU, and is the engine that
training uses. It holds a loaded model and never changes it, so one engine can
be shared by every page and session of the app.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import torch
from transformers import (LogitsProcessorList, StoppingCriteria, StoppingCriteriaList,
                          TextIteratorStreamer)

from core.chat import Message, chat_prompt, chat_stops
from core.config import GenerationParams, ModelSpec
from core.errors import ConfigError
from core.generation import (CandidateScore, Completion, StopFilter, TokenStream, check_prompt,
                             cut_at_stop, normalise)
from core.models import ModelInfo, load_transformers


class _StopCriteria(StoppingCriteria):
    """Ends a sequence at a stop string, or every sequence when the run is cancelled."""

    def __init__(self, tokenizer, prompt_len: int, stops: tuple[str, ...],
                 cancel: threading.Event | None) -> None:
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.stops = stops
        self.cancel = cancel
        # a stop string of n characters spans at most n tokens (plus one partial)
        self.window = max((len(s) for s in stops), default=0) + 2

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        if self.cancel is not None and self.cancel.is_set():
            return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        done = [False] * input_ids.shape[0]
        if self.stops:
            for row, ids in enumerate(input_ids):
                tail = self.tokenizer.decode(ids[self.prompt_len:][-self.window:],
                                             skip_special_tokens=True)
                done[row] = any(s in tail for s in self.stops)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class TransformersEngine:
    """Generation and scoring with a Hugging Face transformers model."""

    name = "transformers"

    def __init__(self, model, tokenizer, info: ModelInfo) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        # one generation at a time per model: two at once on 2 CPU cores each ask for
        # every core and both run several times slower (see MEASURED.md)
        self._lock = threading.Lock()
        self._grammars: dict[str, object] = {}  # compiled JSON Schemas, by schema text

    @classmethod
    def load(cls, spec: ModelSpec, threads: int | None = None) -> TransformersEngine:
        """Load the model of ``spec`` (see ``core.models``) and wrap it."""
        return cls(*load_transformers(spec, threads))

    @property
    def device(self) -> torch.device:
        return self.model.device

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text``, special tokens (BOS) included."""
        return len(self.tokenizer(text)["input_ids"])

    def chat_prompt(self, messages: list[Message]) -> str:
        """The conversation as text: the model's chat template, or the plain turn format."""
        return chat_prompt(self.tokenizer, messages)

    def chat_stops(self) -> tuple[str, ...]:
        """Stop sequences that end an answer in the format of ``chat_prompt``."""
        return chat_stops(self.tokenizer)

    # -- generation -------------------------------------------------------

    def generate(self, prompt: str, params: GenerationParams = GenerationParams()) -> Completion:
        """Complete one prompt and return the text with its figures."""
        return self.generate_batch([prompt], params)[0]

    def generate_batch(self, prompts: list[str],
                       params: GenerationParams = GenerationParams()) -> list[Completion]:
        """Complete several prompts in one padded batch (left padding)."""
        if not prompts:
            return []
        batch = self.tokenizer(list(prompts), return_tensors="pt", padding=True,
                               padding_side="left").to(self.device)
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        for prompt, length in zip(prompts, lengths):
            check_prompt(prompt, int(length), params, self.info)
        started = time.perf_counter()
        output = self._generate(batch, params)
        latency = time.perf_counter() - started
        new = output[:, batch["input_ids"].shape[1]:]
        return [self._completion(row, int(length), params, latency)
                for row, length in zip(new, lengths)]

    def stream(self, prompt: str, params: GenerationParams = GenerationParams()) -> TokenStream:
        """Complete one prompt, yielding text as it is generated."""
        batch = self.tokenizer([prompt], return_tensors="pt").to(self.device)
        prompt_tokens = int(batch["input_ids"].shape[1])
        check_prompt(prompt, prompt_tokens, params, self.info)
        cancel = threading.Event()
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        state: dict = {}

        def work() -> None:
            try:
                state["output"] = self._generate(batch, params, streamer=streamer, cancel=cancel)
            except BaseException as exc:  # re-raised in the consumer by finish()
                state["error"] = exc
                streamer.end()

        def chunks() -> Iterator[str]:
            state["started"] = time.perf_counter()
            thread = threading.Thread(target=work, daemon=True)
            state["thread"] = thread
            thread.start()
            stop_filter = StopFilter(params.stop)
            for piece in streamer:
                yield stop_filter.feed(piece)
                if stop_filter.stopped:
                    break
            yield stop_filter.flush()

        def finish(text: str, first_at: float | None, cancelled: bool) -> Completion:
            if "thread" not in state:  # never iterated
                return Completion("", prompt_tokens, 0, 0.0, "cancelled", self.name, self.info.source)
            cancel.set()
            state["thread"].join()
            if "error" in state:
                raise state["error"]
            new = state["output"][0, prompt_tokens:]
            latency = time.perf_counter() - state["started"]
            done = self._completion(new, prompt_tokens, params, latency)
            reason = "cancelled" if cancelled and done.finish_reason == "length" else done.finish_reason
            ttft = first_at - state["started"] if first_at else None
            return Completion(text, prompt_tokens, done.completion_tokens, latency, reason,
                              self.name, self.info.source, ttft)

        return TokenStream(chunks(), cancel, finish)

    def _generate(self, batch, params: GenerationParams, streamer=None,
                  cancel: threading.Event | None = None) -> torch.Tensor:
        if params.seed is not None:
            torch.manual_seed(params.seed)
        options = dict(max_new_tokens=params.max_new_tokens,
                       repetition_penalty=params.repetition_penalty,
                       pad_token_id=self.tokenizer.pad_token_id)
        if params.greedy:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            options.update(do_sample=True, temperature=params.temperature, top_p=params.top_p,
                           top_k=params.top_k)
        if params.json_schema:
            options["logits_processor"] = LogitsProcessorList([self._json_processor(params.json_schema)])
        if params.stop or cancel is not None:
            criteria = _StopCriteria(self.tokenizer, batch["input_ids"].shape[1], params.stop, cancel)
            options["stopping_criteria"] = StoppingCriteriaList([criteria])
        with self._lock, torch.inference_mode():
            return self.model.generate(**batch, streamer=streamer, **options)

    def _json_processor(self, schema: str):
        """A fresh xgrammar logits processor that only lets JSON valid under ``schema`` through."""
        import xgrammar

        if schema not in self._grammars:
            if "tokenizer_info" not in self._grammars:
                self._grammars["tokenizer_info"] = xgrammar.TokenizerInfo.from_huggingface(
                    self.tokenizer, vocab_size=self.model.config.vocab_size)
            compiler = xgrammar.GrammarCompiler(self._grammars["tokenizer_info"])
            self._grammars[schema] = compiler.compile_json_schema(schema)
        return xgrammar.contrib.hf.LogitsProcessor(self._grammars[schema])

    def _completion(self, new_ids: torch.Tensor, prompt_tokens: int, params: GenerationParams,
                    latency: float) -> Completion:
        ids = new_ids.tolist()
        specials = {self.tokenizer.pad_token_id, *self._eos_ids()}
        ended_by_eos = any(t in self._eos_ids() for t in ids)
        while ids and ids[-1] in specials:  # padding after a sequence ended early
            ids.pop()
        if ended_by_eos:
            ids_counted = len(ids) + 1
        else:
            ids_counted = len(ids)
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        text, hit_stop = cut_at_stop(text, params.stop)
        reason = "stop" if hit_stop or ended_by_eos else "length"
        if reason == "length" and ids_counted < params.max_new_tokens:
            reason = "stop"  # the batch stopped this row early on a stop string
        return Completion(text, prompt_tokens, ids_counted, latency, reason, self.name,
                          self.info.source)

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return set(eos if isinstance(eos, list) else [eos])

    # -- scoring ----------------------------------------------------------

    def score_candidates(self, prompt: str, candidates: list[str]) -> list[CandidateScore]:
        """Log-likelihood of each candidate continuation of ``prompt``."""
        return self.score_batch([prompt], candidates)[0]

    def score_batch(self, prompts: list[str], candidates: list[str],
                    batch_size: int = 16) -> list[list[CandidateScore]]:
        """Score the same candidates (labels) after each prompt, in padded batches.

        Candidates are scored as written: a label that follows ``Sentiment:``
        should usually start with a space (" positive").
        """
        if len(candidates) < 2 or any(not isinstance(c, str) or not c for c in candidates):
            raise ConfigError("Scoring needs at least two non-empty candidate answers.",
                              "Give the labels to choose between, e.g. ' positive', ' negative'.")
        cand_ids = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in candidates]
        prompt_ids = [self.tokenizer(p)["input_ids"] for p in prompts]
        for prompt, ids in zip(prompts, prompt_ids):
            check_prompt(prompt, len(ids), GenerationParams(max_new_tokens=max(map(len, cand_ids))),
                         self.info)
        results = []
        for start in range(0, len(prompts), batch_size):
            chunk = prompt_ids[start:start + batch_size]
            if all(len(c) == 1 for c in cand_ids):
                logprobs = self._score_next_token(chunk, [c[0] for c in cand_ids])
            else:
                logprobs = self._score_sequences(chunk, cand_ids)
            results += [normalise(candidates, row, [len(c) for c in cand_ids]) for row in logprobs]
        return results

    def _forward_last(self, sequences: list[list[int]], keep: int) -> torch.Tensor:
        """Log-softmax of the last ``keep`` positions of left-padded sequences."""
        width = max(map(len, sequences))
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=self.device)
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences],
                            device=self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with self._lock, torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                logits_to_keep=keep).logits
        return torch.log_softmax(logits.float(), dim=-1)

    def _score_next_token(self, prompts: list[list[int]], tokens: list[int]) -> list[list[float]]:
        # one token per label: a single forward pass, and only the last position's logits
        # (the 262k-word head on every position would cost more than the model itself)
        logp = self._forward_last(prompts, keep=1)[:, -1, :]
        return logp[:, tokens].tolist()

    def _score_sequences(self, prompts: list[list[int]], cands: list[list[int]]) -> list[list[float]]:
        longest = max(map(len, cands))
        rows = [p + c for p in prompts for c in cands]
        logp = self._forward_last(rows, keep=longest + 1)
        scores = []
        for i, row in enumerate(rows):
            cand = cands[i % len(cands)]
            # position -1 predicts nothing we need; -(k+1) .. -2 predict the k candidate tokens
            picks = [logp[i, -(len(cand) + 1) + j, tok].item() for j, tok in enumerate(cand)]
            scores.append(sum(picks))
        return [scores[i:i + len(cands)] for i in range(0, len(scores), len(cands))]
