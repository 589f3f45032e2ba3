"""The lab bench: servers (ours or the user's), clients built per run, and the public async API.

``Lab`` is the room where bursts happen: without URLs it starts private servers on loopback (one store, plus N
Redlock lock servers when a strategy needs them) and stops them when closed; with URLs it first checks that each
server is reachable, distinct and safe to use. Each burst gets fresh clients with the scenario's pool size and
timeouts, and redis-py's automatic retries turned off, so a fault becomes an ``info`` outcome instead of a hidden
second try.

    async with Lab() as lab:                      # in a notebook: top-level await
        result = await lab.burst(Scenario(strategy="naive", users=10_000, hold_ms=5))

    result = simlib.run_burst_sync(strategy="setnx")   # in a script
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import os
import platform
import threading
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pandas as pd
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from . import __version__
from .audit import Verdict, audit
from .config import Scenario
from .errors import UsageError
from .metrics import Metrics, compute
from .netdelay import proxied_urls
from .runner import RunOutput, run_burst_with_clients
from .preflight import PREFLIGHT_TIMEOUT_S, Endpoint, check_servers, preflight, preflight_all  # noqa: F401
from .servers import Server, ServerGroup, find_binary
from .strategies import get as get_strategy
from .strategies import names as strategy_names

SCHEMA_VERSION = 1


def no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


#: Opening a connection may take longer than a command: --timeout-ms bounds commands, this bounds connecting.
CONNECT_TIMEOUT_MIN_S = 1.0


def make_client(url: str, *, pool_size: int, timeout_ms: float, kind: str = "redis-py"):
    """An asyncio client: redis-py on a BlockingConnectionPool (waits for a free connection instead of raising),
    or the multiplexing client (``kind="mux"``), which speaks the same subset of the API."""
    if kind == "mux":
        from .muxclient import MuxClient

        return MuxClient.from_url(url, pool_size=pool_size, timeout_ms=timeout_ms)
    timeout_s = timeout_ms / 1000
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=max(timeout_s, CONNECT_TIMEOUT_MIN_S),
        retry=no_retry(),  # no hidden second tries: a fault becomes an info outcome
    )
    # the pool's connections carry the retry policy; from_pool lets aclose() close the pool too
    return aioredis.Redis.from_pool(pool)


def _embedded_endpoint(server: Server) -> Endpoint:
    return Endpoint(role=server.role, url=server.url, binary=os.path.basename(server.binary), version=server.version, server=server)


@dataclass(frozen=True)
class BurstResult:
    """Everything one burst produced: the scenario, every attempt, the audit's verdict and the figures."""

    scenario: Scenario
    run_id: str
    attempts: pd.DataFrame | None
    """Every attempt (one row each); None for a streamed run, whose rows are in ``attempts_path``."""
    verdict: Verdict
    metrics: Metrics
    servers: tuple[dict, ...]
    started_at: str
    snapshot_owners: dict = field(repr=False, default_factory=dict)
    attempts_path: Path | None = None

    @property
    def valid(self) -> bool:
        return self.verdict.valid

    def summary(self) -> dict[str, Any]:
        """The JSON contract of ``simlib burst --json`` (schema_version 1)."""
        m, v, s = self.metrics, self.verdict, self.scenario
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "strategy": s.strategy,
            "users": s.users,
            "vus": s.vus,
            "seats": s.seats,
            "client": s.client,
            "net_delay_ms": s.net_delay_ms,
            "net_jitter_ms": s.net_jitter_ms,
            "attempts": m.attempts,
            "outcomes": m.outcomes,
            "reasons": m.reasons,
            "booked": v.booked,
            "seats_sold": v.seats_sold,
            "double_booked_seats": v.double_booked_seats,
            "oversold": v.oversold,
            "lost": v.lost,
            "unsold": v.unsold,
            "info_took_effect": v.info_took_effect,
            "audit_valid": v.valid,
            "evidence": v.to_dict()["evidence"],
            "latency_ms": m.latency_ms.to_dict(),
            "response_ms": m.response_ms.to_dict(("avg", "p50", "p95", "p99", "max")),
            "lag_ms": m.lag_ms.to_dict(("p50", "p99", "max")),
            "achieved_rate_per_s": round(m.achieved_rate_per_s, 1),
            "target_rate_per_s": None if m.target_rate_per_s is None else round(m.target_rate_per_s, 1),
            "schedule_kept": m.schedule_kept,
            "schedule_note": m.schedule_note,
            "wall_s": round(m.wall_s, 4),
            "servers": [{k: d[k] for k in ("role", "binary", "version")} for d in self.servers],
        }


