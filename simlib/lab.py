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
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pandas as pd
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from . import __version__
from .audit import Verdict, audit
from .config import Scenario, mask_url
from .errors import ServerRefused, ServerUnavailable, UsageError
from .keys import ROOT
from .metrics import Metrics, compute
from .runner import RunOutput, run_burst_with_clients
from .servers import Server, ServerGroup, find_binary
from .strategies import get as get_strategy
from .strategies import names as strategy_names

SCHEMA_VERSION = 1
PREFLIGHT_TIMEOUT_S = 2.0
FOREIGN_SAMPLES = 16


def no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def make_client(url: str, *, pool_size: int, timeout_ms: float) -> aioredis.Redis:
    """An asyncio client on a BlockingConnectionPool (waits for a free connection instead of raising)."""
    timeout_s = timeout_ms / 1000
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=no_retry(),  # no hidden second tries: a fault becomes an info outcome
    )
    # the pool's connections carry the retry policy; from_pool lets aclose() close the pool too
    return aioredis.Redis.from_pool(pool)


@dataclass
class Endpoint:
    """One server a run uses: its role (``store`` or ``lock-N``), how to reach it, and what it is."""

    role: str
    url: str
    binary: str
    version: str
    server: Server | None = None
    server_run_id: str = ""

    @property
    def public_url(self) -> str:
        return self.server.public_url if self.server else mask_url(self.url)

    def describe(self) -> dict[str, str]:
        return {"role": self.role, "binary": self.binary, "version": self.version, "url": self.public_url}


