"""The parts that make spawns and health checks cheap: pure logic, and real local sockets."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading

import pytest

from pyiron_hub_config import health
from pyiron_hub_config.apply import HUB_PORT


# --- health probe ------------------------------------------------------------------------------
def test_health_probe_imports_nothing_heavy():
    # Docker runs the probe every few seconds; importing JupyterHub would cost two seconds each time.
    code = "import sys, pyiron_hub_config.health; print(sorted({'jupyterhub', 'pydantic', 'dockerspawner'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_health_probe_asks_the_proxy_port():
    assert health.HUB_PORT == HUB_PORT
    assert health.health_url({}) == f"http://127.0.0.1:{HUB_PORT}/hub/health"
    assert health.health_url({"TLS_CERT_FILE": "/c.crt"}).startswith("https://")


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A real HTTP server on a free local port answering every GET with `status`."""
    servers = []

    def start(status: int):
        handler = type("Handler", (_Answer,), {"status": status})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()


@pytest.mark.parametrize("status, healthy", [(200, 0), (503, 1)])
def test_health_probe_answer(http_server, monkeypatch, status, healthy):
    monkeypatch.setattr(health, "HUB_PORT", http_server(status))
    assert health.probe({}) == healthy


def test_health_probe_nobody_listening(monkeypatch, capsys):
    monkeypatch.setattr(health, "HUB_PORT", 1)
    assert health.probe({}) == 1
    assert "unhealthy" in capsys.readouterr().err
