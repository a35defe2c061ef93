"""A TCP relay to one port of one host: how users' servers reach a cluster's login node run as a container.

    python3 -m pyiron_hub_config.relay.tcp_relay --listen 22 --to cluster:22

A login node is a shell for every user. Joined into every user's network (user_networks.py)
it would reach every user's server, and a user logged in there would reach the others'
ports: a bridge between users. So the login node stays off users' networks, and this relay
is joined instead (USERS_REACH): it forwards what arrives on its port to the login node's
SSH port and nowhere else, never to a server, and holds no shell. The login node's host key
is what users' SSH checks, through the relay as directly.

Written by hand because it is forty lines of asyncio: socat or HAProxy would mean one more
image to build and keep. Standard library only (it runs in the hub image, as its own
service, with no Docker socket, no secret, no capability).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

CHUNK = 64 * 1024
CONNECT_TIMEOUT = 10.0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, OSError):
            pass


def handler(host: str, port: int):
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
        except (TimeoutError, OSError) as err:
            peer = client_writer.get_extra_info("peername")
            print(f"tcp_relay: {peer} -> {host}:{port} failed: {err}", file=sys.stderr, flush=True)
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, target_writer), _pipe(target_reader, client_writer))

    return handle


async def serve(listen: int, host: str, port: int, bind: str = "0.0.0.0") -> asyncio.base_events.Server:
    return await asyncio.start_server(handler(host, port), bind, listen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=int, required=True, help="the port to listen on, e.g. 22")
    parser.add_argument("--to", required=True, help="host:port to forward to, e.g. cluster:22")
    args = parser.parse_args(argv)
    host, _, port = args.to.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--to {args.to!r}: give host:port, e.g. cluster:22")

    async def run() -> None:
        server = await serve(args.listen, host, int(port))
        print(f"tcp_relay: :{args.listen} -> {host}:{port}", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
