"""Everything the hub needs, read and checked in one go: settings plus the catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .catalogue import Environment, left_out, load_catalogue, resolve_environments
from .clusters import Cluster, load_clusters
from .problems import ConfigError, Problem
from .settings import Settings, load_settings


@dataclass(frozen=True)
class HubConfig:
    settings: Settings
    environments: list[Environment]  # empty only when the catalogue could not be checked here
    clusters: list[Cluster] = field(default_factory=list)  # CLUSTERS_FILE; none by default
    left_out: list[Environment] = field(default_factory=list)  # catalogue entries not offered


def load_hub_config(environ: Mapping[str, str], check_paths: bool = True) -> HubConfig:
    """Validate the environment and the catalogue together; one ConfigError lists all problems.

    check_paths=False is for checking env files on the host: paths there name files inside
    the hub container, so neither they nor a custom catalogue or cluster list can be read.
    """
    problems = []
    settings = catalogue = None
    try:
        settings = load_settings(environ, check_paths)
    except ConfigError as err:
        problems += err.problems
    custom = environ.get("ENVIRONMENTS_FILE") or None
    if check_paths or custom is None:
        # Checked even when the settings are not, so that one run shows every problem.
        try:
            catalogue = load_catalogue(custom)
        except ConfigError as err:
            problems += err.problems
    clusters = []
    clusters_file = environ.get("CLUSTERS_FILE", "").strip() or None
    if check_paths and clusters_file:
        try:
            clusters = load_clusters(clusters_file)
        except ConfigError as err:
            problems += err.problems
    if settings:
        problems += _shared_accounts(clusters, [*settings.allowed_users, *settings.admin_users])
    if settings and not problems:
        try:
            environments = resolve_environments(catalogue, settings) if catalogue else []
            return HubConfig(settings, environments, clusters, left_out(catalogue or [], environments))
        except ConfigError as err:
            problems += err.problems
    raise ConfigError(problems)


def _shared_accounts(clusters: list[Cluster], named_users: list[str]) -> list[Problem]:
    """Users named in the configuration whose template account a `users` mapping gives another."""
    return [
        Problem(
            f"cluster '{c.name}' (CLUSTERS_FILE)",
            f"hub user {user!r} (ALLOWED_USERS/ADMIN_USER) would get the account {c.user.format(username=user)!r}, "
            "which `users` maps to another hub user; one cluster account belongs to one hub user",
            f'users = {{ "{user}" = "{user}2" }} (an account of their own)',
        )
        for c in clusters
        for user in c.accounts_shared_with(named_users)
    ]
