"""The hub waits for its database (pyiron-hub serve) instead of crashing when it starts first."""

from __future__ import annotations

import socket
import threading
import time

from pyiron_hub_config.database import database_url, wait_for_database
from pyiron_hub_config.settings import load_settings


def _url(pg, port=None) -> str:
    settings = load_settings(
        {
            "AUTHENTICATOR": "dummy",
            "DUMMY_PASSWORD": "12345678",
            "OAUTH2_ALLOW_ALL": "true",
            "POSTGRES_HOST": pg["host"],
            "POSTGRES_PORT": str(port or pg["port"]),
            "POSTGRES_USER": pg["user"],
            "POSTGRES_PASSWORD": pg["password"],
            "POSTGRES_DB": pg["db"],
        }
    )
    return database_url(settings)


def test_answers_at_once_when_the_database_is_up(postgres):
    said = []
    assert wait_for_database(_url(postgres), timeout=5, log=said.append)
    assert said == []


def test_gives_up_after_the_timeout_and_says_why(postgres):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    said = []
    began = time.monotonic()
    assert not wait_for_database(_url(postgres, port), timeout=2, log=said.append, interval=0.2)
    assert time.monotonic() - began < 10
    assert said[0].startswith("pyiron-hub: waiting for the database at 127.0.0.1:")
    assert "still unreachable after 2s" in said[-1]
    assert postgres["password"] not in " ".join(said)


def test_waits_for_a_database_that_comes_up_later(postgres):
    """A TCP forwarder that starts listening only after a delay stands in for a slow start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def forward_later():
        time.sleep(1.5)
        server = socket.create_server(("127.0.0.1", port))
        server.settimeout(10)
        try:
            while True:
                client, _ = server.accept()
                upstream = socket.create_connection((postgres["host"], postgres["port"]))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pipe, args=(a, b), daemon=True).start()
        except OSError:
            pass

    threading.Thread(target=forward_later, daemon=True).start()
    said = []
    assert wait_for_database(_url(postgres, port), timeout=20, log=said.append, interval=0.2)
    assert len(said) == 1 and "waiting for the database" in said[0]


def _pipe(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        dst.close()
