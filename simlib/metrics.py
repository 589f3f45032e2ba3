"""Pure figures from the attempts: latency percentiles, throughput, outcome counts, schedule lag.

Like the stats sheet after a match: computed from the record, never from the game. Service time (``latency_ms``)
runs from the first command sent; response time (``response_ms``) from the fan's scheduled arrival, so queueing in
the harness shows up instead of hiding (coordinated omission).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .record import OUTCOMES, REASONS
from .tally import Distribution, Tally

#: The schedule counts as kept when lag p99 stays within this and the release rate reaches this share of target.
LAG_P99_LIMIT_MS = 50.0
RATE_SHARE_MIN = 0.95


@dataclass(frozen=True)
class Stats:
    """avg / min / percentiles / max of one column, in the column's unit (ms)."""

    avg: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    def to_dict(self, keys: tuple[str, ...] = ("avg", "p50", "p90", "p95", "p99", "max")) -> dict[str, float]:
        return {key: round(getattr(self, key), 3) for key in keys}


def stats(values: Distribution | pd.Series | np.ndarray) -> Stats:
    if not isinstance(values, Distribution):
        distribution = Distribution(exact=True)
        distribution.add(np.asarray(values, dtype=float))
        values = distribution
    if values.count == 0:
        return Stats(*([float("nan")] * 7))
    p50, p90, p95, p99 = values.percentiles([50, 90, 95, 99])
    return Stats(values.mean, values.low, p50, p90, p95, p99, values.high)


@dataclass(frozen=True)
class Metrics:
    """Figures for one run."""

    attempts: int
    outcomes: dict[str, int]
    reasons: dict[str, int]
    latency_ms: Stats
    response_ms: Stats
    lag_ms: Stats
    wall_s: float
    """First scheduled arrival to the end of the last attempt."""
    release_span_s: float
    """First scheduled arrival to the start of the last attempt: how long it took to release every fan."""
    achieved_rate_per_s: float
    """Attempts released per second over the release span (for a burst, over the drain)."""
    target_rate_per_s: float | None
    """users / window for uniform and poisson arrivals; None for a burst (all due at t=0) or closed model."""
    schedule_kept: bool
    schedule_note: str


def compute(
    attempts: pd.DataFrame | Tally, *, arrival: str, window_s: float, closed: bool,
    lag_limit_ms: float = LAG_P99_LIMIT_MS,
) -> Metrics:
    """Figures for a run, from its attempts frame (exact percentiles) or its :class:`Tally` (streamed runs)."""
    tally = attempts if isinstance(attempts, Tally) else Tally.from_frame(attempts)
    count = tally.attempts
    lag = stats(tally.lag_ms)
    if count:
        first_ns = tally.first_scheduled_s * 1e9
        wall_s = (tally.last_ended_ns - first_ns) / 1e9
        span_s = (tally.last_started_ns - first_ns) / 1e9
    else:
        wall_s = span_s = 0.0
    achieved = count / max(span_s, 1e-9) if count > 1 else float(count)
    if closed:
        target, kept, note = None, True, "closed model: virtual users start each iteration when the last one ends"
    elif arrival == "burst":
        target = None
        kept = count == 0 or lag.p99 <= lag_limit_ms
        note = (
            f"burst: all {count:,} fans due at t=0; lag measures the drain: p99 {lag.p99:.1f} ms"
            + ("" if kept else f" > {lag_limit_ms:g} ms, so fans were released late")
        )
    else:
        target = count / window_s
        rate_ok = achieved >= RATE_SHARE_MIN * target
        lag_ok = lag.p99 <= lag_limit_ms
        kept = rate_ok and lag_ok
        note = (
            f"achieved {achieved:,.0f}/s of {target:,.0f}/s target, lag p99 {lag.p99:.1f} ms: "
            + ("schedule kept" if kept else "SCHEDULE NOT KEPT"
               + ("" if rate_ok else f" (rate below {RATE_SHARE_MIN:.0%} of target)")
               + ("" if lag_ok else f" (lag p99 over {lag_limit_ms:g} ms)"))
        )
    return Metrics(
        attempts=count,
        outcomes={name: int(tally.outcomes.get(name, 0)) for name in OUTCOMES},
        reasons={name: int(tally.reasons.get(name, 0)) for name in REASONS},
        latency_ms=stats(tally.latency_ms),
        response_ms=stats(tally.response_ms),
        lag_ms=lag,
        wall_s=wall_s,
        release_span_s=span_s,
        achieved_rate_per_s=achieved,
        target_rate_per_s=target,
        schedule_kept=kept,
        schedule_note=note,
    )


def seat_ok_counts(attempts: pd.DataFrame) -> pd.Series:
    """Distinct ok fans per seat: the count the audit's double bookings come from."""
    ok = attempts[attempts["outcome"] == "ok"]
    return ok.groupby("seat_id")["user_id"].nunique()
