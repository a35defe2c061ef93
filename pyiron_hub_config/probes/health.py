"""The image's HEALTHCHECK: does /hub/health answer on this container's port?

Standard library only, and the package's __init__ imports nothing heavy: Docker runs this
every few seconds, and importing JupyterHub each time would cost two seconds of CPU. Not even
urllib: its imports (http.client, email) took 60 ms of the 80-140 ms a probe cost in the hub
image, a socket and one request line 25-35 ms; every hub pays that every 3 s, for its life.

    python3 -m pyiron_hub_config.probes.health      (also: pyiron-hub health): the hub, then through its proxy
    python3 -m pyiron_hub_config.probes.health --hub-api   (the hub itself, not its proxy: swarm)
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping

# The port the proxy listens on inside the container (apply.HUB_PORT; a unit test checks).
HUB_PORT = 8000
HUB_API_PORT = 8081  # apply.HUB_API_PORT: the hub's own port, always plain http


def health_url(environ: Mapping[str, str], hub_api: bool = False) -> str:
    if hub_api:
        return f"http://127.0.0.1:{HUB_API_PORT}/hub/health"
    scheme = "https" if environ.get("TLS_CERT_FILE") else "http"
    return f"{scheme}://127.0.0.1:{HUB_PORT}/hub/health"


def probe(environ: Mapping[str, str] | None = None, hub_api: bool = False) -> int:
    """0 if the hub answers 200, else 1 (with the reason on stderr).

    Through the proxy only once the hub's own port answers: the proxy starts first, and each
    request it could not pass on (connection refused) would be an error in the hub's log.
    """
    environ = os.environ if environ is None else environ
    if not hub_api and _ask(health_url(environ, hub_api=True)):
        return 1
    return _ask(health_url(environ, hub_api))


def _ask(url: str) -> int:
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=4) as conn:
            if url.startswith("https"):
                import ssl  # only where the hub serves TLS itself

                # The certificate names the public host, not 127.0.0.1; this probe only asks "alive?".
                conn = ssl._create_unverified_context().wrap_socket(conn)
            conn.sendall(b"GET /hub/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            status_line = conn.makefile("rb").readline(200).decode("latin-1")
    except OSError as err:
        print(f"unhealthy: {url}: {err}", file=sys.stderr)
        return 1
    if status_line.split()[1:2] == ["200"]:  # "HTTP/1.1 200 OK"
        return 0
    print(f"unhealthy: {url}: {status_line.strip() or 'no answer'}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(probe(hub_api="--hub-api" in sys.argv[1:]))
