"""The number format for each kind of work, chosen by measurement on this processor.

Processors differ: where the CPU has native bfloat16 (AVX512-BF16, AMX), bf16 matrix
products run about twice as fast as float32; where it has only AVX2, bf16 arithmetic is
emulated and a matrix product runs ~35x slower than in float32, while decoding, which
reads every weight once per token and is bound by memory, still runs ~2x faster in bf16
(half the bytes). So no format is assumed: at first use on a processor the lab times a
small workload shaped like the embedded Gemma's layers for each kind of work

- ``train``: a LoRA step (forward and backward through frozen layers), float32 against
  bfloat16 autocast over float32 weights (bf16 *weights* are a trap for training);
- ``prefill``: a prompt-processing pass (what label scoring and the first token cost);
- ``decode``: single-token steps over weights too large for the cache,

in float32, bfloat16 and float16, keeps float32 unless another format is at least
``MIN_GAIN`` faster, and saves the figures with the choice in the cache (they are taken
again when the processor, torch or the CPU-dispatch settings change). ``auto`` never
picks float16 on a CPU: it is measured and shown, but some models (Gemma) overflow its
range; a user can still ask for it. CUDA keeps its own rule: bfloat16 where the GPU
supports it, else float16.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import ConfigError
from core.paths import cache_dir, write_json

FORMATS = ("float32", "bfloat16", "float16")
PRECISIONS = ("auto", *FORMATS)
WORKS = ("train", "prefill", "decode")
AUTO_FORMATS = ("float32", "bfloat16")  # what ``auto`` may pick on a CPU
MIN_GAIN = 1.2  # another format must be this much faster than float32 to be picked
CHOICE_FILE = "precision.json"
WORK_WORDS = {"train": "a training step", "prefill": "prompt processing",
              "decode": "decoding", "generate": "an answer (256 prompt + 64 new tokens)"}
# an answer in the Playground: its prompt is processed once, then each new token decoded
ANSWER_PROMPT_TOKENS, ANSWER_NEW_TOKENS = 256, 64
# the workloads: Gemma 3 270M's widths; tokens per pass
HIDDEN, INTERMEDIATE, LORA_R = 640, 2048, 16
TRAIN_TOKENS, PREFILL_TOKENS, DECODE_LAYERS = 64, 64, 12
# CPU-dispatch settings that change which kernels run (and so the answer)
DISPATCH_VARS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


@dataclass(frozen=True)
class Measurement:
    """Rates of each kind of work in each format on one processor, and the choice per work.

    ``rates[work][format]``: tokens per second of the workload (train: training tokens,
    prefill: prompt tokens, decode: generated tokens); a format missing there could not run.
    ``token_params_per_s[format]``: the train workload's speed as tokens x frozen
    parameters per second at one thread, which the training estimate scales to a model.
    """

    processor: dict[str, Any]
    rates: dict[str, dict[str, float]]
    token_params_per_s: dict[str, float]
    chosen: dict[str, str] = field(default_factory=dict)
    measured_at: str = ""

    def __post_init__(self) -> None:
        if not self.chosen:
            object.__setattr__(self, "chosen", choose(self.rates))

    @property
    def native_bf16(self) -> bool | None:
        """True/False where the processor's flags tell (Linux), else None."""
        return self.processor.get("native_bf16")

    def speedup(self, work: str, fmt: str, over: str = "float32") -> float | None:
        """How many times as fast ``fmt`` measured against ``over`` for ``work``."""
        rates = work_rates(self.rates, work)
        if fmt not in rates or over not in rates or not rates[over]:
            return None
        return rates[fmt] / rates[over]

    def reason(self, work: str) -> str:
        """Why ``chosen[work]`` was picked, in a sentence with the measured figure."""
        fmt = self.chosen[work]
        what = WORK_WORDS[work]
        if fmt == "bfloat16":
            gain = self.speedup(work, "bfloat16")
            native = " (native bfloat16)" if self.native_bf16 else \
                " (no native bfloat16, but half the bytes to read per weight)" \
                if work in ("decode", "generate") else ""
            return f"bfloat16: measured {gain:.1f}x faster than float32 for {what} on this " \
                   f"processor{native}"
        gain = self.speedup(work, "bfloat16")
        if gain is None:
            return f"float32: bfloat16 does not run here for {what}"
        if self.native_bf16 is False and gain < 1:
            return f"float32: this processor has no native bfloat16 ({self.processor['capability']}" \
                   f"), measured {1 / gain:.0f}x slower for {what}"
        if gain < 1:
            return f"float32: bfloat16 measured {1 / gain:.1f}x slower for {what} here"
        return f"float32: bfloat16 was only {gain:.2f}x as fast for {what} here (the lab " \
               f"switches at {MIN_GAIN}x)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        return cls(**{k: data[k] for k in ("processor", "rates", "token_params_per_s",
                                           "chosen", "measured_at")})


