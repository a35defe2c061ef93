"""Configuration of the pyiron JupyterHub, built from environment variables.

``jupyterhub_config.py`` calls ``configure(c)``; everything else is importable and testable
with a plain ``traitlets.config.Config`` and a dict standing in for the environment.
"""

from __future__ import annotations

import os
import sys
from typing import Mapping

from traitlets.config import Config

from .apply import apply_all, apply_secrets
from .hub_config import HubConfig, load_hub_config
from .problems import ConfigError
from .state import load_or_create_secret

__all__ = ["configure", "load_hub_config", "ConfigError", "HubConfig"]


def configure(c: Config, environ: Mapping[str, str] | None = None) -> HubConfig:
    """Fill c from the environment; on any problem print them all and exit 1 (no traceback)."""
    try:
        hub = load_hub_config(os.environ if environ is None else environ)
    except ConfigError as err:
        print(err.report(), file=sys.stderr)
        # SystemExit passes through JupyterHub's config loading: the hub never starts half-configured.
        raise SystemExit(1) from None
    apply_all(c, hub)
    s = hub.settings
    apply_secrets(
        c,
        cookie_secret=load_or_create_secret(s.cookie_secret, s.data_dir / "cookie_secret"),
        crypt_keys=load_or_create_secret(s.crypt_key, s.data_dir / "crypt_key"),
        proxy_token=load_or_create_secret(s.proxy_token, s.data_dir / "proxy_token"),
    )
    return hub
