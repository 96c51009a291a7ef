"""The pipelined Redis connection admission runs its scripts on, against the machine's real Redis."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.core.redis_pipe import RedisPipe, Script
from tests.support.ports import free_port

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def pipe() -> AsyncIterator[RedisPipe]:
    pipe = RedisPipe(URL)
    yield pipe
    await pipe.aclose()


def key() -> str:
    return f"tollgate-test-pipe:{random.randrange(10**12)}"


async def test_concurrent_commands_get_their_own_replies(pipe: RedisPipe) -> None:
    counter = key()
    replies = await asyncio.gather(*(pipe.call("INCR", counter) for _ in range(300)))
    assert sorted(replies) == list(range(1, 301))
    assert await pipe.call("GET", counter) == b"300"
    await pipe.call("DEL", counter)


async def test_a_script_unknown_to_redis_is_sent_whole_once(pipe: RedisPipe) -> None:
    script = Script.of(f"-- {random.random()}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])")
    counter = key()
    async with Redis.from_url(URL) as direct:
        assert await direct.script_exists(script.sha) == [False]
        assert await pipe.run(script, [counter], [5]) == 5  # NOSCRIPT, then EVAL
        assert await direct.script_exists(script.sha) == [True]
        assert await pipe.run(script, [counter], [2]) == 7  # EVALSHA
        await direct.delete(counter)


async def test_errors_from_redis_reach_the_caller_and_the_connection_goes_on(pipe: RedisPipe) -> None:
    text = key()
    await pipe.call("SET", text, "not a number")
    with pytest.raises(ResponseError):
        await pipe.call("INCR", text)
    assert await pipe.call("PING") == b"PONG"
    await pipe.call("DEL", text)


async def test_a_cancelled_caller_leaves_the_replies_in_step(pipe: RedisPipe) -> None:
    waiting = asyncio.ensure_future(pipe.call("BLPOP", key(), "0.3"))  # holds the connection 0.3 s
    await asyncio.sleep(0.05)
    waiting.cancel()
    assert await pipe.call("ECHO", "after") == b"after"  # not BLPOP's nil


async def test_the_database_in_the_url_is_selected() -> None:
    pipe, name = RedisPipe("redis://127.0.0.1:6379/3"), key()
    try:
        await pipe.call("SET", name, "three")
        async with Redis.from_url("redis://127.0.0.1:6379/3") as db3, Redis.from_url(URL) as db0:
            assert await db3.get(name) == b"three"
            assert await db0.get(name) is None
            await db3.delete(name)
    finally:
        await pipe.aclose()


async def test_a_unix_socket_url_is_reached_as_redis_py_would(tmp_path: Path) -> None:
    socket = tmp_path / "redis.sock"
    server = await asyncio.create_subprocess_exec(
        *("redis-server", "--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no"),
        stdout=asyncio.subprocess.DEVNULL,
    )
    pipe = RedisPipe(f"unix://{socket}?db=2")
    try:
        for _ in range(100):
            if socket.exists():
                break
            await asyncio.sleep(0.05)
        assert await pipe.call("SET", "k", "v") == b"OK"
        async with Redis.from_url(f"unix://{socket}?db=2") as db2:
            assert await db2.get("k") == b"v"
    finally:
        await pipe.aclose()
        server.kill()
        await server.wait()


async def test_no_redis_fails_at_once() -> None:
    pipe = RedisPipe(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(RedisConnectionError):
        await pipe.call("PING")
    assert time.monotonic() - started < 0.5


async def test_a_silent_redis_times_out_every_waiting_command_and_the_next_call_reconnects() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pipe = RedisPipe(f"redis://127.0.0.1:{port}/0", reply_timeout=0.2)
    try:
        started = time.monotonic()
        results = await asyncio.gather(pipe.call("PING"), pipe.call("PING"), return_exceptions=True)
        assert all(isinstance(r, RedisTimeoutError) for r in results), results
        assert 0.2 <= time.monotonic() - started < 1.0
        with pytest.raises(RedisTimeoutError):
            await pipe.call("PING")
        assert len(connections) == 2  # the silent connection was dropped and a new one opened
    finally:
        await pipe.aclose()
        server.close()
        await server.wait_closed()


async def test_commands_sent_in_one_turn_of_the_loop_go_out_together_in_order(pipe: RedisPipe) -> None:
    name = key()
    await pipe.call("PING")  # connected
    replies = await asyncio.gather(
        pipe.call("SET", name, "one"), pipe.call("APPEND", name, "+two"), pipe.call("GET", name)
    )
    assert replies == [b"OK", 7, b"one+two"]
    await pipe.call("DEL", name)


async def test_a_held_command_goes_out_with_the_next_one_or_on_its_own(pipe: RedisPipe) -> None:
    name = key()
    await pipe.call("PING")  # connected
    in_flight = asyncio.ensure_future(pipe.call("ECHO", "in flight"))
    await asyncio.sleep(0)  # the ECHO is queued: with a command in flight, the SET may be held
    held = asyncio.ensure_future(pipe.call("SET", name, "held", hold=True))
    await asyncio.sleep(0)
    assert await pipe.call("GET", name) == b"held"  # written together, in order
    assert await in_flight == b"in flight"
    assert await held == b"OK"
    started = time.monotonic()
    assert await pipe.call("DEL", name, hold=True) == 1  # alone: nothing to wait for, written at once
    assert time.monotonic() - started < 0.1