class Lab:
    """Servers for a series of bursts. Embedded (started here) unless URLs are given."""

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        lock_urls: Iterable[str] = (),
        nodes: int = 5,
        with_lock_servers: bool = True,
        allow_foreign: bool = False,
    ):
        self.redis_url, self.lock_urls, self.nodes = redis_url, tuple(lock_urls), nodes
        self.with_lock_servers, self.allow_foreign = with_lock_servers, allow_foreign
        self.store: Endpoint | None = None
        self.locks: list[Endpoint] = []
        self._group: ServerGroup | None = None

    @classmethod
    def for_scenarios(cls, scenarios: Iterable[Scenario], *, allow_foreign: bool = False) -> "Lab":
        scenarios = list(scenarios)
        first = scenarios[0]
        needs_locks = any(get_strategy(s.strategy).needs_lock_servers for s in scenarios)
        return cls(redis_url=first.redis_url, lock_urls=first.lock_urls, nodes=first.nodes,
                   with_lock_servers=needs_locks, allow_foreign=allow_foreign)

    # ---- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> "Lab":
        """Check the user's servers (all at once, before starting anything), then start the missing ones."""
        external = check_servers(self.redis_url, self.lock_urls, with_locks=self.with_lock_servers,
                                 allow_foreign=self.allow_foreign)
        roles_to_start: list[str] = []
        if self.redis_url is None:
            roles_to_start.append("store")
        if self.with_lock_servers and not self.lock_urls:
            roles_to_start += [f"lock-{i + 1}" for i in range(self.nodes)]
        try:
            if roles_to_start:
                self._group = ServerGroup.start(roles_to_start, binary=find_binary())
            self.store = external.get("store") or _embedded_endpoint(self._group.by_role("store"))
            if self.with_lock_servers:
                lock_roles = [f"lock-{i + 1}" for i in range(len(self.lock_urls) or self.nodes)]
                self.locks = [external.get(role) or _embedded_endpoint(self._group.by_role(role)) for role in lock_roles]
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._group is not None:
            self._group.stop()
            self._group = None

    async def __aenter__(self) -> "Lab":
        return self.start()

    async def __aexit__(self, *exc_info) -> None:
        self.close()

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def endpoints(self) -> list[Endpoint]:
        return [e for e in [self.store, *self.locks] if e is not None]

    # ---- running -------------------------------------------------------------------------------------------
    async def burst(
        self,
        scenario: Scenario | None = None,
        *,
        progress: Callable[[int], None] | None = None,
        stream_to: Path | str | None = None,
        wrap_client: Callable[[str, Any], Any] | None = None,
        **fields,
    ) -> BurstResult:
        """Run one burst and audit it. Give a :class:`Scenario`, or its fields as keywords.

        ``stream_to`` (a CSV path) streams the attempts to disk and keeps only aggregates in memory, for runs of
        millions of attempts; ``result.attempts`` is then None. ``wrap_client(role, client)`` may return a
        stand-in for each client the strategy uses (``store``, ``lock-1``...), e.g. a tracing client; the lab
        still closes the original.
        """
        scenario = (scenario.with_(**fields) if scenario else Scenario(**fields)).validate()
        if self.store is None:
            self.start()
        strategy_cls = get_strategy(scenario.strategy)
        if strategy_cls.needs_lock_servers and not self.locks:
            raise UsageError(f"--strategy {scenario.strategy} needs Redlock lock servers, but this lab has none")
        options = {"pool_size": scenario.pool_size, "timeout_ms": scenario.timeout_ms, "kind": scenario.client}
        urls = {e.role: e.url for e in self.endpoints}
        started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        async with proxied_urls(urls, delay_ms=scenario.net_delay_ms, jitter_ms=scenario.net_jitter_ms, seed=scenario.seed):
            store = make_client(urls["store"], **options)
            locks = [make_client(urls[e.role], **options) for e in self.locks] if strategy_cls.needs_lock_servers else []
            used_store, used_locks = store, locks
            if wrap_client is not None:
                used_store = wrap_client("store", store)
                used_locks = [wrap_client(e.role, client) for e, client in zip(self.locks, locks)]
            try:
                output = await run_burst_with_clients(scenario, used_store, used_locks, progress=progress,
                                                      stream_to=Path(stream_to) if stream_to else None)
            finally:
                for client in [store, *locks]:
                    await client.aclose()
        used = [self.store, *(self.locks if strategy_cls.needs_lock_servers else [])]
        return _result(scenario, output, tuple(e.describe() for e in used), started_at)


