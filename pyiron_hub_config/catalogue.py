"""The environment catalogue: profiles as data, in three steps.

load (TOML -> validated entries) -> resolve (apply PYIRON_* images and default limits)
-> the spawner offers exactly the resolved list and nothing else.

An entry without an image is offered only when its PYIRON_* variable names one: that is
how the catalogue keeps environments pyiron no longer builds (marked ``retired``) and the
workflow environment an admin builds (README "Environments") without offering an image
nobody can pull.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .entries_file import EntriesFile
from .problems import ConfigError, Problem
from .settings import IMAGE_VARIABLES, Settings
from .values import Cpus, ImageRef, MemoryBytes, format_memory

DEFAULT_CATALOGUE = files(__package__) / "environments.toml"


class Environment(BaseModel):
    """One pyiron environment a user can start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The descriptions are the reference's (docs/reference/catalogue.md renders them).
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="The slug used in the API and forms.")
    display_name: str = Field(
        min_length=1, max_length=100, description="What the picker shows (escaped, never markup)."
    )
    description: str = Field(default="", max_length=500, description="One line under the name in the picker.")
    # Checked with the entry's other fields (validate_default), so that a misspelt key and
    # the image it leaves missing are reported together.
    image: ImageRef | None = Field(
        default=None,
        validate_default=True,
        description="The image to start. Its PYIRON_* variable overrides it; an entry of the "
        "built-in catalogue without one is offered only when its variable names an image.",
    )
    retired: bool = Field(default=False, description='Marks it "retired" in the picker, listed last.')
    mem_limit: MemoryBytes | None = Field(default=None, description="Its memory limit, e.g. 4G; else MEM_LIMIT.")
    cpu_limit: Cpus | None = Field(default=None, description="Its CPU limit, e.g. 2; else CPU_LIMIT.")
    default: bool = Field(default=False, description="Preselected in the picker; else the first entry offered.")
    groups: tuple[str, ...] = Field(
        default=(),
        description="Keycloak groups whose members see and may start it (e.g. a licensed code's image); "
        "empty: every user. ENVIRONMENT_GROUPS replaces it.",
    )

    @field_validator("groups")
    @classmethod
    def _group_names(cls, groups: tuple[str, ...]) -> tuple[str, ...]:
        # As JupyterHub keeps Keycloak's groups (authenticator.strip_group_path).
        return tuple(group.lstrip("/") for group in groups)

    @field_validator("image")
    @classmethod
    def _image_or_variable(cls, image: str | None, info: ValidationInfo) -> str | None:
        if image is None and info.data.get("name") not in IMAGE_VARIABLES:
            raise PydanticCustomError("missing", "is required")
        return image

    @property
    def mem_limit_text(self) -> str:
        return format_memory(self.mem_limit) if self.mem_limit else ""


def _example(error: dict) -> str | None:
    if error["type"] == "missing" and error["loc"][-1] == "image":
        return (
            'image = "pyiron/base:latest" (only the entries named in README '
            '"Environments" may leave it to their PYIRON_* variable)'
        )
    return None


def _message(error: dict) -> str | None:
    if error["type"] == "extra_forbidden" and len(error["loc"]) > 1:
        return "unknown key; valid keys are " + ", ".join(Environment.model_fields)
    return None


CATALOGUE_FILE = EntriesFile(
    variable="ENVIRONMENTS_FILE",
    table="environments",
    noun="catalogue entry",
    entry=Environment,
    toml_example='name = "pyiron_base" (quoted strings)',
    empty_example='[[environments]]\nname = "pyiron_base"\ndisplay_name = "pyiron base"\nimage = "pyiron/base:latest"',
    distinct_hint="give each entry its own name",
    message=_message,
    example=_example,
)


