"""A delaying TCP proxy on loopback: a slow network in front of each server, since this kernel has no netem.

Like a postman who holds every letter for a while before delivering it, in both directions, never reordering them.
Every chunk of bytes a proxy reads is delivered ``delay_ms`` later (plus a jitter drawn uniformly from
``[-jitter_ms, +jitter_ms]``, floored at zero and never earlier than the chunk before it, so TCP order is kept). The
delay applies to each direction, so a request/response round trip costs about ``2 * delay_ms`` more: the seed
article's requests averaged about 20 ms, i.e. ``--net-delay-ms 10``. Jitter comes from a ``random.Random`` seeded
from the run's seed and the server's role, so the same seed draws the same sequence of delays.

Used by ``--net-delay-ms``/``--net-jitter-ms`` on ``burst``, ``compare`` and ``faults``::

    async with proxied_urls({"store": url}, delay_ms=5, jitter_ms=1, seed=0) as urls:
        client = make_client(urls["store"], ...)
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

HOST = "127.0.0.1"
CHUNK_BYTES = 65536


class DelayProxy:
    """One listening socket on 127.0.0.1 forwarding to ``target_port`` with a delay each way."""

    def __init__(self, target_host: str, target_port: int, *, delay_ms: float, jitter_ms: float, rng: random.Random):
        self.target = (target_host, target_port)
        self.delay_s, self.jitter_s, self.rng = delay_ms / 1000, jitter_ms / 1000, rng
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            self._writers.discard(client_writer)
            return
        self._writers.add(server_writer)
        pumps = [self._spawn(self._pump(client_reader, server_writer)),
                 self._spawn(self._pump(server_reader, client_writer))]
        await asyncio.gather(*pumps, return_exceptions=True)
        for writer in (client_writer, server_writer):
            writer.close()
            self._writers.discard(writer)

    def _due(self, previous: float) -> float:
        jitter = self.rng.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0
        return max(time.monotonic() + max(0.0, self.delay_s + jitter), previous)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read chunks as they come, deliver each at its due time, in order; end when either side closes."""
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        delivering = self._spawn(deliver())
        previous = 0.0
        try:
            while True:
                data = await reader.read(CHUNK_BYTES)
                previous = self._due(previous)
                queue.put_nowait((previous, data or None))
                if not data:
                    break
            await delivering
        except (ConnectionError, OSError):
            pass
        finally:
            delivering.cancel()


def with_port(url: str, port: int) -> str:
    """``url`` pointing at ``127.0.0.1:port`` instead (credentials, path and query kept)."""
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, f"{auth}{HOST}:{port}", parts.path, parts.query, parts.fragment))


@contextlib.asynccontextmanager
async def proxied_urls(urls: dict[str, str], *, delay_ms: float, jitter_ms: float = 0.0,
                       seed: int = 0) -> AsyncIterator[dict[str, str]]:
    """Rewrite ``urls`` (role -> redis URL, in place) to delaying proxies while the block runs; restore them after.

    Without delay and jitter nothing is started and the URLs are left alone."""
    if delay_ms <= 0 and jitter_ms <= 0:
        yield urls
        return
    original = dict(urls)
    proxies: list[DelayProxy] = []
    try:
        for role, url in original.items():
            parts = urlsplit(url)
            if parts.scheme not in ("redis", "rediss") or not parts.port:
                raise ValueError(f"--net-delay-ms needs TCP servers; {role} is {parts.scheme}://")
            proxy = DelayProxy(parts.hostname or HOST, parts.port, delay_ms=delay_ms, jitter_ms=jitter_ms,
                               rng=random.Random(f"{seed}:{role}"))
            proxies.append(proxy)
            urls[role] = with_port(url, await proxy.start())
        yield urls
    finally:
        urls.update(original)
        for proxy in proxies:
            await proxy.close()
