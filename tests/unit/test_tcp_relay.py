"""The SSH relay to the demo's login node (relay/tcp_relay.py): bytes both ways, to its one target only."""

from __future__ import annotations

import asyncio

import pytest

from pyiron_hub_config.relay.tcp_relay import main, serve


async def test_bytes_go_both_ways_to_the_one_target():
    async def echo(reader, writer):
        writer.write(b"hello from the login node\n" + await reader.readline())
        await writer.drain()
        writer.close()

    target = await asyncio.start_server(echo, "127.0.0.1", 0)
    target_port = target.sockets[0].getsockname()[1]
    relay = await serve(0, "127.0.0.1", target_port, bind="127.0.0.1")
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.sockets[0].getsockname()[1])
    writer.write(b"ssh\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b"hello from the login node\nssh\n"
    writer.close()
    relay.close()
    target.close()


async def test_a_target_that_does_not_answer_closes_the_client():
    free = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = free.sockets[0].getsockname()[1]
    free.close()
    await free.wait_closed()
    relay = await serve(0, "127.0.0.1", port, bind="127.0.0.1")
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.sockets[0].getsockname()[1])
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    relay.close()


@pytest.mark.parametrize("to", ["cluster", "cluster:ssh", ":22"])
def test_a_target_without_host_and_port_is_refused(to, capsys):
    with pytest.raises(SystemExit):
        main(["--listen", "22", "--to", to])
    assert "give host:port, e.g. cluster:22" in capsys.readouterr().err
