"""The scenario: one frozen record of everything that decides a run, validated once, at the edge.

Like a recipe card: the same card (and seed) gives the same workload. Every field is checked in
:meth:`Scenario.validate`, so a bad number is reported by the flag name users typed, before any server is touched.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import UsageError

ARRIVALS = ("burst", "uniform", "poisson")
SEAT_CHOICES = ("same", "uniform", "hot")
URL_SCHEMES = ("redis", "rediss", "unix")
CLIENTS = ("redis-py", "mux")

MAX_USERS = 10_000_000
MAX_SEATS = 10_000_000
MAX_POOL = 10_000
MAX_NODES = 15

#: Default lock lease. Far above any run, so a lock strategy stays exclusive unless a fault scenario says otherwise.
DEFAULT_TTL_MS = 30_000.0


def did_you_mean(value: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"choose from {', '.join(choices)}{hint}"


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for messages, logs and config.json."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Scenario:
    """Everything a burst needs. Fields map one to one onto the CLI flags (``users`` is ``--users``)."""

    strategy: str = "setnx"
    users: int | None = 10_000
    """Open model: fans arriving over the window. ``None`` when ``vus`` is set."""
    vus: int | None = None
    """Closed model (k6 constant-vus): virtual users looping for ``duration_s``."""
    duration_s: float = 10.0
    think_ms: float = 1000.0
    seats: int = 1
    window_s: float = 1.0
    arrival: str = "burst"
    seat_choice: str = "uniform"
    ttl_ms: float = DEFAULT_TTL_MS
    hold_ms: float = 0.0
    seed: int = 0
    max_rate: float | None = None
    pool_size: int = 50
    workers: int | None = None
    timeout_ms: float = 5000.0
    max_retries: int = 3
    nodes: int = 5
    client: str = "redis-py"
    """``redis-py`` (the asyncio client the notebooks teach with) or ``mux`` (simlib's multiplexing client)."""
    redis_url: str | None = None
    lock_urls: tuple[str, ...] = field(default_factory=tuple)
    net_delay_ms: float = 0.0
    """Delay per direction through a loopback proxy in front of each server (:mod:`simlib.netdelay`); 0 = none."""
    net_jitter_ms: float = 0.0
    """Uniform jitter (+-) on each proxied delay, drawn from the seed."""

    # ---- derived -------------------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self.vus is not None

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers is not None else self.pool_size

    @property
    def lock_nodes(self) -> int:
        return len(self.lock_urls) if self.lock_urls else self.nodes

    # ---- validation ----------------------------------------------------------------------------------------
    def validate(self) -> "Scenario":
        """Return self if every field is in range; otherwise raise :class:`UsageError` naming the flag."""
        from .strategies import registry  # local: strategies import config

        names = registry.names()
        if self.strategy not in names:
            raise UsageError(f"--strategy '{self.strategy}' is unknown: {did_you_mean(self.strategy, names)}")
        if self.vus is not None and self.users is not None:
            raise UsageError("--vus (closed model) and --users (open model) exclude each other: give one")
        if self.vus is None and self.users is None:
            raise UsageError("give --users N (open model) or --vus N (closed model)")
        if self.users is not None:
            _int_range("users", self.users, 1, MAX_USERS)
        if self.vus is not None:
            _int_range("vus", self.vus, 1, MAX_POOL)
            _finite("duration_s", self.duration_s, positive=True, upper=3600)
            _finite("think_ms", self.think_ms, positive=False, upper=3_600_000)
        _int_range("seats", self.seats, 1, MAX_SEATS)
        _finite("window_s", self.window_s, positive=False, upper=3600)
        if self.arrival not in ARRIVALS:
            raise UsageError(f"--arrival '{self.arrival}' is unknown: {did_you_mean(self.arrival, ARRIVALS)}")
        if self.window_s == 0 and self.arrival != "burst" and self.users is not None:
            raise UsageError(f"--window-s 0 only goes with --arrival burst (got --arrival {self.arrival})")
        if self.seat_choice not in SEAT_CHOICES:
            raise UsageError(
                f"--seat-choice '{self.seat_choice}' is unknown: {did_you_mean(self.seat_choice, SEAT_CHOICES)}"
            )
        _finite("ttl_ms", self.ttl_ms, positive=True, upper=86_400_000)
        if self.ttl_ms < 1:
            raise UsageError(f"--ttl-ms must be at least 1 (got {self.ttl_ms}): Redis PX takes whole milliseconds")
        _finite("hold_ms", self.hold_ms, positive=False, upper=60_000)
        _int_range("seed", self.seed, 0, 2**63 - 1)
        if self.max_rate is not None:
            _finite("max_rate", self.max_rate, positive=True, upper=1e9)
        _int_range("pool_size", self.pool_size, 1, MAX_POOL)
        if self.workers is not None:
            _int_range("workers", self.workers, 1, MAX_POOL)
        _finite("timeout_ms", self.timeout_ms, positive=True, upper=600_000)
        _int_range("max_retries", self.max_retries, 0, 1000)
        _finite("net_delay_ms", self.net_delay_ms, positive=False, upper=10_000)
        _finite("net_jitter_ms", self.net_jitter_ms, positive=False, upper=10_000)
        _int_range("nodes", self.nodes, 3, MAX_NODES)
        if self.client not in CLIENTS:
            raise UsageError(f"--client '{self.client}' is unknown: {did_you_mean(self.client, CLIENTS)}")
        if self.nodes % 2 == 0:
            raise UsageError(f"--nodes must be odd so a majority is unambiguous (got {self.nodes}); try {self.nodes + 1}")
        urls = ([self.redis_url] if self.redis_url else []) + list(self.lock_urls)
        for url in urls:
            check_url(url)
        seen: set[str] = set()
        for url in urls:
            if url in seen:
                raise UsageError(f"the URL {mask_url(url)} is given twice: each server may be named once")
            seen.add(url)
        if self.lock_urls and (len(self.lock_urls) < 3 or len(self.lock_urls) % 2 == 0):
            raise UsageError(
                f"--lock-url needs an odd number of Redlock servers, at least 3 (got {len(self.lock_urls)})"
            )
        return self

    # ---- (de)serialisation ---------------------------------------------------------------------------------
    def to_dict(self, *, masked: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["lock_urls"] = list(self.lock_urls)
        if masked:
            data["redis_url"] = mask_url(self.redis_url) if self.redis_url else None
            data["lock_urls"] = [mask_url(u) for u in self.lock_urls]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Scenario":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"--config: unknown field(s) {', '.join(unknown)}")
        data = dict(data)
        if "lock_urls" in data:
            data["lock_urls"] = tuple(data["lock_urls"] or ())
        return cls(**data)

    def with_(self, **changes: Any) -> "Scenario":
        return replace(self, **changes)


def check_url(url: str) -> None:
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        raise UsageError(f"URL '{mask_url(url)}' cannot be parsed; expected redis://host:port") from None
    if scheme not in URL_SCHEMES:
        raise UsageError(
            f"URL '{mask_url(url)}' has scheme '{scheme or '(none)'}': use {', '.join(s + '://' for s in URL_SCHEMES)}"
        )


def _int_range(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{_flag(name)} must be a whole number from {low:,} to {high:,} (got {value!r})")
    if not low <= value <= high:
        raise UsageError(f"{_flag(name)} must be from {low:,} to {high:,} (got {value:,})")


def _finite(name: str, value: Any, *, positive: bool, upper: float) -> None:
    kind = "positive" if positive else "non-negative"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise UsageError(f"{_flag(name)} must be a finite {kind} number up to {upper:g} (got {value!r})")
    if value < 0 or (positive and value == 0) or value > upper:
        raise UsageError(f"{_flag(name)} must be a finite {kind} number up to {upper:g} (got {value:g})")
