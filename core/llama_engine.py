"""The llama.cpp engine: the same GGUF file, three to seven times faster on a CPU.

It serves GGUF models (the embedded ones, or a local ``.gguf`` file) through
llama-cpp-python, with the same interface as ``TransformersEngine``. Sampling
runs in llama.cpp's own samplers; label scoring reads the logits llama.cpp
computed and reuses the KV cache of a shared prompt prefix (few-shot examples),
so scoring many prompts that start alike costs little more than their tails.
"""

from __future__ import annotations

import atexit
import codecs
import ctypes
import os
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.chat import PLAIN_STOP, Message, chat_prompt, plain_chat_prompt
from core.config import GenerationParams, ModelSpec
from core.embedded import converted_dir, embedded_model, gguf_path
from core.errors import ConfigError, ModelError
from core.generation import (CandidateScore, Completion, StopFilter, TokenStream, call_seed,
                             check_prompt, grammar_error, normalise)
from core.models import ModelInfo, configure_threads
from core.paths import cache_dir

# KV cache for the whole 32k window of Gemma would take ~600 MB; 8k covers the lab's tasks.
DEFAULT_CONTEXT = int(os.environ.get("PROMPTTUNE_LLAMA_CONTEXT", "8192"))
# Reusing a cached prompt prefix changes where llama.cpp splits the prompt into batches, and
# so the last bits of its floats: enough to flip a near-tie between two tokens. Generation
# therefore evaluates prompts in blocks aligned at multiples of BLOCK tokens and reuses the
# cache only whole blocks at a time, so that a prompt is computed the same way whatever came
# before it and greedy answers never depend on earlier requests. Scoring starts each call
# from an empty cache and then reuses every shared prefix within the call (each llama.cpp
# call costs a full pass over the weights, so fewer, longer calls are 2-3x faster): a
# call's scores depend only on its prompts and their order.
BLOCK = 64
LLAMA_CPP_VERSION = "0.3.36"  # the version requirements.txt pins


def resolve_gguf(spec: ModelSpec) -> tuple[Path, str, Path | None]:
    """(GGUF file, title, folder with the HF tokenizer for chat templates, if any)."""
    if spec.is_embedded:
        model = embedded_model(spec.embedded_name)
        folder = converted_dir(model.name)
        return gguf_path(model.name), model.title, folder if folder.exists() else None
    path = Path(spec.source).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path, path.name, None
    raise ModelError(f"The llama.cpp engine runs GGUF files; {spec.source!r} is not one.",
                     "Pick an embedded model or a local .gguf file, or choose the transformers "
                     "engine for Hugging Face models.")


