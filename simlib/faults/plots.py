"""Figures and tables for "when locks lie": the Kleppmann timeline, violations per fix, and the network-delay curve.

The notebook (``notebooks/05_when_locks_lie.ipynb``) only calls these; everything it shows can be rebuilt from a
script. Timelines are drawn from the events a run recorded, never from a hand-made picture.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd

from ..config import Scenario
from .base import FaultReport, RunRecord

LANES = ("holder", "rival")
MARKERS = {"lock": "o", "check": "s", "pause": "v", "expiry": "x", "resume": "^", "write": "*", "reject": "X",
           "fault": "D"}
LABEL_OFFSETS = (12, -16, 24, -28, 36, -40)
"""Points above/below the lane for successive labels of one actor, so close events stay readable."""
LABEL_CHARS = 48
COLOURS = {"write": "tab:red", "reject": "tab:green", "expiry": "tab:orange", "fault": "tab:purple"}


def violations_table(reports: Iterable[FaultReport]) -> pd.DataFrame:
    """Runs x violations, one row per (scenario, variant), with the expected count beside it."""
    frame = pd.concat([report.table() for report in reports])
    return frame[["runs", "violations", "expected_violations", "meets_expectation"]]


def timeline(run: RunRecord, ax=None, title: str | None = None):
    """Draw one run's events on one lane per actor: lease, pause, expiry, the rival's booking, the stale write."""
    import matplotlib.pyplot as plt

    events = run.events_frame()
    actors = list(dict.fromkeys([*(a for a in LANES if a in set(events["actor"])), *events["actor"]]))
    lane = {actor: len(actors) - i for i, actor in enumerate(actors)}
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 1.5 + 1.1 * len(actors)))
    holder = events[events["actor"] == "holder"]
    _band(ax, holder, "lock", "expiry", lane.get("holder"), "tab:blue", "lease")
    _band(ax, holder, "pause", "resume", lane.get("holder"), "grey", "frozen")
    seen_per_lane: dict[str, int] = {}
    for row in events.itertuples():
        ax.scatter(row.t_ms, lane[row.actor], marker=MARKERS.get(row.kind, "o"), s=90 if row.kind in ("write", "reject") else 50,
                   color=COLOURS.get(row.kind, "black"), zorder=3)
        k = seen_per_lane[row.actor] = seen_per_lane.get(row.actor, -1) + 1
        label = (row.note or row.kind)[:LABEL_CHARS] + ("…" if len(row.note or row.kind) > LABEL_CHARS else "")
        ax.annotate(label, (row.t_ms, lane[row.actor]), xytext=(3, LABEL_OFFSETS[k % len(LABEL_OFFSETS)]),
                    textcoords="offset points", fontsize=7, arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5})
    ax.set_yticks(list(lane.values()), list(lane.keys()))
    ax.set_ylim(0.3, len(actors) + 0.7)
    ax.set_xlabel("ms since the run started")
    verdict = "VIOLATION: " + _why(run) if run.violation else "valid"
    ax.set_title(title or f"{run.variant} · run {run.index} · {verdict}", fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=7)
    return ax


def _band(ax, events: pd.DataFrame, start_kind: str, end_kind: str, y, colour: str, label: str) -> None:
    starts, ends = events.loc[events["kind"] == start_kind, "t_ms"], events.loc[events["kind"] == end_kind, "t_ms"]
    if y is None or starts.empty or ends.empty:
        return
    ax.plot([starts.iloc[0], ends.iloc[0]], [y, y], color=colour, linewidth=8, alpha=0.25, solid_capstyle="butt",
            label=label)


def _why(run: RunRecord) -> str:
    v = run.verdict
    return f"{v.double_booked_seats} seat sold twice, {v.lost} lost booking(s)"


async def delay_sweep(strategies: Sequence[str], delays_ms: Sequence[float], *, users: int = 200, seats: int = 1,
                      window_s: float = 0.2, ttl_ms: float = Scenario.ttl_ms, jitter_ms: float = 0.0,
                      seed: int = 0) -> pd.DataFrame:
    """Double bookings versus network delay: every strategy at every delay, on the same seeded workload.

    Fans arrive evenly over ``window_s``, so naive's check-then-set window is what the delay stretches: the longer
    the round trip, the more fans read "free" before the first write lands. A short ``ttl_ms`` shows the locks'
    side too: once a holder's round trips outlast its lease, the lock stops being exclusive."""
    from ..lab import Lab

    scenarios = [Scenario(strategy=name, users=users, seats=seats, arrival="uniform", window_s=window_s, ttl_ms=ttl_ms,
                          seed=seed, net_jitter_ms=jitter_ms) for name in strategies]
    rows = []
    with Lab.for_scenarios(scenarios) as lab:
        for delay in delays_ms:
            for scenario in scenarios:
                result = await lab.burst(scenario.with_(net_delay_ms=float(delay)))
                v = result.verdict
                rows.append({"strategy": scenario.strategy, "net_delay_ms": float(delay), "rtt_ms": 2.0 * delay,
                             "double_booked_seats": v.double_booked_seats, "oversold": v.oversold, "lost": v.lost,
                             "booked": v.booked, "valid": v.valid, "p50_ms": result.metrics.latency_ms.p50})
    return pd.DataFrame(rows)


def plot_delay_curve(sweep: pd.DataFrame, ax=None, value: str = "oversold"):
    """One line per strategy: ``value`` (fans told "yours" beyond the first, per seat) against the delay."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for name, group in sweep.groupby("strategy", sort=False):
        ax.plot(group["net_delay_ms"], group[value], marker="o", label=name)
    ax.set_xlabel("network delay per direction, ms (round trip = 2x)")
    ax.set_ylabel(value.replace("_", " "))
    ax.set_yscale("symlog")
    ax.legend(fontsize=8)
    ax.set_title(f"{value.replace('_', ' ')} versus network delay")
    return ax
