"""Configuration problems: collected first, reported together, never as a traceback."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, and how to put it right."""

    where: str  # an environment variable, or "catalogue entry 'x'"
    message: str
    example: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        if self.example:
            text += f" (example: {self.example})"
        return text


class ConfigError(Exception):
    """Raised with every problem found, so an admin fixes them in one round."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(self.report())

    def report(self, outcome: str = "Nothing was started.") -> str:
        n = len(self.problems)
        lines = [f"pyiron-hub: {n} configuration problem{'s' if n != 1 else ''}:"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append(f"{outcome} See the configuration reference in README.md.")
        return "\n".join(lines)
