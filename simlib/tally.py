"""Aggregates of a run's attempts, built chunk by chunk: what the audit and the metrics need, and no more.

Like a scorekeeper's sheet instead of a video of the whole match: counts per outcome and reason, the fans told
"yours" per seat, the info attempts, the seats that turned someone away, and latency distributions. A run that
fits in memory keeps the exact values too (exact percentiles); a streamed run (records written to disk as they
come) keeps log-bucket histograms only, whose percentiles are within :data:`RELATIVE_ERROR` of the truth.
Pure: numpy and pandas only.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Histogram buckets grow by this factor: a percentile read from them is within about 1% of the exact value.
GROWTH = 1.02
RELATIVE_ERROR = GROWTH - 1
LOWEST_MS = 1e-3
HIGHEST_MS = 1e7
_BUCKETS = int(math.ceil(math.log(HIGHEST_MS / LOWEST_MS) / math.log(GROWTH))) + 2


class Distribution:
    """One column's values (ms): a log histogram always, the exact values when ``exact`` is set."""

    def __init__(self, *, exact: bool):
        self.counts = np.zeros(_BUCKETS, dtype=np.int64)
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.values: list[np.ndarray] | None = [] if exact else None

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=float)
        if values.size == 0:
            return
        clipped = np.clip(values, LOWEST_MS, HIGHEST_MS)
        index = np.floor(np.log(clipped / LOWEST_MS) / math.log(GROWTH)).astype(np.int64) + 1
        index[values < LOWEST_MS] = 0
        np.add.at(self.counts, index, 1)
        self.count += values.size
        self.total += float(values.sum())
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))
        if self.values is not None:
            self.values.append(values)

    def percentiles(self, qs: list[float]) -> list[float]:
        if self.count == 0:
            return [math.nan] * len(qs)
        if self.values is not None:
            return [float(v) for v in np.percentile(np.concatenate(self.values), qs)]
        cumulative = np.cumsum(self.counts)
        out = []
        for q in qs:
            rank = max(1, math.ceil(q / 100 * self.count))
            bucket = int(np.searchsorted(cumulative, rank))
            upper = 0.0 if bucket == 0 else LOWEST_MS * GROWTH ** bucket
            out.append(min(max(upper, self.low), self.high))
        return out

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan


@dataclass
class Tally:
    """Everything the audit and metrics read, accumulated with :meth:`update` over chunks of attempt rows."""

    exact: bool = True
    attempts: int = 0
    outcomes: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    ok_fans: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    """seat_id -> distinct fans told "yours"."""
    ok_rows: int = 0
    info_pairs: list[tuple[int, int]] = field(default_factory=list)
    """(seat_id, user_id) of every info attempt."""
    turned_away: set[int] = field(default_factory=set)
    """Seats some fan was refused ("fail") from."""
    first_scheduled_s: float = math.inf
    last_started_ns: int = 0
    last_ended_ns: int = 0
    latency_ms: Distribution = field(init=False)
    response_ms: Distribution = field(init=False)
    lag_ms: Distribution = field(init=False)

    def __post_init__(self) -> None:
        self.latency_ms = Distribution(exact=self.exact)
        self.response_ms = Distribution(exact=self.exact)
        self.lag_ms = Distribution(exact=self.exact)

    @classmethod
    def from_frame(cls, attempts: pd.DataFrame, *, exact: bool = True) -> "Tally":
        return cls(exact=exact).update(attempts)

    def update(self, chunk: pd.DataFrame) -> "Tally":
        if chunk.empty:
            return self
        self.attempts += len(chunk)
        outcome = chunk["outcome"]
        self.outcomes.update(outcome.value_counts().to_dict())
        if "reason" in chunk:
            self.reasons.update(chunk["reason"].value_counts().to_dict())
        ok = chunk.loc[outcome == "ok", ["seat_id", "user_id"]]
        self.ok_rows += len(ok)
        for seat, user in zip(ok["seat_id"].tolist(), ok["user_id"].tolist()):
            self.ok_fans[seat].add(user)
        info = chunk.loc[outcome == "info", ["seat_id", "user_id"]]
        self.info_pairs.extend(zip(info["seat_id"].tolist(), info["user_id"].tolist()))
        self.turned_away.update(chunk.loc[outcome == "fail", "seat_id"].tolist())
        if "latency_ms" in chunk:
            self.latency_ms.add(chunk["latency_ms"].to_numpy())
            self.response_ms.add(chunk["response_ms"].to_numpy())
            self.lag_ms.add(chunk["lag_ms"].to_numpy())
            self.first_scheduled_s = min(self.first_scheduled_s, float(chunk["scheduled_s"].min()))
            self.last_started_ns = max(self.last_started_ns, int(chunk["started_ns"].max()))
            self.last_ended_ns = max(self.last_ended_ns, int(chunk["ended_ns"].max()))
        return self