def choose(rates: dict[str, dict[str, float]], min_gain: float = MIN_GAIN) -> dict[str, str]:
    """Per work (and for a whole answer): float32, unless an ``AUTO_FORMATS`` format is at
    least ``min_gain`` times as fast (then the fastest such)."""
    works = [*rates, "generate"] if "prefill" in rates and "decode" in rates else list(rates)
    chosen = {}
    for work in works:
        by_format = work_rates(rates, work)
        best = "float32"
        for fmt in AUTO_FORMATS:
            if fmt in by_format and by_format[fmt] >= min_gain * by_format.get("float32", 0.0) \
                    and by_format[fmt] > by_format.get(best, 0.0):
                best = fmt
        chosen[work] = best
    return chosen


def work_rates(rates: dict[str, dict[str, float]], work: str) -> dict[str, float]:
    """Per format, how often ``work`` is done a second; for ``generate``, whole answers."""
    if work != "generate":
        return rates.get(work, {})
    return {fmt: 1 / seconds for fmt in FORMATS
            if (seconds := answer_seconds(rates, fmt))}


def answer_seconds(rates: dict[str, dict[str, float]], fmt: str) -> float | None:
    """Seconds for a typical answer in ``fmt``: its prompt processed, then its new tokens."""
    prefill, decode = rates["prefill"].get(fmt), rates["decode"].get(fmt)
    if not prefill or not decode:
        return None
    return ANSWER_PROMPT_TOKENS / prefill + ANSWER_NEW_TOKENS / decode


# -- the processor and the saved measurement ---------------------------------------------


def processor() -> dict[str, Any]:
    """What identifies this processor's behaviour: its name, torch's kernel capability, the
    flags that decide bf16/fp16 speed, torch's version and any CPU-dispatch override."""
    import torch

    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name") and ":" in line:
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and ":" in line:
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    dispatch = {v: os.environ[v] for v in DISPATCH_VARS if os.environ.get(v)}
    # a dispatch setting that caps torch or oneDNN at AVX2 makes bf16 emulated, as on an
    # AVX2-only processor (how the lab tests that path on any machine)
    capped = dispatch.get("ATEN_CPU_CAPABILITY", "").lower() in ("default", "avx2") or \
        dispatch.get("ONEDNN_MAX_CPU_ISA", "").upper().startswith(("SSE", "AVX2"))
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16")
    return {"name": name, "capability": torch.backends.cpu.get_cpu_capability(),
            "flags": sorted(f for f in wanted if f in flags),
            "native_bf16": (not capped and bool({"avx512_bf16", "amx_bf16"} & flags))
            if flags else None,
            "torch": torch.__version__, "dispatch": dispatch}


def choice_file(here: dict[str, Any]) -> str:
    """``precision.json``; with CPU-dispatch variables set, a file of their own beside it, so
    that a capped run (tests, a bench) does not replace the machine's own choice."""
    if not here.get("dispatch"):
        return CHOICE_FILE
    import hashlib

    key = hashlib.sha256(json.dumps(here["dispatch"], sort_keys=True).encode()).hexdigest()[:8]
    return f"precision-{key}.json"


def cpu_measurement(remeasure: bool = False) -> Measurement:
    """The saved measurement for this processor, measured now (a few seconds) if there is
    none, the processor changed, or ``remeasure``."""
    here = processor()
    path = cache_dir() / choice_file(here)
    if not remeasure:
        try:
            saved = Measurement.from_dict(json.loads(path.read_text(encoding="utf-8")))
            if saved.processor == here:
                return saved
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet, or damaged: measure again
    measurement = measure(here)
    try:
        write_json(path, measurement.to_dict())
    except OSError:
        pass  # a read-only cache: the choice still holds for this process
    return measurement


def measure(here: dict[str, Any] | None = None, seconds: float = 0.15,
            timer: Callable[[str, str], tuple[float, float]] | None = None) -> Measurement:
    """Time every work in every format (one thread) and return the figures and the choice.

    ``timer(work, fmt)`` returns (tokens per second, token-parameters per second); the
    default times the real workloads; tests pass fake timings.
    """
    timer = timer or (lambda work, fmt: _time_workload(work, fmt, seconds))
    rates: dict[str, dict[str, float]] = {work: {} for work in WORKS}
    token_params: dict[str, float] = {}
    for work in WORKS:
        for fmt in FORMATS:
            if work == "train" and fmt == "float16":
                continue  # CPU training in float16 is not offered (CUDA only)
            try:
                tokens_per_s, tp_per_s = timer(work, fmt)
            except (RuntimeError, TypeError, NotImplementedError):
                continue  # this format has no kernel here
            rates[work][fmt] = round(tokens_per_s, 2)
            if work == "train":
                token_params[fmt] = tp_per_s
    return Measurement(here if here is not None else processor(), rates, token_params,
                       measured_at=time.strftime("%Y-%m-%dT%H:%M:%S"))


