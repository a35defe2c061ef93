"""Configuration of the pyiron JupyterHub, built from environment variables.

``jupyterhub_config.py`` calls ``configure(c)``; everything else is importable and testable
with a plain ``traitlets.config.Config`` and a dict standing in for the environment.

Importing the package itself is cheap: the health probe (probes/health.py) runs every few
seconds and must not pull in JupyterHub, so the heavy modules load on first use.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from traitlets.config import Config

    from .hub_config import HubConfig

__all__ = ["configure", "load_hub_config", "ConfigError", "HubConfig"]


def configure(c: Config, environ: Mapping[str, str] | None = None) -> HubConfig:
    """Fill c from the environment; on any problem print them all and exit 1 (no traceback)."""
    from .apply import apply_all, apply_secrets, apply_services
    from .hub_config import load_hub_config
    from .problems import ConfigError
    from .state import load_or_create_secret

    try:
        hub = load_hub_config(os.environ if environ is None else environ)
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        # SystemExit passes through JupyterHub's config loading: the hub never starts half-configured.
        raise SystemExit(1) from None
    apply_all(c, hub)
    from .db_sessions import install

    install()  # the first request after a database restart works (db_sessions.py)
    s = hub.settings
    apply_secrets(
        c,
        cookie_secret=load_or_create_secret(s.cookie_secret, s.data_dir / "cookie_secret"),
        crypt_keys=load_or_create_secret(s.crypt_key, s.data_dir / "crypt_key"),
        proxy_token=load_or_create_secret(s.proxy_token, s.data_dir / "proxy_token"),
    )
    apply_services(
        c,
        hub,
        metrics_token=load_or_create_secret(s.metrics_token, s.data_dir / "metrics_token"),
        key_sync_token=load_or_create_secret(s.key_sync_token, s.data_dir / "key_sync_token") if hub.clusters else None,
    )
    from .backup_status import register_metrics

    register_metrics(s.data_dir)  # the last backup's result on /hub/metrics
    if s.spawner == "docker":
        from .apply import hub_usage_cache
        from .usage_pages import register_usage_metrics

        register_usage_metrics(hub_usage_cache(hub), s.storage_soft_limit)  # users' disk, memory, CPU
        if s.storage_quota is not None:
            from .usage_pages import quota_cache, register_quota_metrics

            register_quota_metrics(quota_cache(s.quota_service_url, s.usage_refresh_seconds))
        from .server_stops import MEMORY_KILLS_FILE, register_memory_kills_metrics

        register_memory_kills_metrics(s.data_dir / MEMORY_KILLS_FILE)  # servers stopped by their memory limit
    return hub


def __getattr__(name: str):
    # PEP 562: `from pyiron_hub_config import HubConfig` still works, loaded when asked for.
    if name in ("load_hub_config", "HubConfig"):
        from . import hub_config

        return getattr(hub_config, name)
    if name == "ConfigError":
        from .problems import ConfigError

        return ConfigError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
