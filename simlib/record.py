"""Records: what a strategy returns for one booking, and the row the runner keeps for every attempt.

A record is a receipt: it says what happened and carries its units in its field names (``_ms``, ``_ns``, ``_s``).
Outcomes follow Jepsen's vocabulary: ``ok`` (the fan was told "yours"), ``fail`` (definitely not booked) and
``info`` (timed out or errored: the booking may or may not have happened; the audit decides from the ledger).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

OK, FAIL, INFO = "ok", "fail", "info"
OUTCOMES = (OK, FAIL, INFO)

#: Why an attempt ended as it did. ``booked`` goes with ok; the next three with fail; the last two with info.
REASONS = ("booked", "seat_taken", "lock_contended", "gave_up", "timeout", "error")


@dataclass(frozen=True, slots=True)
class Result:
    """What a strategy's ``book`` call reports. It carries no timing: the runner owns the clock."""

    outcome: str
    """``ok``, ``fail`` or ``info``."""
    reason: str
    """One of :data:`REASONS`."""
    retries: int = 0
    """How many times the strategy started over (WatchError, failed quorum)."""
    round_trips: int = 0
    """Network round trips to any server (a pipeline or a concurrent fan-out to N servers counts once)."""
    lock_token: str = ""
    """The random token of the lock acquisition that led to this result, if any."""
    fence_token: int | None = None
    """A monotonically increasing fencing token, for the fenced strategies."""
    error: str = ""
    """Error text for ``info`` results."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One fan's attempt (open model) or one virtual user's iteration (closed model): a row of ``attempts.csv``."""

    run_id: str
    """The run's id; every key the run touched lives under ``simlib:<run_id>:``."""
    strategy: str
    """Registered name of the strategy."""
    user_id: int
    """The fan (open model) or virtual user (closed model)."""
    seat_id: int
    """The seat wanted, 0-based."""
    scheduled_s: float
    """When the fan was due, seconds after the burst start (closed model: when the iteration began)."""
    started_ns: int
    """When the first command was sent, monotonic ns relative to the burst start."""
    ended_ns: int
    """When the strategy returned, monotonic ns relative to the burst start."""
    lag_ms: float
    """How late the fan was released: started - scheduled."""
    latency_ms: float
    """Service time: ended - started."""
    response_ms: float
    """Response time from the scheduled arrival: ended - scheduled (queueing included; see coordinated omission)."""
    outcome: str
    reason: str
    retries: int
    round_trips: int
    lock_token: str
    fence_token: int | None
    error: str


ATTEMPT_COLUMNS = tuple(f.name for f in fields(Attempt))
