"""The preflight: before a run touches a user's server, check it is reachable, authenticated and safe to use.

Like a pilot's walk-around: every server named by URL is looked at once, all at the same time, before anything
is started or written. It must answer within :data:`PREFLIGHT_TIMEOUT_S` (redis-py's retries off, so a dead server
fails once), be a primary (not a replica), not a cluster, not evict keys under memory pressure (evicted locks would
make the audit lie), and hold no keys but simlib's unless foreign keys are allowed. Two URLs that reach the same
server (same ``run_id``) are refused. Everything is read from INFO, DBSIZE, RANDOMKEY and SCAN: managed Redis often
disables CONFIG, and nothing is ever written here (never FLUSHDB, FLUSHALL or KEYS).

This module imports redis but not pandas, so a command line with a dead server fails fast.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

from .config import check_url, mask_url
from .errors import ServerRefused, ServerUnavailable, SimlibError, UsageError
from .keys import ROOT, is_run_key
from .servers import Server

#: Connect and first-answer timeout of the preflight; all servers are checked at once, so N dead ones cost this once.
PREFLIGHT_TIMEOUT_S = 1.0
#: Extra time the preflight waits for a check stuck outside the socket timeouts (a slow DNS lookup).
PREFLIGHT_GRACE_S = 0.5
FOREIGN_SAMPLES = 16
PRIMARY_ROLES = ("master", "primary")


@dataclass
class Endpoint:
    """One server a run uses: its role (``store`` or ``lock-N``), how to reach it, and what it is."""

    role: str
    url: str = field(repr=False)  # carries the password: show public_url
    binary: str
    version: str
    server: Server | None = None
    server_run_id: str = ""

    @property
    def public_url(self) -> str:
        return self.server.public_url if self.server else mask_url(self.url)

    def describe(self) -> dict[str, str]:
        return {"role": self.role, "binary": self.binary, "version": self.version, "url": self.public_url}


def preflight(role: str, url: str, *, allow_foreign: bool = False, answered: threading.Event | None = None) -> Endpoint:
    """Check a user-given server: reachable, authenticated, a writable primary, no eviction, nothing foreign.

    Reads only (INFO, DBSIZE, RANDOMKEY, SCAN): nothing is written, and redis-py's retries are off so a dead server
    fails once, within :data:`PREFLIGHT_TIMEOUT_S`. ``answered`` is set once the server has answered INFO.
    """
    shown = mask_url(url)
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=PREFLIGHT_TIMEOUT_S, socket_connect_timeout=PREFLIGHT_TIMEOUT_S,
            retry=SyncRetry(NoBackoff(), 0),
        )
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{role} URL {shown} is malformed: {exc}") from None
    try:
        info = client.info()
        if answered is not None:
            answered.set()
        _refuse_unsafe(shown, info)
        if not allow_foreign:
            _refuse_foreign(shown, client)
    except redis.AuthenticationError as exc:
        raise ServerUnavailable(_auth_failure(role, url, shown, exc)) from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise ServerUnavailable(_auth_failure(role, url, shown, exc)) from None
        raise ServerRefused(f"{role} server {shown} answered with an error: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise ServerUnavailable(_unreachable(role, url, shown, exc)) from None
    except (redis.exceptions.InvalidResponse, redis.DataError) as exc:
        raise ServerUnavailable(
            f"{role} server {shown} does not speak the Redis protocol ({str(exc).splitlines()[0]}); check the port"
        ) from None
    finally:
        client.close()
    version = str(info.get("valkey_version") or info.get("redis_version") or "")
    binary = "valkey-server" if info.get("server_name") == "valkey" or info.get("valkey_version") else "redis-server"
    return Endpoint(role=role, url=url, binary=f"{binary} (external)", version=version, server_run_id=str(info.get("run_id", "")))


def _auth_failure(role: str, url: str, shown: str, exc: Exception) -> str:
    if "@" not in url and "password=" not in url:
        return f"{role} server {shown} requires a password: put it in the URL, e.g. redis://:PASSWORD@host:port/0"
    return f"{role} server {shown}: authentication failed (wrong user or password); check the credentials in the URL"


def _unreachable(role: str, url: str, shown: str, exc: Exception) -> str:
    reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    if url.startswith("rediss://") and isinstance(exc, (redis.TimeoutError, TimeoutError)) and _speaks_plain(url):
        return (f"{role} server {shown}: TLS handshake got no answer, and the port speaks plain Redis: "
                "use redis:// instead of rediss://")
    if url.startswith("rediss://"):
        return f"{role} server {shown}: TLS connection failed ({reason}); check the port and certificates"
    if "closed by server" in reason.lower() or "connection reset" in reason.lower():
        return f"{role} server {shown} closed the connection ({reason}); if it expects TLS, use rediss://"
    where = "the socket path" if url.startswith("unix://") else "the host, the port"
    return f"{role} server {shown} is unreachable ({reason}); check {where} and that the server runs"


def _speaks_plain(url: str) -> bool:
    """True if the host and port of a rediss:// URL answer a plain (non-TLS) PING, even with an auth error."""
    plain = redis.Redis.from_url(
        "redis://" + url[len("rediss://"):].split("?", 1)[0],
        socket_timeout=PREFLIGHT_TIMEOUT_S / 2, socket_connect_timeout=PREFLIGHT_TIMEOUT_S / 2,
        retry=SyncRetry(NoBackoff(), 0), protocol=2,
    )
    try:
        plain.ping()
        return True
    except (redis.AuthenticationError, redis.ResponseError):
        return True
    except (redis.RedisError, OSError):
        return False
    finally:
        plain.close()


