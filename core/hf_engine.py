"""The transformers engine: generation, streaming, batches and label scoring.

It serves any Hugging Face causal LM, on CPU or GPU, and is the engine that
training uses. It holds a loaded model and never changes it, so one engine can
be shared by every page and session of the app.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import torch
from transformers import (LogitsProcessorList, StoppingCriteria, StoppingCriteriaList,
                          TextIteratorStreamer)
from transformers.generation.streamers import BaseStreamer

from core.chat import Message, chat_prompt, chat_stops
from core.config import GenerationParams, ModelSpec
from core.errors import ConfigError
from core.generation import (CandidateScore, Completion, StopFilter, TokenStream, call_seed,
                             check_prompt, cut_at_stop, grammar_error, normalise)
from core.models import ModelInfo, load_transformers


class _StopCriteria(StoppingCriteria):
    """Ends a sequence at a stop string, or every sequence when the run is cancelled.

    ``stopped_at`` keeps, per row, how many tokens it had generated when its stop
    string appeared: after that the batch pads the row, and the padding must not
    count as generated.
    """

    def __init__(self, tokenizer, prompt_len: int, stops: tuple[str, ...],
                 cancel: threading.Event | None) -> None:
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.stops = stops
        self.cancel = cancel
        # every token holds at least one byte of text, so a stop string of n UTF-8 bytes spans
        # at most n tokens (plus a partial one at each end); counting characters would miss
        # "→→", two characters but six byte-level tokens
        self.window = max((len(s.encode("utf-8")) for s in stops), default=0) + 2
        self.stopped_at: dict[int, int] = {}

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        if self.cancel is not None and self.cancel.is_set():
            return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        done = [row in self.stopped_at for row in range(input_ids.shape[0])]
        for row, ids in enumerate(input_ids):
            if self.stops and not done[row]:
                tail = self.tokenizer.decode(ids[self.prompt_len:][-self.window:],
                                             skip_special_tokens=True)
                if any(s in tail for s in self.stops):
                    done[row] = True
                    self.stopped_at[row] = len(ids) - self.prompt_len
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _FirstTokenClock(BaseStreamer):
    """Notes when the first new token arrives: generate() hands a streamer the prompt first,
    then the new tokens, so the second call marks the end of prompt processing."""

    def __init__(self) -> None:
        self.calls = 0
        self.first_token_at: float | None = None

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first_token_at = time.perf_counter()

    def end(self) -> None:
        pass


class _TimedTextStreamer(TextIteratorStreamer):
    """A text streamer that also notes when the first new token arrives (its text may come
    later: the streamer holds text back until a word ends)."""

    first_token_at: float | None = None

    def put(self, value) -> None:
        if not self.next_tokens_are_prompt and self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        super().put(value)


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
    def load(cls, spec: ModelSpec, threads: int | None = None,
             work: str = "generate") -> TransformersEngine:
        """Load the model of ``spec`` (see ``core.models``; ``work`` decides dtype ``auto``)
        and wrap it."""
        return cls(*load_transformers(spec, threads, work))

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
        self._grammar(params.json_schema)  # a schema that cannot compile fails before any work
        seed = call_seed(params)
        clock = _FirstTokenClock()
        started = time.perf_counter()
        output, stopped_at = self._generate(batch, params, seed, streamer=clock)
        latency = time.perf_counter() - started
        ttft = clock.first_token_at - started if clock.first_token_at else None
        new = output[:, batch["input_ids"].shape[1]:]
        return [dataclasses.replace(self._completion(ids, int(length), params, latency,
                                                     stopped_at.get(row), seed=seed),
                                    time_to_first_token_s=ttft)
                for row, (ids, length) in enumerate(zip(new, lengths))]

    def stream(self, prompt: str, params: GenerationParams = GenerationParams()) -> TokenStream:
        """Complete one prompt, yielding text as it is generated."""
        batch = self.tokenizer([prompt], return_tensors="pt").to(self.device)
        prompt_tokens = int(batch["input_ids"].shape[1])
        check_prompt(prompt, prompt_tokens, params, self.info)
        self._grammar(params.json_schema)  # fails here, not later in the worker thread
        seed = call_seed(params)
        cancel = threading.Event()
        streamer = _TimedTextStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        state: dict = {}

        def work() -> None:
            try:
                state["output"] = self._generate(batch, params, seed, streamer=streamer,
                                                 cancel=cancel)
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
                return Completion("", prompt_tokens, 0, 0.0, "cancelled", self.name,
                                  self.info.source, seed=seed)
            cancel.set()
            state["thread"].join()
            if "error" in state:
                raise state["error"]
            output, stopped_at = state["output"]
            latency = time.perf_counter() - state["started"]
            done = self._completion(output[0, prompt_tokens:], prompt_tokens, params, latency,
                                    stopped_at.get(0), cancelled, seed)
            # the first token's time, not the first shown text's (held back until a word ends)
            first = streamer.first_token_at or first_at
            ttft = first - state["started"] if first else None
            return dataclasses.replace(done, text=text, time_to_first_token_s=ttft)

        return TokenStream(chunks(), cancel, finish)

    def _generate(self, batch, params: GenerationParams, seed: int | None, streamer=None,
                  cancel: threading.Event | None = None) -> tuple[torch.Tensor, dict[int, int]]:
        """The output ids, and for each row that a stop string ended, its generated length."""
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
        criteria = _StopCriteria(self.tokenizer, batch["input_ids"].shape[1], params.stop, cancel)
        if params.stop or cancel is not None:
            options["stopping_criteria"] = StoppingCriteriaList([criteria])
        with self._lock, torch.inference_mode():
            # seeded under the lock: torch's generator is global, and a request waiting for the
            # lock must not re-seed it under the one that holds it
            if seed is not None:
                torch.manual_seed(seed)
            output = self.model.generate(**batch, streamer=streamer, **options)
        return output, criteria.stopped_at

    def _grammar(self, schema: str | None):
        """xgrammar's compiled grammar for ``schema`` (cached), compact JSON on one line;
        ConfigError where a valid schema uses what xgrammar cannot compile (a lookbehind in
        a pattern, for one)."""
        if not schema:
            return None
        if schema not in self._grammars:
            import xgrammar

            if "tokenizer_info" not in self._grammars:
                self._grammars["tokenizer_info"] = xgrammar.TokenizerInfo.from_huggingface(
                    self.tokenizer, vocab_size=self.model.config.vocab_size)
            compiler = xgrammar.GrammarCompiler(self._grammars["tokenizer_info"])
            try:
                # one line, no free whitespace: a small model otherwise spends its tokens on
                # tabs and newlines (and the prompt's blank-line stop cuts the JSON short)
                self._grammars[schema] = compiler.compile_json_schema(schema, any_whitespace=False)
            except (RuntimeError, ValueError, TypeError) as exc:
                raise grammar_error(schema, exc, self.name) from exc
        return self._grammars[schema]

    def _json_processor(self, schema: str):
        """A fresh xgrammar logits processor that only lets JSON valid under ``schema`` through."""
        import xgrammar

        return xgrammar.contrib.hf.LogitsProcessor(self._grammar(schema))

    def _completion(self, new_ids: torch.Tensor, prompt_tokens: int, params: GenerationParams,
                    latency: float, stopped_at: int | None = None, cancelled: bool = False,
                    seed: int | None = None) -> Completion:
        """One row's answer and figures. ``stopped_at``: where a stop string ended the row;
        ``cancelled``: the consumer stopped the stream."""
        ids, ended_by_eos = self._answer_ids(new_ids.tolist(), stopped_at)
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        text, hit_stop = cut_at_stop(text, params.stop)
        if hit_stop or ended_by_eos or stopped_at is not None:
            reason = "stop"
        elif cancelled:
            reason = "cancelled"
        else:
            reason = "length"
        return Completion(text, prompt_tokens, len(ids), latency, reason, self.name,
                          self.info.source, seed=seed)

    def _answer_ids(self, ids: list[int], stopped_at: int | None) -> tuple[list[int], bool]:
        """The tokens a row generated, its end token included, without the padding that follows
        where the row ended before the batch did; and whether an end token ended it.

        Where pad == eos (models without a pad token) padding looks like end tokens, so the
        row ends at its first end token or where its stop string appeared, whichever is first.
        """
        eos = self._eos_ids()
        end = next((i + 1 for i, token in enumerate(ids) if token in eos), None)
        if stopped_at is not None and (end is None or stopped_at < end):
            return ids[:stopped_at], False
        if end is not None:
            return ids[:end], True
        return ids, False

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
