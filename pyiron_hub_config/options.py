"""What a user may ask for when starting a server, checked on the server.

The browser's form is a convenience; every request (form, query string or REST API) is
re-checked here against the catalogue and the admin's maximum, never trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .catalogue import Environment
from .values import MIN_CPUS, MIN_MEMORY, format_memory, parse_size

SIZE_KEYS = ("mem_limit", "cpu_limit")


class InvalidChoice(ValueError):
    """The request asks for something the catalogue or the admin does not offer.

    str() is for a person at the spawn page (environments by display name); api_message is
    for a script (environments by the name it must send). Most messages are the same.
    status is the HTTP answer: 400, or 403 for an environment only for other groups.
    """

    def __init__(self, message: str, api_message: str | None = None, status: int = 400):
        super().__init__(message)
        self.api_message = api_message or message
        self.status = status


@dataclass(frozen=True)
class Choice:
    environment: Environment
    mem_limit: int
    cpu_limit: float
    # The environment asked for, when it has left the catalogue and the default runs instead.
    replaced: Environment | None = None


def _shown(value: Any) -> str:
    # Echo at most a short, repr'd prefix: the message lands in an HTML page and in logs.
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def options_from_form(formdata: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Form or query fields (lists of strings) -> user_options; blank size fields mean default."""
    options: dict[str, Any] = {}
    for key, values in formdata.items():
        value = values[0] if len(values) == 1 else list(values)
        if key in SIZE_KEYS and value == "":
            continue
        options[key] = value
    return options


def find_environment(name: Any, environments: Sequence[Environment]) -> Environment | None:
    """The environment called name, by its catalogue name or the display name the picker shows."""
    if not isinstance(name, str):
        return None
    return next((env for env in environments if name in (env.name, env.display_name)), None)


def validate_choice(
    options: Mapping[str, Any] | None,
    environments: Sequence[Environment],
    max_mem_limit: int | None = None,
    max_cpu_limit: float | None = None,
    left_out: Sequence[Environment] = (),
    withheld: Sequence[Environment] = (),
) -> Choice:
    """Return the environment and size to start, or raise InvalidChoice saying what is valid.

    environments are those offered to the user; withheld, those only for groups they are not
    in (refused with 403). A catalogue entry no longer offered (left_out: a retired image whose
    variable the admin unset) is what a user's saved choice may still name: the default starts
    instead.
    """
    options = dict(options or {})
    names = [env.name for env in environments]
    name = options.get("environment")
    other = find_environment(name, withheld) if find_environment(name, environments) is None else None
    if other is not None:
        # A forged form, an old link or a script: the picker never offered it. Refused as
        # that, before anything else the request asks is looked at.
        groups = ", ".join(other.groups)
        raise InvalidChoice(
            f"{other.display_name} is only for members of the groups {groups}. "
            "Choose another environment, or ask your admin to add you to one of them.",
            f"{other.display_name} is only for members of {groups}; you may start: {', '.join(names) or 'none'}",
            status=403,
        )
    if not environments:
        raise InvalidChoice("No environment is offered to your groups: ask the admin of this hub.")
    allowed = ["environment"]
    if max_mem_limit is not None:
        allowed.append("mem_limit")
    if max_cpu_limit is not None:
        allowed.append("cpu_limit")
    unknown = sorted(str(k) for k in options if k not in allowed)
    if unknown:
        hint = " Choose an environment by name, not an image." if "image" in unknown else ""
        raise InvalidChoice(
            f"Unknown option {', '.join(_shown(k) for k in unknown)}. Options include: {', '.join(allowed)}.{hint}"
        )

    replaced = next((env for env in left_out if isinstance(name, str) and env.name == name), None)
    if name is None or name == "" or replaced is not None:
        env = next(env for env in environments if env.default)
    else:
        env = find_environment(name, environments)
        if env is None:
            shown = _shown(name)
            raise InvalidChoice(
                f"No such environment: {shown}. Options include: {', '.join(e.display_name for e in environments)}.",
                f"No such environment: {shown}. Options include: {', '.join(names)}",
            )

    mem = env.mem_limit
    if "mem_limit" in options:
        value = options["mem_limit"]
        try:
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise ValueError
            mem = parse_size(value)
        except ValueError:
            raise InvalidChoice(
                f"Memory {_shown(value)} is not a size: use a number with M or G, "
                f"from {format_memory(MIN_MEMORY)} to {format_memory(max_mem_limit)}"
            ) from None
        if mem < MIN_MEMORY:
            raise InvalidChoice(f"Memory {_shown(value)} is below the minimum of {format_memory(MIN_MEMORY)}")
        if mem > max_mem_limit:
            raise InvalidChoice(f"Memory {_shown(value)} is above the maximum of {format_memory(max_mem_limit)}")

    cpu = env.cpu_limit
    if "cpu_limit" in options:
        value = options["cpu_limit"]
        try:
            if isinstance(value, bool):
                raise ValueError
            cpu = float(value)
        except (TypeError, ValueError):
            raise InvalidChoice(f"CPUs {_shown(value)} is not a number: use e.g. 0.5, 1 or 2") from None
        # Also rejects nan and inf. Below the floor Docker's quota would round to 0: no limit at all.
        if not MIN_CPUS <= cpu <= max_cpu_limit:
            raise InvalidChoice(f"CPUs {_shown(value)} must be at least {MIN_CPUS:g} and at most {max_cpu_limit:g}")

    return Choice(environment=env, mem_limit=mem, cpu_limit=cpu, replaced=replaced)
