"""An admin's TOML list of entries (the environment catalogue, the clusters), read the one way:
TOML -> pydantic model -> every problem at once, each naming its entry -> no name twice."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .problems import ConfigError, Problem


@dataclass(frozen=True)
class EntriesFile:
    """What differs between the files: their variable, table, words and examples."""

    variable: str  # ENVIRONMENTS_FILE
    table: str  # environments: the file is a list of [[environments]]
    noun: str  # "catalogue entry": how a problem names one entry
    entry: type[BaseModel]
    toml_example: str  # shown with a TOML syntax error
    empty_example: str  # shown when the file has no entry
    distinct_hint: str  # shown with a name used twice
    # error -> a better message than pydantic's for this file's fields, or None
    message: Callable[[dict], str | None] = lambda error: None
    # error -> the example shown with a problem of one field, or None
    example: Callable[[dict], str | None] = lambda error: None
    # (the entry as written, the location inside it) -> how the problem names the field
    field_path: Callable[[object, tuple], str] = lambda entry, loc: ".".join(str(part) for part in loc)

    def where(self, source: Path) -> str:
        return f"{self.variable} ({source})"

    def load(self, source: Path) -> list:
        """The validated entries; ConfigError with every problem of the file."""
        try:
            data = tomllib.loads(source.read_text())
        except OSError as err:
            raise ConfigError(
                [
                    Problem(
                        self.where(source),
                        f"cannot read it: {err.strerror}",
                        f"a TOML file with [[{self.table}]] entries",
                    )
                ]
            ) from None
        except UnicodeDecodeError:
            raise ConfigError([Problem(self.where(source), "is not UTF-8 text", "save it as UTF-8")]) from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError([Problem(self.where(source), f"is not valid TOML: {err}", self.toml_example)]) from None
        model = create_model(
            f"_{self.table}_file",
            __config__=ConfigDict(extra="forbid"),
            **{self.table: (list[self.entry], Field(min_length=1))},
        )
        try:
            return getattr(model.model_validate(data), self.table)
        except ValidationError as err:
            raise ConfigError([self._problem(source, data, e) for e in err.errors()]) from None

    def label(self, entries: list, index: int) -> str:
        return entry_label(self.noun, entries, index)

    def duplicates(self, names: list[str], where: Callable[[str], str]) -> list[Problem]:
        """A problem for each name used more than once."""
        return [
            Problem(where(name), "the name is used twice", self.distinct_hint)
            for name in sorted({n for n in names if names.count(n) > 1})
        ]

    def _problem(self, source: Path, data: dict, error: dict) -> Problem:
        loc, kind = error["loc"], error["type"]
        message = self.message(error) or error["msg"].removeprefix("Value error, ")
        if kind == "extra_forbidden" and len(loc) == 1:
            message = f"unknown key; the file holds only [[{self.table}]] entries"
        elif kind == "missing":
            message = "is required"
        if len(loc) >= 2 and loc[0] == self.table and isinstance(loc[1], int):
            field = self.field_path(data[self.table][loc[1]], loc[2:])
            text = f"{field}: {message}" if field else message
            return Problem(f"{self.label(data[self.table], loc[1])} in {source}", text, self.example(error))
        if loc and loc[0] == self.table and kind in ("missing", "too_short", "list_type"):
            return Problem(self.where(source), f"needs at least one [[{self.table}]] entry", self.empty_example)
        return Problem(self.where(source), f"{'.'.join(map(str, loc))}: {message}")


def entry_label(noun: str, entries: object, index: int) -> str:
    """ "<noun> '<name>'", or "<noun> #<n>" while the entry has no name that is a string."""
    entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{noun} '{name}'" if isinstance(name, str) else f"{noun} #{index + 1}"
