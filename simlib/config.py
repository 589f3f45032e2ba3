"""The scenario: one frozen record of everything that decides a run, validated once, at the edge.

Like a recipe card: the same card (and seed) gives the same workload. Every field is checked in
:meth:`Scenario.validate`, so a bad number is reported by the flag name users typed, before any server is touched.
"""
from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .errors import UsageError
from .urls import URL_SCHEMES, check_url, mask_url  # noqa: F401  (re-exported: config was their first home)

ARRIVALS = ("burst", "uniform", "poisson")
SEAT_CHOICES = ("same", "uniform", "hot")
CLIENTS = ("redis-py", "mux")

MAX_USERS = 10_000_000
MAX_SEATS = 10_000_000
MAX_POOL = 10_000
MAX_NODES = 15

#: Default lock lease. Far above any run, so a lock strategy stays exclusive unless a fault scenario says otherwise.
DEFAULT_TTL_MS = 30_000.0


def did_you_mean(value: object, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1) if isinstance(value, str) else []
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"choose from {', '.join(choices)}{hint}"


def flag_name(name: str) -> str:
    """The command-line flag of a scenario field: ``ttl_ms`` -> ``--ttl-ms``."""
    return "--" + name.replace("_", "-")


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Limit:
    """The accepted range of one numeric field, stated once for validation, ``--help`` and the tests."""

    kind: type
    """``int`` (whole numbers only) or ``float`` (finite: NaN and infinity are refused)."""
    low: float
    high: float
    low_open: bool = False
    """True when ``low`` itself is refused (a timeout of 0 is no timeout)."""

    def describe(self) -> str:
        if self.kind is int:
            return f"a whole number from {self.low:,} to {self.high:,}"
        if self.low_open:
            return f"a finite number above {_number(self.low)} and at most {_number(self.high)}"
        return f"a finite number from {_number(self.low)} to {_number(self.high)}"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        above_low = value > self.low if self.low_open else value >= self.low
        return above_low and value <= self.high

    def check(self, name: str, value: Any) -> None:
        """Raise :class:`UsageError` naming the flag and the range unless ``value`` is accepted."""
        if not self.accepts(value):
            raise UsageError(f"{flag_name(name)} must be {self.describe()} (got {value!r})")


#: Every numeric field and its range. ``None`` is allowed for the optional ones (users, vus, max_rate, workers).
LIMITS: dict[str, Limit] = {
    "users": Limit(int, 1, MAX_USERS),
    "vus": Limit(int, 1, MAX_POOL),
    "duration_s": Limit(float, 0, 3600, low_open=True),
    "think_ms": Limit(float, 0, 3_600_000),
    "seats": Limit(int, 1, MAX_SEATS),
    "window_s": Limit(float, 0, 3600),
    "ttl_ms": Limit(float, 1, 86_400_000),
    "hold_ms": Limit(float, 0, 60_000),
    "seed": Limit(int, 0, 2**63 - 1),
    "max_rate": Limit(float, 0, 1e9, low_open=True),
    "pool_size": Limit(int, 1, MAX_POOL),
    "workers": Limit(int, 1, MAX_POOL),
    "timeout_ms": Limit(float, 0, 600_000, low_open=True),
    "max_retries": Limit(int, 0, 1000),
    "net_delay_ms": Limit(float, 0, 10_000),
    "net_jitter_ms": Limit(float, 0, 10_000),
    "nodes": Limit(int, 3, MAX_NODES),
}
OPTIONAL = frozenset({"users", "vus", "max_rate", "workers"})


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

        _choice("strategy", self.strategy, registry.names())
        if self.vus is not None and self.users is not None:
            raise UsageError("--vus (closed model) and --users (open model) exclude each other: give one")
        if self.vus is None and self.users is None:
            raise UsageError("give --users N (open model) or --vus N (closed model)")
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if not (value is None and name in OPTIONAL):
                limit.check(name, value)
        _choice("arrival", self.arrival, ARRIVALS)
        if self.window_s == 0 and self.arrival != "burst" and self.users is not None:
            raise UsageError(f"--window-s 0 only goes with --arrival burst (got --arrival {self.arrival})")
        _choice("seat_choice", self.seat_choice, SEAT_CHOICES)
        _choice("client", self.client, CLIENTS)
        if self.nodes % 2 == 0:
            raise UsageError(f"--nodes must be odd so a majority is unambiguous (got {self.nodes}); try {self.nodes + 1}")
        if not isinstance(self.lock_urls, tuple):
            raise UsageError(f"--lock-url must be a list of URLs (got {type(self.lock_urls).__name__})")
        named = ([("--redis-url", self.redis_url)] if self.redis_url is not None else [])
        named += [("--lock-url", url) for url in self.lock_urls]
        seen: dict[str, str] = {}
        for flag, url in named:
            check_url(url, flag=flag)
            if url in seen:
                raise UsageError(
                    f"{flag} {mask_url(url)} is given twice (also as {seen[url]}): each server may be named once"
                )
            seen[url] = flag
        if self.client == "mux" and any(url.startswith("rediss://") for _, url in named):
            raise UsageError("--client mux speaks redis:// and unix:// only: use --client redis-py for rediss:// (TLS)")
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
        """The scenario of a ``config.json`` (its ``scenario`` object); :meth:`validate` it before use."""
        if not isinstance(data, dict):
            raise UsageError(f"--config: expected a JSON object of scenario fields (got {type(data).__name__})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"--config: unknown field(s) {', '.join(unknown)}")
        data = dict(data)
        if "lock_urls" in data:
            lock_urls = data["lock_urls"] or ()
            if not isinstance(lock_urls, (list, tuple)):
                raise UsageError(f"--config: lock_urls must be a list of URLs (got {lock_urls!r:.60})")
            data["lock_urls"] = tuple(lock_urls)
        return cls(**data)

    def __repr__(self) -> str:  # URLs masked: a notebook or a traceback may show it
        shown = ", ".join(f"{name}={value!r}" for name, value in self.to_dict(masked=True).items())
        return f"Scenario({shown})"

    def with_(self, **changes: Any) -> "Scenario":
        return replace(self, **changes)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{flag_name(name)} {value!r} is unknown: {did_you_mean(value, choices)}")
