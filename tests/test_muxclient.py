"""The multiplexing client against a real server: replies in order, faults as redis-py's exceptions."""
import asyncio
import socket

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from simlib.errors import UsageError
from simlib.lab import make_client
from simlib.muxclient import MuxClient

pytestmark = pytest.mark.integration
PREFIX = "simlib:feedbeef0100:"


def mux(lab, **kw):
    return MuxClient.from_url(lab.store.url, pool_size=kw.get("pool_size", 8), timeout_ms=kw.get("timeout_ms", 2000))


def test_many_concurrent_commands_get_their_own_replies(lab, run):
    async def scenario():
        client = mux(lab)
        try:
            await asyncio.gather(*(client.set(f"{PREFIX}k{i}", i) for i in range(2000)))
            values = await asyncio.gather(*(client.get(f"{PREFIX}k{i}") for i in range(2000)))
            assert await client.set(f"{PREFIX}k0", "x", nx=True, px=1000) is None
            assert await client.set(f"{PREFIX}new", "x", nx=True, px=1000) is True
            return values
        finally:
            await client.unlink(*[f"{PREFIX}k{i}" for i in range(2000)], f"{PREFIX}new")
            await client.aclose()

    assert run(scenario()) == [str(i).encode() for i in range(2000)]


def test_watch_conflict_raises_watch_error(lab, run):
    async def scenario():
        client, other = mux(lab), make_client(lab.store.url, pool_size=2, timeout_ms=2000)
        key = f"{PREFIX}watched"
        try:
            async with client.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                assert await pipe.get(key) is None
                await other.set(key, "someone else")
                pipe.multi()
                pipe.set(key, "me")
                with pytest.raises(WatchError):
                    await pipe.execute()
            return await other.get(key)
        finally:
            await other.delete(key)
            await other.aclose()
            await client.aclose()

    assert run(scenario()) == b"someone else"


def test_server_errors_and_script_reload(lab, run):
    async def scenario():
        client = mux(lab)
        try:
            with pytest.raises(ResponseError):
                await client.execute_command("NOSUCHCOMMAND")
            script = client.register_script("return ARGV[1]")
            return await script(keys=[], args=["hello"])  # first call: NOSCRIPT, then SCRIPT LOAD and retry
        finally:
            await client.aclose()

    assert run(scenario()) == b"hello"


def test_a_server_that_never_answers_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    async def scenario():
        client = MuxClient.from_url(f"redis://127.0.0.1:{port}/0", pool_size=2, timeout_ms=200)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            with pytest.raises(RedisTimeoutError):
                await client.get("x")
            return loop.time() - started
        finally:
            await client.aclose()

    try:
        elapsed_s = asyncio.run(scenario())
    finally:
        listener.close()
    assert 0.15 <= elapsed_s < 1.0


def test_nothing_listening_is_a_connection_error():
    from simlib.servers import free_port

    async def scenario():
        client = MuxClient.from_url(f"redis://127.0.0.1:{free_port()}/0", pool_size=2, timeout_ms=500)
        try:
            with pytest.raises(RedisConnectionError):
                await client.get("x")
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_tls_urls_are_refused_with_a_hint():
    with pytest.raises(UsageError, match="--client redis-py"):
        MuxClient.from_url("rediss://127.0.0.1:6380/0", pool_size=1, timeout_ms=100)