def _time_workload(work: str, fmt: str, seconds: float) -> tuple[float, float]:
    """Run the workload of ``work`` in ``fmt`` on one thread for about ``seconds`` (at
    least once; a first pass far slower than the limit is not repeated)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        step, tokens, params = _workload(work, getattr(torch, fmt))
        step()  # warm up: allocations, kernel selection
        done, started = 0, time.perf_counter()
        while True:
            step()
            done += 1
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
        per_s = done / elapsed
        return tokens * per_s, tokens * params * per_s
    finally:
        torch.set_num_threads(before)


def _workload(work: str, dtype) -> tuple[Callable[[], None], int, int]:
    """(one pass, tokens in it, frozen parameters it multiplies) for ``work`` in ``dtype``."""
    import torch

    gen = torch.Generator().manual_seed(0)
    if work == "decode":  # memory-bound: 12 layers' MLP weights, ~125 MB in float32
        layers = [(torch.randn(INTERMEDIATE, HIDDEN, generator=gen).to(dtype) * 0.02,
                   torch.randn(HIDDEN, INTERMEDIATE, generator=gen).to(dtype) * 0.02)
                  for _ in range(DECODE_LAYERS)]
        x = torch.randn(1, HIDDEN, generator=gen).to(dtype)

        @torch.inference_mode()
        def decode() -> None:
            h = x
            for up, down in layers:
                h = h + torch.nn.functional.linear(torch.nn.functional.gelu(
                    torch.nn.functional.linear(h, up)), down)
        return decode, 1, DECODE_LAYERS * 2 * HIDDEN * INTERMEDIATE
    up = torch.randn(INTERMEDIATE, HIDDEN, generator=gen) * 0.02
    down = torch.randn(HIDDEN, INTERMEDIATE, generator=gen) * 0.02
    params = 2 * HIDDEN * INTERMEDIATE
    if work == "prefill":
        up, down = up.to(dtype), down.to(dtype)
        x = torch.randn(PREFILL_TOKENS, HIDDEN, generator=gen).to(dtype)

        @torch.inference_mode()
        def prefill() -> None:
            for _ in range(2):
                torch.nn.functional.linear(torch.nn.functional.gelu(
                    torch.nn.functional.linear(x, up)), down)
        return prefill, 2 * PREFILL_TOKENS, params
    # train: frozen float32 weights, a trainable low-rank pair on each, autocast in dtype
    lora = [torch.zeros(LORA_R, HIDDEN, requires_grad=True),
            torch.zeros(HIDDEN, LORA_R, requires_grad=True)]
    x = torch.randn(TRAIN_TOKENS, HIDDEN, generator=gen, requires_grad=True)
    autocast = torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32)

    def train() -> None:
        with autocast:
            h = torch.nn.functional.gelu(torch.nn.functional.linear(x, up))
            out = torch.nn.functional.linear(h, down) + (x @ lora[0].T) @ lora[1].T
            loss = out.float().square().mean()
        loss.backward()
    return train, TRAIN_TOKENS, params


# -- resolving a requested format ----------------------------------------------------------


def choose_format(requested: str, work: str, device: str,
                  measurement: Callable[[], Measurement] | None = None) -> tuple[str, str]:
    """(format, why) for ``work`` (train, prefill, decode or generate) on ``device``.

    ``requested`` is what the user set: ``auto`` (the measured choice on a CPU; CUDA's rule
    on a GPU) or a format, which is kept as asked.
    """
    if requested not in PRECISIONS:
        raise ConfigError(f"Unknown number format {requested!r}.",
                          f"Use one of {', '.join(PRECISIONS)}.")
    if requested != "auto":
        return requested, f"{requested}: set in the settings"
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_bf16_supported():
            return "bfloat16", "bfloat16: native on this GPU"
        return "float16", "float16: this GPU has no bfloat16"
    if device != "cpu":  # mps
        return "float16", f"float16: the usual format on {device}"
    chosen = (measurement or cpu_measurement)()
    return chosen.chosen[work], chosen.reason(work)