def _result(scenario: Scenario, output: RunOutput, servers: tuple[dict, ...], started_at: str) -> BurstResult:
    verdict = audit(output.tally, output.snapshot.owners, output.snapshot.ledger)
    metrics = compute(output.tally, arrival=scenario.arrival, window_s=scenario.window_s, closed=scenario.closed)
    return BurstResult(
        scenario=scenario, run_id=output.run_id, attempts=output.attempts, verdict=verdict, metrics=metrics,
        servers=servers, started_at=started_at, snapshot_owners=output.snapshot.owners,
        attempts_path=output.attempts_path,
    )


# ---- the public one-call API ----------------------------------------------------------------------------------
async def run_burst(scenario: Scenario | None = None, *, allow_foreign: bool = False, **fields) -> BurstResult:
    """Start (or connect to) servers, run one burst, audit it, stop the servers. ``await`` it in a notebook."""
    scenario = (scenario.with_(**fields) if scenario else Scenario(**fields)).validate()
    with Lab.for_scenarios([scenario], allow_foreign=allow_foreign) as lab:
        return await lab.burst(scenario)


async def compare(
    scenario: Scenario | None = None,
    *,
    strategies: Iterable[str] | None = None,
    repeat: int = 1,
    allow_foreign: bool = False,
    progress_factory: Callable[[Scenario, int], Callable[[int], None] | None] | None = None,
    **fields,
) -> list[BurstResult]:
    """Every chosen strategy (all registered by default) on the same seeded workload, ``repeat`` times each."""
    base = scenario.with_(**fields) if scenario else Scenario(**fields)
    chosen = list(strategies) if strategies is not None else list(strategy_names())
    if not chosen:
        raise UsageError("--strategies names no strategy")
    if repeat < 1 or repeat > 100:
        raise UsageError(f"--repeat must be from 1 to 100 (got {repeat})")
    scenarios = [base.with_(strategy=name).validate() for name in chosen]
    results = []
    with Lab.for_scenarios(scenarios, allow_foreign=allow_foreign) as lab:
        for one in scenarios:
            for index in range(repeat):
                progress = progress_factory(one, index) if progress_factory else None
                results.append(await lab.burst(one, progress=progress))
    return results


def run_sync(coro):
    """Run a coroutine from plain code, also where an event loop is already running (a notebook cell)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="simlib-run-sync")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_burst_sync(scenario: Scenario | None = None, **fields) -> BurstResult:
    """:func:`run_burst` for scripts."""
    return run_sync(run_burst(scenario, **fields))


def compare_sync(scenario: Scenario | None = None, **fields) -> list[BurstResult]:
    """:func:`compare` for scripts."""
    return run_sync(compare(scenario, **fields))


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "simlib": __version__,
        "redis_py": redis.__version__,
    }
