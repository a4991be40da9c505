"""Errors meant for the person using the lab.

Every error the core raises on purpose is a ``LabError``: it carries what went
wrong (``problem``) and what to do about it (``fix``). The UI and the CLI show
both; neither ever shows a bare traceback for these.
"""

from __future__ import annotations


class LabError(Exception):
    """An error to be shown to the user: a problem and, where known, its fix."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem} Fix: {fix}")


class ConfigError(LabError, ValueError):
    """A parameter out of range or of the wrong type."""


class ModelError(LabError):
    """A model that cannot be found, read or loaded."""


class PromptTooLongError(LabError):
    """A prompt that does not fit the model's context window."""


class StorageError(LabError, OSError):
    """The lab's data could not be written or read (full disk, read-only folder, name too long).

    Also an OSError, so code that already tolerates a failed write of a rebuildable file (the
    measured thread count, a cache) keeps doing so, while pages and the CLI show it as a LabError.
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        LabError.__init__(self, problem, fix)
        self.args = (str(self),)

    def __str__(self) -> str:
        return self.problem if not self.fix else f"{self.problem} Fix: {self.fix}"
