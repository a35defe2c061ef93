"""The image's HEALTHCHECK: does /hub/health answer on this container's port?

Standard library only, and the package's __init__ imports nothing heavy: Docker runs this
every few seconds, and importing JupyterHub each time would cost two seconds of CPU.

    python3 -m pyiron_hub_config.health      (also: pyiron-hub health)
    python3 -m pyiron_hub_config.health --hub-api   (the hub itself, not its proxy: swarm)
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request
from typing import Mapping

# The port the proxy listens on inside the container (apply.HUB_PORT; a unit test checks).
HUB_PORT = 8000
HUB_API_PORT = 8081  # apply.HUB_API_PORT: the hub's own port, always plain http


def health_url(environ: Mapping[str, str], hub_api: bool = False) -> str:
    if hub_api:
        return f"http://127.0.0.1:{HUB_API_PORT}/hub/health"
    scheme = "https" if environ.get("TLS_CERT_FILE") else "http"
    return f"{scheme}://127.0.0.1:{HUB_PORT}/hub/health"


def probe(environ: Mapping[str, str] | None = None, hub_api: bool = False) -> int:
    """0 if the hub answers 200, else 1 (with the reason on stderr)."""
    url = health_url(os.environ if environ is None else environ, hub_api)
    # The certificate names the public host, not 127.0.0.1; this probe only asks "alive?".
    context = ssl._create_unverified_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(url, timeout=4, context=context) as response:
            return 0 if response.status == 200 else 1
    except OSError as err:
        print(f"unhealthy: {url}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(probe(hub_api="--hub-api" in sys.argv[1:]))
