"""Docker calls of many spawns at once: a pool of threads instead of DockerSpawner's one.

DockerSpawner sends every Docker call of every user through a single worker thread, so
fifty users starting at once wait in one queue for each other's container creates and
starts, while the engine could serve them side by side. This spawner has a pool of
threads instead, and a Docker client with as many connections.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from dockerspawner import DockerSpawner
from traitlets import Integer, default

# Measured on the 2-core test machine (benchmarks/README.md): more threads than this only
# queue inside the engine, which serialises container creation anyway.
DOCKER_THREADS = 8


class PooledDockerSpawner(DockerSpawner):
    """DockerSpawner whose Docker calls run on a pool of threads."""

    docker_threads = Integer(
        DOCKER_THREADS,
        help="Threads (and connections to the engine) for Docker calls, shared by every spawner.",
    ).tag(config=True)

    @default("client_kwargs")
    def _client_kwargs_default(self):
        # docker-py keeps 10 connections; more threads than that would each open and drop one.
        return {"max_pool_size": self.docker_threads}

    _pool: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """One pool per spawner class (like DockerSpawner's one thread), made on first use."""
        cls = type(self)
        if cls.__dict__.get("_pool") is None:
            cls._pool = ThreadPoolExecutor(self.docker_threads, thread_name_prefix="docker")
        return cls._pool
