"""The parts that make spawns and health checks cheap: pure logic, and real local sockets."""

from __future__ import annotations

import asyncio
import http.server
import ssl
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

from pyiron_hub_config.apply import HUB_PORT
from pyiron_hub_config.docker_pool import DOCKER_THREADS
from pyiron_hub_config.probes import health
from pyiron_hub_config.readiness import FINEST, PER_SECOND, answers, poll_interval
from pyiron_hub_config.spawner import PyironSpawner


# --- health probe ------------------------------------------------------------------------------
def test_health_probe_imports_nothing_heavy():
    # Docker runs the probe every few seconds; importing JupyterHub would cost two seconds each time.
    code = "import sys, pyiron_hub_config.probes.health; print(sorted({'jupyterhub', 'pydantic', 'dockerspawner', 'urllib.request', 'http.client', 'ssl'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_health_probe_asks_the_proxy_port():
    # the probe's own copy of the port (it imports nothing of the hub's), as the hub's config sets it
    assert health.health_url({}) == f"http://127.0.0.1:{HUB_PORT}/hub/health"
    assert health.health_url({"TLS_CERT_FILE": "/c.crt"}).startswith("https://")


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    asked = 0

    def do_GET(self):
        type(self).asked += 1
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A real HTTP server on a free local port answering every GET with `status`."""
    servers = []

    def start(status: int, tls: ssl.SSLContext | None = None):
        handler = type("Handler", (_Answer,), {"status": status})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        port = server.server_address[1]
        asked[port] = handler
        return port

    asked = {}
    start.asked = lambda port: asked[port].asked

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def hub_api(http_server, monkeypatch):
    """The hub's own port, answering 200."""
    monkeypatch.setattr(health, "HUB_API_PORT", http_server(200))


@pytest.mark.parametrize("status, healthy", [(200, 0), (503, 1)])
def test_health_probe_answer(http_server, monkeypatch, hub_api, status, healthy):
    monkeypatch.setattr(health, "HUB_PORT", http_server(status))
    assert health.probe({}) == healthy


@pytest.mark.parametrize("hub_status", [503, None])
def test_health_probe_asks_the_proxy_only_once_the_hub_answers(http_server, monkeypatch, hub_status):
    # The proxy listens before the hub; what it cannot pass on is an error in the hub's log.
    monkeypatch.setattr(health, "HUB_API_PORT", http_server(hub_status) if hub_status else 1)
    proxy = http_server(200)
    monkeypatch.setattr(health, "HUB_PORT", proxy)
    assert health.probe({}) == 1
    assert http_server.asked(proxy) == 0


def test_health_probe_of_the_hub_api_alone(http_server, monkeypatch):
    monkeypatch.setattr(health, "HUB_API_PORT", http_server(200))
    monkeypatch.setattr(health, "HUB_PORT", 1)  # swarm: the proxy is not asked
    assert health.probe({}, hub_api=True) == 0


def test_health_probe_over_tls_with_a_certificate_for_another_name(http_server, monkeypatch, hub_api, tmp_path):
    # TLS_CERT_FILE: the hub serves https itself, its certificate naming the public host.
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=hub.example.org",
            "-days",
            "1",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    monkeypatch.setattr(health, "HUB_PORT", http_server(200, tls))
    assert health.probe({"TLS_CERT_FILE": str(tmp_path / "cert.pem")}) == 0


def test_health_probe_nobody_listening(monkeypatch, hub_api, capsys):
    monkeypatch.setattr(health, "HUB_PORT", 1)
    assert health.probe({}) == 1
    assert "unhealthy" in capsys.readouterr().err


# --- readiness: the spawner's own fine poll ----------------------------------------------------
def test_a_lone_spawn_is_polled_finely():
    assert poll_interval(1) == FINEST


def test_many_spawns_together_stay_under_the_poll_budget():
    for waiting in (1, 10, 50, 200):
        assert waiting / poll_interval(waiting) <= max(PER_SECOND, 1 / FINEST)


@pytest.mark.parametrize("status, answered", [(200, True), (302, True), (404, True), (500, False), (503, False)])
def test_answers_like_the_hubs_own_check(http_server, status, answered):
    assert asyncio.run(answers("127.0.0.1", http_server(status), "/user/alice/")) is answered


def test_nobody_listening_is_not_an_answer():
    assert asyncio.run(answers("127.0.0.1", 1, "/")) is False


# --- Docker client pool ------------------------------------------------------------------------
def spawner() -> PyironSpawner:
    return PyironSpawner(user=SimpleNamespace(name="alice"))


def test_spawners_share_one_pool_of_several_threads():
    first, second = spawner(), spawner()
    assert first.executor is second.executor
    assert first.executor._max_workers == DOCKER_THREADS > 1


def test_docker_client_keeps_a_connection_per_thread():
    assert spawner().client_kwargs == {"max_pool_size": DOCKER_THREADS}