def preflight(role: str, url: str, *, allow_foreign: bool = False) -> Endpoint:
    """Check a user-given server: reachable, authenticated, a writable primary, no eviction, nothing foreign."""
    shown = mask_url(url)
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=PREFLIGHT_TIMEOUT_S, socket_connect_timeout=PREFLIGHT_TIMEOUT_S, retry=Retry(NoBackoff(), 0)
        )
    except ValueError as exc:
        raise UsageError(f"URL {shown} is malformed: {exc}") from None
    try:
        info = client.info()
        _refuse_unsafe(shown, info)
        if not allow_foreign:
            _refuse_foreign(shown, client)
    except redis.AuthenticationError:
        raise ServerUnavailable(f"{role} server {shown}: authentication failed; check the password in the URL") from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise ServerUnavailable(f"{role} server {shown}: authentication required or wrong; put the password in the URL") from None
        raise ServerRefused(f"{role} server {shown} answered with an error: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        reason = str(exc).split("\n")[0] or type(exc).__name__
        raise ServerUnavailable(f"{role} server {shown} is unreachable: {reason}") from None
    finally:
        client.close()
    version = str(info.get("valkey_version") or info.get("redis_version") or "")
    binary = "valkey-server" if info.get("server_name") == "valkey" or info.get("valkey_version") else "redis-server"
    return Endpoint(role=role, url=url, binary=f"{binary} (external)", version=version, server_run_id=str(info.get("run_id", "")))


def _refuse_unsafe(shown: str, info: dict) -> None:
    if info.get("role") not in (None, "master"):
        raise ServerRefused(f"{shown} is a replica (role {info.get('role')}); point simlib at a primary")
    if str(info.get("cluster_enabled", 0)) == "1":
        raise ServerRefused(f"{shown} runs in cluster mode, which simlib does not support; use a standalone server")
    policy = str(info.get("maxmemory_policy", "noeviction"))
    if int(info.get("maxmemory", 0) or 0) > 0 and policy != "noeviction":
        raise ServerRefused(
            f"{shown} evicts keys under memory pressure (maxmemory-policy {policy}); evicted locks would make the "
            "audit lie: use a server with noeviction"
        )


def _refuse_foreign(shown: str, client: redis.Redis) -> None:
    total = client.dbsize()
    if total == 0:
        return
    message = (
        f"{shown} holds keys that are not simlib's ({total:,} keys in this database); "
        "use an empty database, or pass --allow-foreign to share it (only this run's prefix is ever touched)"
    )
    for _ in range(min(FOREIGN_SAMPLES, total)):
        key = client.randomkey()
        if key is not None and not key.startswith(ROOT.encode()):
            raise ServerRefused(message)
    ours = sum(1 for _ in client.scan_iter(match=ROOT + "*", count=1000))
    if ours < total:
        raise ServerRefused(message)


def _embedded_endpoint(server: Server) -> Endpoint:
    return Endpoint(role=server.role, url=server.url, binary=os.path.basename(server.binary), version=server.version, server=server)


@dataclass(frozen=True)
class BurstResult:
    """Everything one burst produced: the scenario, every attempt, the audit's verdict and the figures."""

    scenario: Scenario
    run_id: str
    attempts: pd.DataFrame
    verdict: Verdict
    metrics: Metrics
    servers: tuple[dict, ...]
    started_at: str
    snapshot_owners: dict = field(repr=False, default_factory=dict)

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
        roles_to_start: list[str] = []
        if self.redis_url is None:
            roles_to_start.append("store")
        if self.with_lock_servers and not self.lock_urls:
            roles_to_start += [f"lock-{i + 1}" for i in range(self.nodes)]
        try:
            if roles_to_start:
                self._group = ServerGroup.start(roles_to_start, binary=find_binary())
            self.store = (
                preflight("store", self.redis_url, allow_foreign=self.allow_foreign)
                if self.redis_url
                else _embedded_endpoint(self._group.by_role("store"))
            )
            if self.with_lock_servers:
                self.locks = (
                    [preflight(f"lock-{i + 1}", url, allow_foreign=self.allow_foreign) for i, url in enumerate(self.lock_urls)]
                    if self.lock_urls
                    else [_embedded_endpoint(self._group.by_role(f"lock-{i + 1}")) for i in range(self.nodes)]
                )
            _refuse_same_server_twice([self.store, *self.locks])
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
        wrap_client: Callable[[str, Any], Any] | None = None,
        **fields,
    ) -> BurstResult:
        """Run one burst and audit it. Give a :class:`Scenario`, or its fields as keywords.

        ``wrap_client(role, client)`` may return a stand-in for each client the strategy uses (``store``,
        ``lock-1``...), e.g. a tracing client; the lab still closes the original.
        """
        scenario = (scenario.with_(**fields) if scenario else Scenario(**fields)).validate()
        if self.store is None:
            self.start()
        strategy_cls = get_strategy(scenario.strategy)
        if strategy_cls.needs_lock_servers and not self.locks:
            raise UsageError(f"--strategy {scenario.strategy} needs Redlock lock servers, but this lab has none")
        store = make_client(self.store.url, pool_size=scenario.pool_size, timeout_ms=scenario.timeout_ms)
        locks = [make_client(e.url, pool_size=scenario.pool_size, timeout_ms=scenario.timeout_ms) for e in self.locks]
        started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        used_store, used_locks = store, locks
        if wrap_client is not None:
            used_store = wrap_client("store", store)
            used_locks = [wrap_client(e.role, client) for e, client in zip(self.locks, locks)]
        try:
            output = await run_burst_with_clients(
                scenario, used_store, used_locks if strategy_cls.needs_lock_servers else (), progress=progress
            )
        finally:
            for client in [store, *locks]:
                await client.aclose()
        used = [self.store, *(self.locks if strategy_cls.needs_lock_servers else [])]
        return _result(scenario, output, tuple(e.describe() for e in used), started_at)


def _refuse_same_server_twice(endpoints: list[Endpoint]) -> None:
    seen: dict[str, Endpoint] = {}
    for endpoint in endpoints:
        rid = endpoint.server_run_id
        if rid and rid in seen:
            raise ServerRefused(
                f"{endpoint.public_url} and {seen[rid].public_url} reach the same server (run_id {rid[:8]}): "
                "Redlock needs independent servers"
            )
        if rid:
            seen[rid] = endpoint


def _result(scenario: Scenario, output: RunOutput, servers: tuple[dict, ...], started_at: str) -> BurstResult:
    verdict = audit(output.attempts, output.snapshot.owners, output.snapshot.ledger)
    metrics = compute(output.attempts, arrival=scenario.arrival, window_s=scenario.window_s, closed=scenario.closed)
    return BurstResult(
        scenario=scenario, run_id=output.run_id, attempts=output.attempts, verdict=verdict, metrics=metrics,
        servers=servers, started_at=started_at, snapshot_owners=output.snapshot.owners,
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
