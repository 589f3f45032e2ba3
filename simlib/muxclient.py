"""A lean multiplexing asyncio Redis client: many fans' commands share a few connections, one write per loop tick.

Think of a mail van that leaves once per round instead of one van per letter. Each fan still awaits every one of
its own replies before deciding its next step, so a strategy's race window is exactly what it is with redis-py;
only *independent* fans' commands travel together. Redis answers in order on each connection, so replies are
matched to waiting futures first-in, first-out. Replies are parsed by hiredis.

It speaks the small subset of redis-py's asyncio API the strategies and the runner use (``get``, ``set``,
``mget``, ``lrange``, ``rpush``, ``unlink``, ``delete``, ``scan_iter``, ``script_load``, ``register_script``,
``pipeline`` with ``watch``/``multi``/``execute``), so strategy code stays one path. WATCH belongs to a connection,
so each watching pipeline borrows a dedicated connection from a bounded pool.

Faults become the same exceptions redis-py raises (``redis.exceptions.ConnectionError``, ``TimeoutError``,
``ResponseError``, ``WatchError``): a command not answered within the timeout fails, with every command queued
behind it on that connection, and the connection is dropped (its reply stream can no longer be trusted). There are
no automatic retries.
"""
from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any, Iterable
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Connections shared by all non-WATCH commands (round robin). One Redis thread serves them all anyway.
SHARED_CONNECTIONS = 2
#: Connecting may take longer than a command; the per-command timeout does not apply to it.
CONNECT_TIMEOUT_MIN_S = 1.0


class _Link(asyncio.Protocol):
    """One TCP (or unix) connection: queued commands go out on the next loop tick; replies resolve futures FIFO."""

    def __init__(self, timeout_s: float):
        self.loop = asyncio.get_running_loop()
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.pending: deque[tuple[asyncio.Future, float]] = deque()
        self.outbox: list[bytes] = []
        self.flush_scheduled = False
        self.watchdog: asyncio.TimerHandle | None = None
        self.closed = False

    # ---- asyncio.Protocol ----------------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        pending = self.pending
        while True:
            reply = self.reader.gets()
            if reply is False:
                break
            future, _ = pending.popleft()
            if future.done():
                continue
            if isinstance(reply, ResponseError):
                future.set_exception(_specific(reply))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_all(RedisConnectionError(f"connection lost: {exc}" if exc else "connection closed by server"))

    # ---- sending -------------------------------------------------------------------------------------------
    def send(self, commands: Iterable[tuple]) -> list[asyncio.Future]:
        """Queue commands contiguously (a MULTI ... EXEC group stays together) and return their reply futures."""
        if self.closed:
            raise RedisConnectionError("connection is closed")
        now = self.loop.time()
        futures = []
        for command in commands:
            self.outbox.append(hiredis.pack_command(command))
            future = self.loop.create_future()
            self.pending.append((future, now))
            futures.append(future)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)
        if self.watchdog is None:
            self.watchdog = self.loop.call_later(self.timeout_s, self._check_timeouts)
        return futures

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.outbox and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self.outbox))
        self.outbox.clear()

    def _check_timeouts(self) -> None:
        self.watchdog = None
        if not self.pending:
            return
        age_s = self.loop.time() - self.pending[0][1]
        if age_s >= self.timeout_s:
            self._fail_all(RedisTimeoutError(f"no reply within {self.timeout_s * 1000:g} ms"))
            self.close()
        else:
            self.watchdog = self.loop.call_later(self.timeout_s - age_s, self._check_timeouts)

    def _fail_all(self, error: Exception) -> None:
        self.closed = True
        while self.pending:
            future, _ = self.pending.popleft()
            if not future.done():
                future.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        if self.transport is not None:
            self.transport.close()


def _consume(future: asyncio.Future) -> None:
    """Retrieve a fire-and-forget reply's exception so asyncio does not warn about it."""
    if not future.cancelled():
        future.exception()


def _specific(error: ResponseError) -> ResponseError:
    text = str(error)
    if text.startswith("NOSCRIPT"):
        return NoScriptError(text)
    return error


def _arg(value: Any) -> Any:
    return value if isinstance(value, (bytes, str, int, float)) else str(value)