class LlamaCppEngine:
    """Generation and scoring with llama.cpp on a GGUF file."""

    name = "llama.cpp"

    def __init__(self, llm, info: ModelInfo, tokenizer_folder: Path | None = None) -> None:
        self.llm = llm
        self.info = info
        self._tokenizer_folder = tokenizer_folder
        self._hf_tokenizer = None
        self._lock = threading.Lock()  # a llama.cpp context serves one request at a time
        self._grammars: dict[str, object] = {}  # GBNF grammars of JSON Schemas, by schema text
        self._blocked_cache = False  # True while the KV cache holds only aligned blocks

    @classmethod
    def load(cls, spec: ModelSpec, threads: int | None = None) -> LlamaCppEngine:
        _import_llama_cpp()
        if spec.device not in ("auto", "cpu"):
            fix = ("Choose device auto or cpu for this GGUF file." if not spec.is_embedded else
                   "Choose the transformers engine for GPUs.")
            raise ModelError(f"The lab's llama.cpp engine runs on the CPU; device {spec.device!r} "
                             "was asked for.", fix)
        started = time.perf_counter()
        path, title, folder = resolve_gguf(spec)
        n_threads = configure_threads(threads or spec.threads)
        lora = None
        if spec.adapter:
            from core.adapters import lora_gguf_for

            lora = lora_gguf_for(spec.adapter, path)
        try:
            llm = _open(path, DEFAULT_CONTEXT, n_threads, lora)
            if llm._model.n_ctx_train() < DEFAULT_CONTEXT:  # never claim more than it was trained on
                llm = _open(path, llm._model.n_ctx_train(), n_threads, lora)
        except (ValueError, RuntimeError, OSError) as exc:
            fix = (f"Delete {path} and load the model again: the lab rebuilds its cache."
                   if path.is_relative_to(cache_dir()) else
                   "Check that the file is a complete GGUF model.")
            raise ModelError(f"llama.cpp could not load {path}: {exc}", fix) from exc
        # free llama.cpp's memory before the interpreter tears its bindings down, which
        # otherwise prints a TypeError from Llama.__del__ at every exit; a weak reference,
        # so that an engine dropped from the app's cache is still freed at once
        atexit.register(_close_at_exit, weakref.ref(llm))
        info = ModelInfo(source=spec.source, title=title, path=str(path), device="cpu",
                         dtype=_quant_name(llm), parameters=int(llm._model.n_params()),
                         context_window=llm.n_ctx(),
                         has_chat_template="tokenizer.chat_template" in llm.metadata,
                         load_seconds=time.perf_counter() - started,
                         weights_bytes=int(llm._model.size()), threads=n_threads,
                         adapter=spec.adapter)
        return cls(llm, info, folder)

    # -- text and tokens --------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text``, BOS included."""
        return len(self.tokenize(text))

    @property
    def tokenizer(self):
        """The Hugging Face tokenizer of the same model, for its chat template (loaded lazily)."""
        if self._hf_tokenizer is None:
            if self._tokenizer_folder is None:
                raise ModelError("This GGUF file has a chat template but no Hugging Face "
                                 "tokenizer beside it to render it.",
                                 "Use the transformers engine, or an embedded model.")
            from transformers import AutoTokenizer

            self._hf_tokenizer = AutoTokenizer.from_pretrained(self._tokenizer_folder)
        return self._hf_tokenizer

    def chat_prompt(self, messages: list[Message]) -> str:
        """The conversation as text: the model's chat template, or the plain turn format."""
        if not self.info.has_chat_template:
            return plain_chat_prompt(messages)
        return chat_prompt(self.tokenizer, messages)

    def chat_stops(self) -> tuple[str, ...]:
        return () if self.info.has_chat_template else (PLAIN_STOP,)

    # -- generation -------------------------------------------------------

    def generate(self, prompt: str, params: GenerationParams = GenerationParams()) -> Completion:
        stream = self.stream(prompt, params)
        for _ in stream:
            pass
        return stream.completion

    def generate_batch(self, prompts: list[str],
                       params: GenerationParams = GenerationParams()) -> list[Completion]:
        """One prompt after another: llama.cpp decodes one sequence at a time here, and
        shared prefixes (few-shot examples) are reused from the KV cache."""
        for prompt in prompts:
            check_prompt(prompt, self.count_tokens(prompt), params, self.info)
        return [self.generate(prompt, params) for prompt in prompts]

    def stream(self, prompt: str, params: GenerationParams = GenerationParams()) -> TokenStream:
        tokens = self.tokenize(prompt)
        check_prompt(prompt, len(tokens), params, self.info)
        grammar = self._grammar(params.json_schema)  # a schema that cannot compile fails here
        seed = call_seed(params)
        cancel = threading.Event()
        state = {"generated": 0, "reason": "length"}

        def chunks() -> Iterator[str]:
            state["started"] = time.perf_counter()
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            stop_filter = StopFilter(params.stop)
            with self._lock:
                if seed is not None:
                    # every call sets it: llama.cpp keeps the last seed, and an unseeded call
                    # after a seeded one would repeat that one's sample
                    self.llm.set_seed(seed)
                self._prefill(tokens, BLOCK)
                sampler = self.llm.generate(tokens, grammar=grammar, **_sampling(params))
                try:
                    for token in sampler:
                        # the first token's time, not the first shown text's: a stop filter
                        # may hold text back, and an end token shows none
                        state.setdefault("first_at", time.perf_counter())
                        if self._is_end(token):
                            state["generated"] += 1
                            state["reason"] = "stop"
                            break
                        state["generated"] += 1
                        yield stop_filter.feed(decoder.decode(self._piece(token)))
                        if stop_filter.stopped:
                            state["reason"] = "stop"
                            break
                        if cancel.is_set():
                            state["reason"] = "cancelled"
                            break
                        if state["generated"] >= params.max_new_tokens:
                            break
                finally:
                    sampler.close()
            yield stop_filter.feed(decoder.decode(b"", final=True)) + stop_filter.flush()

        def finish(text: str, first_at: float | None, cancelled: bool) -> Completion:
            started = state.get("started", time.perf_counter())
            reason = state["reason"]
            if reason == "length" and state["generated"] < params.max_new_tokens:
                reason = "cancelled"  # the consumer stopped reading before the end
            first = state.get("first_at")
            return Completion(text, len(tokens), state["generated"], time.perf_counter() - started,
                              reason, self.name, self.info.source,
                              first - started if first else None, seed)

        return TokenStream(chunks(), cancel, finish)

    def _grammar(self, schema: str | None):
        """llama.cpp's grammar for a JSON Schema (converted to GBNF by llama-cpp-python), parsed
        once by llama.cpp here: a valid schema may still use what the converter refuses (a
        ``pattern`` without ^...$) or write a grammar llama.cpp cannot parse."""
        if not schema:
            return None
        if schema not in self._grammars:
            from llama_cpp import LlamaGrammar

            try:
                grammar = LlamaGrammar.from_string(json_gbnf(schema), verbose=False)
            except (AssertionError, ValueError, KeyError, TypeError, NotImplementedError,
                    RecursionError) as exc:
                raise grammar_error(schema, exc, self.name) from exc
            if not self._grammar_parses(grammar):
                raise grammar_error(schema, ValueError("llama.cpp could not parse the grammar "
                                                       "written for it"), self.name)
            self._grammars[schema] = grammar
        return self._grammars[schema]

    def _grammar_parses(self, grammar) -> bool:
        """Whether llama.cpp accepts ``grammar``: its sampler would otherwise be created as
        NULL in the middle of a generation."""
        import llama_cpp

        sampler = llama_cpp.llama_sampler_init_grammar(
            self.llm._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
        if not sampler:
            return False
        llama_cpp.llama_sampler_free(sampler)
        return True

    def _piece(self, token: int) -> bytes:
        """The bytes of one generated token (see ``token_piece``)."""
        return token_piece(self.llm._model.vocab, token)

    def _is_end(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    # -- scoring ----------------------------------------------------------

    def score_candidates(self, prompt: str, candidates: list[str]) -> list[CandidateScore]:
        return self.score_batch([prompt], candidates)[0]

    def score_batch(self, prompts: list[str], candidates: list[str],
                    batch_size: int = 16) -> list[list[CandidateScore]]:
        """Log-likelihood of each candidate after each prompt (``batch_size`` is ignored:
        llama.cpp scores one prompt at a time and reuses the shared prefix)."""
        if len(candidates) < 2 or any(not isinstance(c, str) or not c for c in candidates):
            raise ConfigError("Scoring needs at least two non-empty candidate answers.",
                              "Give the labels to choose between, e.g. ' positive', ' negative'.")
        cand_ids = [self.llm.tokenize(c.encode("utf-8"), add_bos=False, special=False)
                    for c in candidates]
        longest = max(map(len, cand_ids))
        results = []
        with self._lock:
            self.llm.reset()
            self._blocked_cache = False  # scoring fills the cache in arbitrary splits
            for prompt in prompts:
                ids = self.tokenize(prompt)
                check_prompt(prompt, len(ids), GenerationParams(max_new_tokens=longest), self.info)
                row = [self._sequence_logprob(ids, cand) for cand in cand_ids]
                results.append(normalise(candidates, row, [len(c) for c in cand_ids]))
        return results

    def _sequence_logprob(self, prompt_ids: list[int], cand: list[int]) -> float:
        total = 0.0
        logp = self._eval_to(prompt_ids)
        for j, token in enumerate(cand):
            total += float(logp[token])
            if j + 1 < len(cand):
                logp = self._eval_to(prompt_ids + cand[:j + 1])
        return total

    def _common_prefix(self, ids: list[int]) -> int:
        llm = self.llm
        same = 0
        for a, b in zip(llm.input_ids[:llm.n_tokens].tolist(), ids):
            if a != b:
                break
            same += 1
        return same

    def _prefill(self, ids: list[int], block: int) -> None:
        """Bring the KV cache to ``ids[:-1]``, reusing whole cached blocks of ``block`` tokens
        and evaluating the rest in blocks aligned the same way (see BLOCK)."""
        llm = self.llm
        if not self._blocked_cache:
            llm.n_tokens = 0  # what scoring left behind was not computed block by block
        llm.n_tokens = min(self._common_prefix(ids), len(ids) - 1) // block * block
        self._blocked_cache = True
        while llm.n_tokens < len(ids) - 1:
            end = min((llm.n_tokens // block + 1) * block, len(ids) - 1)
            llm.eval(ids[llm.n_tokens:end])  # eval() first drops the cache beyond n_tokens

    def _eval_to(self, ids: list[int]) -> np.ndarray:
        """Log-softmax of the next-token logits after ``ids``, reusing any cached prefix and
        evaluating the rest in one llama.cpp call."""
        llm = self.llm
        llm.n_tokens = min(self._common_prefix(ids), len(ids) - 1)  # at least one fresh token
        llm.eval(ids[llm.n_tokens:])
        logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))
        logits = logits.astype(np.float64)
        top = logits.max()
        return logits - top - np.log(np.exp(logits - top).sum())


STRING_CHAR_RULE = 'char ::= [^"\\\\]'
JSON_STRING_CHAR_RULE = 'char ::= [^"\\\\\\x7F\\x00-\\x1F]'


def json_gbnf(schema: str) -> str:
    """GBNF for a JSON Schema, with string characters as JSON allows them.

    llama-cpp-python 0.3's converter lets a string hold raw control characters
    (newlines, tabs), which JSON forbids: a small model then writes a newline
    inside a title, and the "constrained" answer does not parse. llama.cpp's own
    converter excludes them; do the same.
    """
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = json_schema_to_gbnf(schema)
    return "\n".join(JSON_STRING_CHAR_RULE + line[len(STRING_CHAR_RULE):]
                     if line.startswith(STRING_CHAR_RULE) else line for line in grammar.splitlines())


def token_piece(vocab, token: int) -> bytes:
    """The text bytes of one token, however long.

    llama-cpp-python's ``detokenize`` reads pieces through a 32-byte buffer and
    garbles longer ones (runs of spaces, long code or markup tokens). llama.cpp
    returns minus the size it needs when the buffer is too small: ask again with that.
    """
    import llama_cpp

    size = 32
    for _ in range(2):
        buffer = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_token_to_piece(vocab, llama_cpp.llama_token(token), buffer, size, 0,
                                           False)
        if n >= 0:
            return buffer.raw[:n]
        size = -n
    raise ModelError(f"llama.cpp could not give the text of token {token}.",
                     "Report this with the model file; the transformers engine can serve it meanwhile.")


def _import_llama_cpp() -> None:
    """Import the bindings, or say how to install them: a missing package, or a build whose
    shared library does not load, must not end as a traceback."""
    try:
        import llama_cpp  # noqa: F401
    except (ImportError, OSError, RuntimeError) as exc:
        raise ModelError(f"llama-cpp-python cannot be imported ({type(exc).__name__}: {exc}), so "
                         "the llama.cpp engine, which runs GGUF files, is not available.",
                         f"Run `pip install llama-cpp-python=={LLAMA_CPP_VERSION}` (it compiles "
                         "llama.cpp, about 5 minutes) or ./lab.sh setup; for a model that is not "
                         "a .gguf file, choose the transformers engine.") from exc


def _close_at_exit(ref: weakref.ref) -> None:
    llm = ref()
    if llm is not None:
        llm.close()


def _open(path: Path, n_ctx: int, threads: int, lora: Path | None = None):
    from llama_cpp import Llama

    # the repetition penalty looks back over the whole window, as transformers' does
    return Llama(str(path), n_ctx=n_ctx, n_batch=512, n_threads=threads, n_threads_batch=threads,
                 last_n_tokens_size=n_ctx, lora_path=str(lora) if lora else None, verbose=False)


def _sampling(params: GenerationParams) -> dict:
    """llama.cpp sampler settings equal to the lab's (its own defaults differ: top-k 40,
    top-p 0.95, min-p 0.05)."""
    return {"temp": params.temperature, "top_k": params.top_k, "top_p": params.top_p,
            "min_p": 0.0, "typical_p": 1.0, "repeat_penalty": params.repetition_penalty}


def _quant_name(llm) -> str:
    from gguf import LlamaFileType

    try:
        return LlamaFileType(int(llm.metadata["general.file_type"])).name.removeprefix("MOSTLY_")
    except (KeyError, ValueError):
        return "gguf"