def preflight_all(named: list[tuple[str, str]], *, allow_foreign: bool = False) -> list[Endpoint]:
    """:func:`preflight` every ``(role, url)`` at once: five dead servers fail together, in one timeout."""
    results: dict[int, Endpoint | BaseException] = {}
    answered = [threading.Event() for _ in named]

    def check(index: int, role: str, url: str) -> None:
        try:
            results[index] = preflight(role, url, allow_foreign=allow_foreign, answered=answered[index])
        except BaseException as exc:  # handed to the caller's thread below
            results[index] = exc

    threads = [threading.Thread(target=check, args=(i, role, url), name=f"simlib-preflight-{role}", daemon=True)
               for i, (role, url) in enumerate(named)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 2 * PREFLIGHT_TIMEOUT_S + PREFLIGHT_GRACE_S
    for index, thread in enumerate(threads):
        thread.join(max(0.0, deadline - time.monotonic()))
        if answered[index].is_set():
            thread.join()  # it answered: the foreign-key scan may take a while on a big database, but it ends
    failures = [results.get(i) for i in range(len(named)) if not isinstance(results.get(i), Endpoint)]
    if failures:
        first = failures[0]
        if first is None:  # still stuck (e.g. in a DNS lookup) after the deadline
            role, url = next((r, u) for i, (r, u) in enumerate(named) if i not in results)
            first = ServerUnavailable(f"{role} server {mask_url(url)} did not answer within {PREFLIGHT_TIMEOUT_S:g} s")
        if len(failures) > 1 and isinstance(first, SimlibError):
            raise type(first)(f"{first} (and {len(failures) - 1} more of the {len(named)} servers failed too)")
        raise first
    return [results[i] for i in range(len(named))]


def _refuse_unsafe(shown: str, info: dict) -> None:
    if info.get("role") not in (None, *PRIMARY_ROLES):
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
        if key is not None and not is_run_key(key):
            raise ServerRefused(message)
    ours = sum(1 for key in client.scan_iter(match=ROOT + "*", count=1000) if is_run_key(key))
    if ours < total:
        raise ServerRefused(message)


def refuse_same_server_twice(endpoints: list[Endpoint]) -> None:
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


def check_servers(redis_url: str | None, lock_urls: tuple[str, ...], *, with_locks: bool,
                  allow_foreign: bool = False) -> dict[str, Endpoint]:
    """Preflight every server named by URL (the store; the lock servers if ``with_locks``) at once, and refuse two
    URLs that reach the same server. Returns the endpoints by role (``store``, ``lock-1``...)."""
    named = [("store", redis_url)] if redis_url else []
    if with_locks:
        named += [(f"lock-{i + 1}", url) for i, url in enumerate(lock_urls)]
    for role, url in named:  # a Lab built by hand skips Scenario.validate: check the URLs on paper first
        check_url(url, flag="--redis-url" if role == "store" else "--lock-url")
    endpoints = preflight_all(named, allow_foreign=allow_foreign)
    refuse_same_server_twice(endpoints)
    return {endpoint.role: endpoint for endpoint in endpoints}
