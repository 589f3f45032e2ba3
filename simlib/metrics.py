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


def stats(values: pd.Series | np.ndarray) -> Stats:
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Stats(*([float("nan")] * 7))
    p50, p90, p95, p99 = np.percentile(data, [50, 90, 95, 99])
    return Stats(float(data.mean()), float(data.min()), float(p50), float(p90), float(p95), float(p99), float(data.max()))


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
    attempts: pd.DataFrame, *, arrival: str, window_s: float, closed: bool, lag_limit_ms: float = LAG_P99_LIMIT_MS
) -> Metrics:
    count = len(attempts)
    outcomes = {name: int(n) for name, n in attempts["outcome"].value_counts().items()}
    reasons = {name: int(n) for name, n in attempts["reason"].value_counts().items()}
    lag = stats(attempts["lag_ms"])
    if count:
        first_ns = float(attempts["scheduled_s"].min()) * 1e9
        wall_s = (float(attempts["ended_ns"].max()) - first_ns) / 1e9
        span_s = (float(attempts["started_ns"].max()) - first_ns) / 1e9
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
        outcomes={name: outcomes.get(name, 0) for name in OUTCOMES},
        reasons={name: reasons.get(name, 0) for name in REASONS},
        latency_ms=stats(attempts["latency_ms"]),
        response_ms=stats(attempts["response_ms"]),
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
