"""The exception tree: one root, ``ZcwError``; each error also inherits the matching builtin."""

from __future__ import annotations

from dataclasses import dataclass


class ZcwError(Exception):
    """Root of every error zcw raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a config: where (dotted key path or file:line), what, and the fix."""

    where: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}. Fix: {self.fix}"


class ConfigError(ZcwError, ValueError):
    """A config that cannot be used; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: tuple[ConfigProblem, ...] | list[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class BridgeError(ZcwError, RuntimeError):
    """The bridge is missing, speaks another protocol version, or stopped answering."""


class ControlSocketError(ZcwError, OSError):
    """No daemon on the control socket, or it could not be reached."""