def load_catalogue(path: Path | None = None) -> list[Environment]:
    """Parse and validate a catalogue file; raise ConfigError naming each bad entry."""
    source = Path(path) if path else DEFAULT_CATALOGUE
    catalogue = CATALOGUE_FILE.load(source)
    problems = CATALOGUE_FILE.duplicates([env.name for env in catalogue], lambda name: f"catalogue entry '{name}'")
    if sum(env.default for env in catalogue) > 1:
        problems.append(
            Problem(CATALOGUE_FILE.where(source), "more than one entry has default = true", "mark one entry as default")
        )
    if problems:
        raise ConfigError(problems)
    return catalogue


def resolve_environments(catalogue: list[Environment], settings: Settings) -> list[Environment]:
    """The offered entries: images from PYIRON_*, default limits, checked against the maximum.

    Entries left without an image are not offered; retired ones are listed last.
    """
    problems = []
    names = {env.name for env in catalogue}
    for name, _image in settings.image_overrides().items():
        if name not in names:
            problems.append(
                Problem(
                    IMAGE_VARIABLES[name],
                    f"is set, but the catalogue has no environment '{name}'",
                    "unset it, or add the entry to the catalogue",
                )
            )
    for name in settings.environment_groups:
        if name not in names:
            problems.append(
                Problem(
                    "ENVIRONMENT_GROUPS",
                    f"names '{name}', which is not in the catalogue",
                    "ENVIRONMENT_GROUPS='" + next(iter(sorted(names)), "pyiron_md") + "=pyiron-research'",
                )
            )
    overrides = settings.image_overrides()
    group_overrides = settings.environment_groups
    offered = [
        env.model_copy(
            update={
                "image": overrides.get(env.name, env.image),
                "groups": tuple(group_overrides.get(env.name, env.groups)),
            }
        )
        for env in catalogue
    ]
    offered = sorted((env for env in offered if env.image), key=lambda env: env.retired)
    if not offered:
        raise ConfigError(
            problems
            + [
                Problem(
                    "the catalogue", "offers no environment: no entry has an image", "PYIRON_BASE=pyiron/base:latest"
                )
            ]
        )
    resolved = []
    default = next((env.name for env in offered if env.default), offered[0].name)
    for env in offered:
        env = env.model_copy(
            update={
                "mem_limit": env.mem_limit or settings.mem_limit,
                "cpu_limit": env.cpu_limit or settings.cpu_limit,
                "default": env.name == default,
            }
        )
        if settings.max_mem_limit is not None and env.mem_limit > settings.max_mem_limit:
            problems.append(
                Problem(
                    f"catalogue entry '{env.name}'",
                    f"mem_limit {env.mem_limit_text} is above MAX_MEM_LIMIT",
                    format_memory(settings.max_mem_limit),
                )
            )
        if settings.max_cpu_limit is not None and env.cpu_limit > settings.max_cpu_limit:
            problems.append(
                Problem(
                    f"catalogue entry '{env.name}'",
                    f"cpu_limit {env.cpu_limit:g} is above MAX_CPU_LIMIT",
                    f"{settings.max_cpu_limit:g}",
                )
            )
        resolved.append(env)
    if problems:
        raise ConfigError(problems)
    return resolved


def offered_to(environments: list[Environment], groups) -> list[Environment]:
    """The environments a user in these groups may start: those for everyone and their groups'.

    The catalogue's default stays the default when the user may start it; otherwise the
    first they may start is theirs (the picker preselects it, a start without a choice
    runs it).
    """
    groups = set(groups)
    mine = [env for env in environments if not env.groups or groups.intersection(env.groups)]
    if mine and not any(env.default for env in mine):
        mine = [env.model_copy(update={"default": i == 0}) for i, env in enumerate(mine)]
    return mine


def left_out(catalogue: list[Environment], offered: list[Environment]) -> list[Environment]:
    """The catalogue's entries not offered (no image): what a user may have run before."""
    names = {env.name for env in offered}
    return [env for env in catalogue if env.name not in names]