class MuxClient:
    """The multiplexing client. Build with :meth:`from_url`; close with :meth:`aclose`."""

    def __init__(self, *, host: str | None, port: int, path: str | None, password: str | None, username: str | None,
                 db: int, timeout_s: float, pool_size: int):
        self.host, self.port, self.path = host, port, path
        self.password, self.username, self.db = password, username, db
        self.timeout_s = timeout_s
        self.shared: list[_Link | None] = [None] * SHARED_CONNECTIONS
        self.turn = 0
        self.connect_lock = asyncio.Lock()
        self.idle: list[_Link] = []
        self.slots = asyncio.Semaphore(pool_size)
        self.all_links: set[_Link] = set()

    @classmethod
    def from_url(cls, url: str, *, pool_size: int, timeout_ms: float) -> "MuxClient":
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "unix"):
            from .errors import UsageError

            raise UsageError(f"--client mux speaks redis:// and unix:// only (got {parts.scheme}://); use --client redis-py for TLS")
        db = 0
        if parts.scheme == "redis" and parts.path.strip("/"):
            db = int(parts.path.strip("/"))
        return cls(
            host=parts.hostname if parts.scheme == "redis" else None,
            port=parts.port or 6379,
            path=parts.path if parts.scheme == "unix" else None,
            password=unquote(parts.password) if parts.password else None,
            username=unquote(parts.username) if parts.username else None,
            db=db,
            timeout_s=timeout_ms / 1000,
            pool_size=pool_size,
        )

    # ---- connections ---------------------------------------------------------------------------------------
    async def _open(self) -> _Link:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(max(self.timeout_s, CONNECT_TIMEOUT_MIN_S)):
                if self.path:
                    _, link = await loop.create_unix_connection(lambda: _Link(self.timeout_s), self.path)
                else:
                    _, link = await loop.create_connection(lambda: _Link(self.timeout_s), self.host, self.port)
        except TimeoutError:
            raise RedisTimeoutError(f"connecting took over {max(self.timeout_s, CONNECT_TIMEOUT_MIN_S) * 1000:.0f} ms") from None
        except OSError as exc:
            raise RedisConnectionError(f"cannot connect: {exc.strerror or exc}") from None
        hello = []
        if self.password:
            hello.append(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password))
        if self.db:
            hello.append(("SELECT", self.db))
        if hello:
            await asyncio.gather(*link.send(hello))
        self.all_links.add(link)
        return link

    async def _shared_link(self) -> _Link:
        self.turn = (self.turn + 1) % SHARED_CONNECTIONS
        link = self.shared[self.turn]
        if link is not None and not link.closed:
            return link
        async with self.connect_lock:
            link = self.shared[self.turn]
            if link is None or link.closed:
                link = self.shared[self.turn] = await self._open()
        return link

    async def _borrow(self) -> _Link:
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.slots.acquire()
        except TimeoutError:
            raise RedisConnectionError("no connection available within the timeout (pool exhausted)") from None
        while self.idle:
            link = self.idle.pop()
            if not link.closed:
                return link
        try:
            return await self._open()
        except BaseException:
            self.slots.release()
            raise

    def _give_back(self, link: _Link) -> None:
        if not link.closed:
            self.idle.append(link)
        self.slots.release()

    # ---- commands ------------------------------------------------------------------------------------------
    async def execute_command(self, *args: Any) -> Any:
        link = await self._shared_link()
        (future,) = link.send([tuple(_arg(a) for a in args)])
        return await future

    async def ping(self) -> bool:
        return await self.execute_command("PING") == b"PONG"

    async def get(self, key: str) -> bytes | None:
        return await self.execute_command("GET", key)

    async def set(self, key: str, value: Any, *, nx: bool = False, px: int | None = None) -> bool | None:
        args: list[Any] = ["SET", key, value]
        if px is not None:
            args += ["PX", int(px)]
        if nx:
            args.append("NX")
        return True if await self.execute_command(*args) == b"OK" else None

    async def mget(self, keys: list[str]) -> list:
        return await self.execute_command("MGET", *keys) if keys else []

    async def lrange(self, key: str, start: int, end: int) -> list:
        return await self.execute_command("LRANGE", key, start, end)

    async def rpush(self, key: str, *values: Any) -> int:
        return await self.execute_command("RPUSH", key, *values)

    async def unlink(self, *keys: Any) -> int:
        return await self.execute_command("UNLINK", *keys)

    async def delete(self, *keys: Any) -> int:
        return await self.execute_command("DEL", *keys)

    async def scan_iter(self, *, match: str, count: int = 1000):
        cursor = b"0"
        while True:
            cursor, keys = await self.execute_command("SCAN", cursor, "MATCH", match, "COUNT", count)
            for key in keys:
                yield key
            if cursor == b"0":
                return

    async def script_load(self, source: str) -> str:
        return (await self.execute_command("SCRIPT", "LOAD", source)).decode()

    def register_script(self, source: str) -> "_Script":
        return _Script(self, source)

    def pipeline(self, transaction: bool = True) -> "_Pipeline":
        return _Pipeline(self, transaction)

    async def aclose(self) -> None:
        for link in list(self.all_links):
            link.close()
        self.all_links.clear()
        self.idle.clear()
        self.shared = [None] * SHARED_CONNECTIONS


