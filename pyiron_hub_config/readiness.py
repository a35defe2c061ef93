"""Tell the hub a server is up as soon as it answers, not up to seconds later.

After Spawner.start() the hub polls the new server with an exponential back-off (0.2 s,
0.4 s, 0.8 s, ... up to 5 s, not configurable), so a server that answers after 1.5 s is
seen at about 3 s. Here the spawner polls the server itself, finely, before it returns:
the hub's first poll then finds it answering. The poll interval grows with the number of
servers starting at once, so that fifty spawns do not flood the hub's one CPU.
"""

from __future__ import annotations

import asyncio
import time

from dockerspawner import DockerSpawner

# One poll every FINEST seconds for a lone spawn; all spawns together at most PER_SECOND polls.
FINEST = 0.05
PER_SECOND = 40
# After this, the spawner returns anyway and the hub's own wait (and time-out) takes over.
PATIENCE = 60.0
# While polling, whether the server ended meanwhile is asked this often (an API call, not a socket).
ENDED_EVERY = 0.5


def poll_interval(waiting: int) -> float:
    """Seconds between one server's polls while `waiting` servers are polled at once."""
    return max(FINEST, waiting / PER_SECOND)


async def answers(host: str, port: int, path: str, timeout: float = 5) -> bool:
    """True if an HTTP server answers GET path with anything but a 5xx (as the hub's check).

    A bare HTTP/1.0 request on a socket: no client library with a connection limit (tornado's
    allows 10 at once) stands between fifty spawns and their servers.
    """
    writer = None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
        status = await asyncio.wait_for(reader.readline(), timeout)
    except (TimeoutError, OSError):  # refused: not listening yet
        return False
    finally:
        if writer is not None:
            writer.close()
    parts = status.split()
    return len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < 500


class AnswerBeforeReady(DockerSpawner):
    """A DockerSpawner whose start() returns once the server answers.

    A DockerSpawner, not a mixin of any Spawner: placed anywhere among the other layers that
    subclass DockerSpawner, it still wraps DockerSpawner.start(), which returns (ip, port).
    """

    _waiting = 0  # servers being polled right now, all spawners together

    async def start(self):
        ip, port = await super().start()
        if not self.internal_ssl:  # with internal TLS, leave the check to the hub and its certificates
            await self._wait_until_answering(ip, port, self.server.base_url)
        return ip, port

    async def _wait_until_answering(self, ip: str, port: int, path: str, ended=None):
        """None once the server answers (or PATIENCE ran out); what `ended()` said if it ended first.

        The hub's own wait never looks at the server's process: one that exits before it
        answers is waited for until SPAWN_TIMEOUT. `ended`, asked every ENDED_EVERY seconds,
        returns something true (e.g. why) once the server will never answer.
        """
        deadline = time.monotonic() + min(PATIENCE, self.http_timeout)
        ask_ended = time.monotonic() + ENDED_EVERY
        AnswerBeforeReady._waiting += 1
        try:
            while time.monotonic() < deadline:
                if await answers(ip, port, path):
                    return None
                if ended is not None and time.monotonic() >= ask_ended:
                    why = await ended()
                    if why:
                        return why
                    ask_ended = time.monotonic() + ENDED_EVERY
                await asyncio.sleep(poll_interval(AnswerBeforeReady._waiting))
            return None
        finally:
            AnswerBeforeReady._waiting -= 1
