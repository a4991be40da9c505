"""A comparison's results as read back: typed, frozen, from any results.json the lab wrote.

``core.compare.evaluate`` writes the results as a dict (``results.json``), and the report
(``core.report``) draws that dict. Code that reads single fields reads them here instead:
``Results.from_dict(d)`` accepts every results.json the lab has ever written (the oldest have
no setups, parts, calibration or label counts: those read None), and ``to_dict()`` gives the
very dict back. A figure the file does not hold is None, never a KeyError; a file that is no
results at all (not an object, no list of rows, a row without a name) is a ``ResultsError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.compare import CompareConfig
from core.errors import LabError

FIX = "Run the comparison again: its settings are kept with it (config.json in its folder)."


class ResultsError(LabError):
    """A results.json that holds no comparison results the lab can read."""


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class Interval:
    """A figure with its 95% interval (``low``/``high`` None where none was computed)."""

    value: float | None
    low: float | None = None
    high: float | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Interval:
        """``{"value", "low", "high"}`` as written; a bare number is a figure without interval."""
        if isinstance(data, dict):
            return cls(_number(data.get("value")), _number(data.get("low")),
                       _number(data.get("high")))
        return cls(_number(data))


@dataclass(frozen=True)
class TaskInfo:
    """The task a comparison scored, as its results recorded it (older ones: its name only)."""

    name: str
    title: str | None = None
    kind: str | None = None
    labels: tuple[str, ...] = ()
    version: str | None = None  # the task's fingerprint; None before versions were recorded
    origin: str | None = None   # sample | yours
    test_rows: int | None = None
    fewshot_pool: int | None = None

    @classmethod
    def from_dict(cls, data: Any, fallback_name: str) -> TaskInfo:
        data = _dict(data) or {}
        labels = data.get("labels")
        return cls(name=_text(data.get("name")) or fallback_name, title=_text(data.get("title")),
                   kind=_text(data.get("kind")),
                   labels=tuple(str(x) for x in labels) if isinstance(labels, list) else (),
                   version=_text(data.get("fingerprint")), origin=_text(data.get("origin")),
                   test_rows=_int(data.get("test_rows")),
                   fewshot_pool=_int(data.get("fewshot_pool")))


@dataclass(frozen=True)
class SetupResult:
    """One setup's row of a comparison: its figures, costs and what went wrong (``error``)."""

    name: str
    kind: str | None
    description: str | None       # the setup in one line; None before setups
    setup: dict[str, Any] | None  # Setup.to_dict() as run; None before setups
    parts: dict[str, str] | None  # model / prompt / retrieval in short words
    model: str | None
    engine: str | None
    metrics: dict[str, Interval]
    prompt_tokens_mean: float | None = None
    completion_tokens_mean: float | None = None
    latency_mean_s: float | None = None
    tokens_per_s: float | None = None
    cost_per_1000: float | None = None
    training_cost: float | None = None
    train_seconds: float | None = None
    n_train_examples: int | None = None
    error: str | None = None
    calibrated: bool | None = None   # None: written before calibration existed
    label_counts: dict[str, Any] | None = None
    draw_spread: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        """The setup could not be scored (``error`` says why)."""
        return self.error is not None

    def metric(self, name: str) -> float | None:
        """A metric's value (``accuracy``, ``macro_f1``...), None where it was not scored."""
        interval = self.metrics.get(name)
        return interval.value if interval is not None else None

    @classmethod
    def from_dict(cls, row: Any, where: str) -> SetupResult:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise ResultsError(f"{where}: a row of its results has no setup name.", FIX)
        metrics = _dict(row.get("metrics")) or {}
        parts = _dict(row.get("parts"))
        calibrated = row.get("calibrated")
        return cls(
            name=row["name"], kind=_text(row.get("kind")), description=_text(row.get("description")),
            setup=_dict(row.get("setup")),
            parts={str(k): str(v) for k, v in parts.items()} if parts is not None else None,
            model=_text(row.get("model")), engine=_text(row.get("engine")),
            metrics={str(k): Interval.from_dict(v) for k, v in metrics.items()},
            **{key: _number(row.get(key)) for key in (
                "prompt_tokens_mean", "completion_tokens_mean", "latency_mean_s", "tokens_per_s",
                "cost_per_1000", "training_cost", "train_seconds")},
            n_train_examples=_int(row.get("n_train_examples")),
            error=None if row.get("error") is None else str(row["error"]),
            calibrated=calibrated if isinstance(calibrated, bool) else None,
            label_counts=_dict(row.get("label_counts")), draw_spread=_dict(row.get("draw_spread")))


@dataclass(frozen=True)
class Results:
    """A finished comparison's results.json, typed; ``raw`` is the dict as read."""

    id: str | None
    created_at: str | None
    duration_s: float | None
    task: TaskInfo
    config: CompareConfig | None  # None where its saved config no longer reads (damaged)
    rows: tuple[SetupResult, ...]
    examples: tuple[dict[str, Any], ...]
    warnings: tuple[str, ...]
    raw: dict[str, Any]

    @classmethod
    def from_dict(cls, data: Any, where: str = "The comparison's results.json") -> Results:
        """Typed results from a results.json's content; a ResultsError when it holds none."""
        if not isinstance(data, dict):
            raise ResultsError(f"{where} is not a JSON object (it holds a "
                               f"{type(data).__name__}).", FIX)
        rows = data.get("setups", data.get("variants"))
        if not isinstance(rows, list):
            raise ResultsError(f"{where} holds no list of setups (\"variants\").", FIX)
        config = _config(data.get("config"))
        fallback = config.task if config is not None else \
            str((_dict(data.get("config")) or {}).get("task") or "?")
        examples = data.get("examples")
        warnings = data.get("warnings")
        return cls(id=_text(data.get("id")), created_at=_text(data.get("created_at")),
                   duration_s=_number(data.get("duration_s")),
                   task=TaskInfo.from_dict(data.get("task"), fallback), config=config,
                   rows=tuple(SetupResult.from_dict(row, where) for row in rows),
                   examples=tuple(e for e in examples if isinstance(e, dict))
                   if isinstance(examples, list) else (),
                   warnings=tuple(str(w) for w in warnings if w)
                   if isinstance(warnings, list) else (),
                   raw=data)

    def to_dict(self) -> dict[str, Any]:
        """The results as read: the dict the report draws."""
        return self.raw

    def row(self, name: str) -> SetupResult:
        """The row of the setup ``name``; a ResultsError naming the setups there are."""
        for row in self.rows:
            if row.name == name:
                return row
        raise ResultsError(f"These results have no setup {name!r}.",
                           f"Pick one of: {', '.join(r.name for r in self.rows) or 'none'}.")


def _config(data: Any) -> CompareConfig | None:
    """The saved config, checked again; None where it no longer checks (a damaged file, or
    settings this lab no longer knows)."""
    try:
        return CompareConfig.from_dict(data)
    except (LabError, TypeError, ValueError):
        return None