class _Script:
    """EVALSHA with one SCRIPT LOAD and retry on NOSCRIPT, like redis-py's AsyncScript."""

    def __init__(self, client: MuxClient, source: str):
        self.client, self.source = client, source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, *, keys: list = (), args: list = ()) -> Any:
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return await self.client.execute_command(*command)
        except NoScriptError:
            await self.client.script_load(self.source)
            return await self.client.execute_command(*command)


class _Pipeline:
    """MULTI/EXEC on a shared connection, or WATCH + immediate reads + MULTI/EXEC on a borrowed one."""

    def __init__(self, client: MuxClient, transaction: bool):
        self.client, self.transaction = client, transaction
        self.queued: list[tuple] = []
        self.link: _Link | None = None
        self.watching = False
        self.watch_reply: asyncio.Future | None = None

    async def __aenter__(self) -> "_Pipeline":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.reset()

    async def reset(self) -> None:
        self.queued.clear()
        if self.link is not None:
            link, self.link = self.link, None
            if self.watching and not link.closed:
                # no need to wait: the next borrower's commands queue behind UNWATCH on the same connection
                link.send([("UNWATCH",)])[0].add_done_callback(_consume)
            if self.watch_reply is not None:
                self.watch_reply.add_done_callback(_consume)
            self.watching, self.watch_reply = False, None
            self.client._give_back(link)

    async def watch(self, *keys: str) -> None:
        """Send WATCH. Its reply is checked with the next read: the server still sees WATCH before that read,
        so the watched window is unchanged; the fan just does not wait a round trip for "OK"."""
        if self.link is None:
            self.link = await self.client._borrow()
        self.watch_reply = self.link.send([("WATCH", *keys)])[0]
        self.watching = True

    async def _watch_confirmed(self) -> None:
        if self.watch_reply is not None:
            reply, self.watch_reply = self.watch_reply, None
            await reply

    def multi(self) -> None:
        self.queued.clear()

    def __getattr__(self, name: str):
        raise AttributeError(f"the mux client's pipeline has no '{name}'")

    async def get(self, key: str) -> bytes | None:
        if not self.watching:
            raise RuntimeError("queue GET in a mux pipeline only after watch() (immediate mode)")
        reply = self.link.send([("GET", key)])[0]
        await self._watch_confirmed()
        return await reply

    def set(self, key: str, value: Any) -> "_Pipeline":
        self.queued.append(("SET", key, _arg(value)))
        return self

    def rpush(self, key: str, *values: Any) -> "_Pipeline":
        self.queued.append(("RPUSH", key, *(_arg(v) for v in values)))
        return self

    def delete(self, *keys: str) -> "_Pipeline":
        self.queued.append(("DEL", *keys))
        return self

    async def execute(self) -> list:
        commands = [("MULTI",), *self.queued, ("EXEC",)] if self.transaction else list(self.queued)
        self.queued = []
        link = self.link or await self.client._shared_link()
        futures = link.send(commands)
        await self._watch_confirmed()
        results = await asyncio.gather(*futures, return_exceptions=True)
        self.watching = False  # EXEC ends any WATCH
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if not self.transaction:
            return results
        replies = results[-1]
        if replies is None:
            raise WatchError("Watched variable changed.")
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies
