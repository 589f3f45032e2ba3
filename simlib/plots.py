"""Figures and tables for the notebooks and the report: pure functions of attempts and summaries.

Like the graphics desk of a newspaper: it never runs an experiment, it draws what the record says. Every function
takes plain data (attempt DataFrames keyed by strategy, ``BurstResult.summary()`` dicts, traced race steps) and
returns a :class:`matplotlib.figure.Figure` (no pyplot state, so thousands of figures leak nothing) or a
DataFrame. Every figure has a title, labelled axes with units and a legend (a colour bar for heat maps).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: One colour per strategy, stable across figures (unknown names cycle through the rest of the palette).
STRATEGY_COLORS = {
    "naive": "#d62728", "setnx": "#1f77b4", "redlock": "#9467bd", "optimistic": "#2ca02c", "atomic": "#ff7f0e",
}
SPARE_COLORS = ("#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
OUTCOME_COLORS = {"ok": "#2ca02c", "fail": "#b0b0b0", "info": "#ff7f0e"}
OUTCOME_NAMES = {"ok": "ok (told 'yours')", "fail": "fail (409 / seat taken)", "info": "info (timeout / error)"}

#: Swimlane marker and colour per step kind (see :data:`simlib.race.STEP_KINDS`).
STEP_STYLE = {
    "read": ("o", "#1f77b4", "read (GET / WATCH)"),
    "lock": ("s", "#ff7f0e", "lock (SET NX)"),
    "write": ("D", "#d62728", "write (SET seat, EXEC, script)"),
    "release": ("v", "#7f7f7f", "release lock"),
    "other": ("x", "#000000", "other command"),
}
STEP_KINDS_ORDER = tuple(STEP_STYLE)
CORRECTNESS_COLUMNS = {
    "booked": ("booked (told 'yours')", "#2ca02c"),
    "double_booked_seats": ("double-booked seats", "#d62728"),
    "lost": ("lost bookings", "#9467bd"),
    "unsold": ("unsold seats", "#7f7f7f"),
}
PERCENTILES = (50, 90, 95, 99)
FIGURE_DPI = 110


def strategy_color(name: str) -> str:
    if name in STRATEGY_COLORS:
        return STRATEGY_COLORS[name]
    return SPARE_COLORS[sum(map(ord, name)) % len(SPARE_COLORS)]


def new_figure(width_in: float = 9.0, height_in: float = 4.5, *, rows: int = 1, cols: int = 1, squeeze: bool = True,
               **subplot_kw):
    """A pyplot-free figure and its axes (a single Axes when rows == cols == 1 and ``squeeze``)."""
    fig = Figure(figsize=(width_in, height_in), dpi=FIGURE_DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=squeeze, **subplot_kw)
    return fig, axes


def label_axes(ax, *, title: str, xlabel: str, ylabel: str, grid_axis: str = "both") -> None:
    """The finishing touches every single-panel figure gets: title, axis labels (with units), legend, grid."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis=grid_axis, alpha=0.3)


# ---- the traced race ---------------------------------------------------------------------------------------------
def swimlane(steps: pd.DataFrame, attempts: pd.DataFrame, *, final_owner: int | None, title: str) -> Figure:
    """One lane per fan: each command as a marker with its label, the fan's span as a bar, and the answer it got.

    ``steps`` is :attr:`simlib.race.Race.steps`; ``attempts`` the burst's attempts (user_id, outcome, reason).
    When two or more fans are told "yours" for the seat, their answers turn red and the title says so.
    """
    fans = sorted(attempts["user_id"].tolist())
    outcome_of = dict(zip(attempts["user_id"], attempts["outcome"]))
    reason_of = dict(zip(attempts["user_id"], attempts["reason"]))
    winners = [fan for fan in fans if outcome_of[fan] == "ok"]
    double = len(winners) > 1
    fig, ax = new_figure(10.0, 2.0 + 0.95 * len(fans))
    end_ms = float(steps["end_ms"].max()) if len(steps) else 1.0
    seen_kinds: set[str] = set()
    for lane, fan in enumerate(fans):
        mine = steps[steps["fan"] == fan]
        if mine.empty:
            continue
        first, last = float(mine["start_ms"].min()), float(mine["end_ms"].max())
        ax.broken_barh([(first, last - first)], (lane - 0.18, 0.36), color="#e8e8e8", zorder=1)
        by_label = mine.groupby(["label", "kind"], sort=False)["start_ms"].agg(["min", "max", "size"]).reset_index()
        for index, row in enumerate(by_label.itertuples()):
            marker, color, _ = STEP_STYLE.get(row.kind, STEP_STYLE["other"])
            seen_kinds.add(row.kind if row.kind in STEP_STYLE else "other")
            ax.plot([row.min], [lane], marker=marker, color=color, markersize=8, linestyle="none", zorder=3)
            suffix = f" ×{row.size}" if row.size > 1 else ""
            above = index % 2 == 0  # alternate above and below the lane, so neighbouring steps stay readable
            ax.annotate(row.label + suffix, (row.min, lane), xytext=(-4, 10 if above else -11),
                        textcoords="offset points", fontsize=8, ha="left", va="bottom" if above else "top", color=color)
        told = outcome_of[fan] == "ok"
        answer = "“yours” ✓" if told else {"lock_contended": "409 lock busy", "seat_taken": "seat taken"}.get(
            reason_of[fan], reason_of[fan].replace("_", " "))
        if told and double:
            answer = "“yours” ✗ sold twice" + (", kept it" if fan == final_owner else ", overwritten")
        answer_color = ("#d62728" if double else "#2ca02c") if told else "#555555"
        ax.plot([last], [lane], marker="*" if told else "X", markersize=15 if told else 9, color=answer_color,
                linestyle="none", zorder=4)
        ax.annotate(answer, (last, lane), xytext=(10, -4), textcoords="offset points", fontsize=9,
                    fontweight="bold" if told else "normal", color=answer_color, va="center")
    if double:
        lanes = [fans.index(fan) for fan in winners]
        ax.axhspan(min(lanes) - 0.45, max(lanes) + 0.45, color="#d62728", alpha=0.07, zorder=0)
    for kind in STEP_KINDS_ORDER:
        if kind in seen_kinds:
            marker, color, text = STEP_STYLE[kind]
            ax.plot([], [], marker=marker, color=color, linestyle="none", label=text)
    ax.plot([], [], marker="*", color="#2ca02c", markersize=12, linestyle="none", label="told “yours”")
    if double:
        ax.plot([], [], marker="*", color="#d62728", markersize=12, linestyle="none",
                label="told “yours”, seat sold twice")
    ax.plot([], [], marker="X", color="#555555", linestyle="none", label="turned away")
    ax.set_yticks(range(len(fans)), [f"fan {fan}" + (" (final owner)" if fan == final_owner else "") for fan in fans])
    ax.set_ylim(len(fans) - 0.4, -0.7)
    ax.set_xlim(-0.03 * end_ms, end_ms * 1.32)
    ax.set_xlabel("time since the first command (ms)")
    ax.set_ylabel("fan (one lane each)")
    verdict = (f"DOUBLE BOOKING: {len(winners)} fans told “yours” for one seat" if double
               else f"sold once: {len(winners)} fan told “yours”")
    ax.set_title(f"{title}\n{verdict}", color="#d62728" if double else "black", fontweight="bold", fontsize=11)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=4, fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig



# ---- every strategy on one workload ------------------------------------------------------------------------------
def correctness_frame(summaries: list[dict]) -> pd.DataFrame:
    """strategy x (booked, double_booked_seats, lost, unsold, info, valid) from ``BurstResult.summary()`` dicts."""
    rows = [{
        "strategy": s["strategy"], "seats": s["seats"], "attempts": s["attempts"], "booked": s["booked"],
        "double_booked_seats": s["double_booked_seats"], "oversold": s["oversold"], "lost": s["lost"],
        "unsold": s["unsold"], "info": s["outcomes"].get("info", 0), "valid": s["audit_valid"],
    } for s in summaries]
    return pd.DataFrame(rows)


def correctness_chart(summaries: list[dict], *, title: str) -> Figure:
    """Grouped bars per strategy: booked, double-booked seats, lost bookings, unsold seats (log count axis)."""
    frame = correctness_frame(summaries)
    fig, ax = new_figure(9.0, 4.5)
    positions = np.arange(len(frame))
    width = 0.8 / len(CORRECTNESS_COLUMNS)
    for index, (column, (label, color)) in enumerate(CORRECTNESS_COLUMNS.items()):
        values = frame[column].to_numpy(dtype=float)
        x = positions - 0.4 + width * (index + 0.5)
        bars = ax.bar(x, np.where(values > 0, values, np.nan), width, label=label, color=color)
        ax.bar_label(bars, labels=[f"{int(v):,}" if v > 0 else "" for v in values], fontsize=7, padding=1)
        for xi, value in zip(x, values):
            if value == 0:
                ax.annotate("0", (xi, 1), ha="center", va="bottom", fontsize=7, color=color)
    ax.set_yscale("log")
    ax.set_ylim(0.8, max(2.0, float(frame[list(CORRECTNESS_COLUMNS)].to_numpy().max())) * 3)
    ax.set_xlim(-0.6, len(frame) - 0.4)
    ax.set_xticks(positions, [f"{s}\n{'VALID' if v else 'INVALID'}" for s, v in zip(frame["strategy"], frame["valid"])])
    for tick, valid in zip(ax.get_xticklabels(), frame["valid"]):
        tick.set_color("black" if valid else "#d62728")
    ax.set_xlabel("strategy (audit verdict)")
    ax.set_ylabel("count (fans or seats, log scale)")
    ax.set_title(title)
    ax.legend(fontsize=8, ncols=2)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _ecdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    data = np.sort(values[np.isfinite(values)])
    return data, np.arange(1, len(data) + 1) / max(len(data), 1)


def latency_cdf(attempts_by_strategy: Mapping[str, pd.DataFrame], *, title: str) -> Figure:
    """Two panels: service time (first command to answer) and response time (from the scheduled arrival)."""
    fig, (left, right) = new_figure(11.0, 4.5, cols=2, sharey=True)
    panels = ((left, "latency_ms", "service time (ms, log scale)"),
              (right, "response_ms", "response time from scheduled arrival (ms, log scale)"))
    for ax, column, xlabel in panels:
        for name, attempts in attempts_by_strategy.items():
            x, y = _ecdf(attempts[column].to_numpy(dtype=float))
            ax.step(np.maximum(x, 1e-3), y, where="post", label=name, color=strategy_color(name))
        for level in (0.5, 0.99):
            ax.axhline(level, color="#999999", linewidth=0.6, linestyle=":")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower right")
    left.set_ylabel("fraction of attempts ≤ x (0 to 1)")
    left.set_title("service time CDF")
    right.set_title("response time CDF (queueing included)")
    fig.suptitle(title)
    return fig


def percentile_table(attempts_by_strategy: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """strategy x (service p50..p99 and max, response p50..p99 and max), in ms."""
    rows = {}
    for name, attempts in attempts_by_strategy.items():
        row = {}
        for column, short in (("latency_ms", "service"), ("response_ms", "response")):
            values = attempts[column].to_numpy(dtype=float)
            for p, value in zip(PERCENTILES, np.percentile(values, PERCENTILES) if len(values) else [np.nan] * 4):
                row[f"{short}_p{p}_ms"] = round(float(value), 3)
            row[f"{short}_max_ms"] = round(float(values.max()), 3) if len(values) else np.nan
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "strategy"
    return table


def _bins(attempts_by_strategy: Mapping[str, pd.DataFrame], column: str, bin_ms: float) -> np.ndarray:
    ends = [float(a[column].max()) / 1e6 for a in attempts_by_strategy.values() if len(a)]
    top = max(ends) if ends else bin_ms
    return np.arange(0.0, top + bin_ms, bin_ms)


def outcomes_over_time(attempts_by_strategy: Mapping[str, pd.DataFrame], *, title: str,
                       bin_ms: float = 100.0) -> Figure:
    """Small multiples, one per strategy: attempts finishing per time bin, one line per outcome (log count axis)."""
    names = list(attempts_by_strategy)
    fig, axes = new_figure(11.0, 1.6 + 1.6 * len(names), rows=len(names), sharex=True, squeeze=False)
    edges = _bins(attempts_by_strategy, "ended_ns", bin_ms)
    for ax, name in zip(axes[:, 0], names):
        attempts = attempts_by_strategy[name]
        for outcome, color in OUTCOME_COLORS.items():
            ended_ms = attempts.loc[attempts["outcome"] == outcome, "ended_ns"].to_numpy(dtype=float) / 1e6
            counts, _ = np.histogram(ended_ms, bins=edges)
            ax.stairs(counts, edges, color=color, fill=outcome == "ok", alpha=0.85 if outcome == "ok" else 1.0,
                      linewidth=1.6, label=OUTCOME_NAMES[outcome])
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylabel(f"{name}\n(fans / {bin_ms:g} ms)", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=8, ncols=3, loc="upper right")
    axes[-1, 0].set_xlabel("time since the burst start (ms)")
    fig.suptitle(title)
    return fig


def throughput_chart(attempts_by_strategy: Mapping[str, pd.DataFrame], *, title: str, bin_ms: float = 100.0) -> Figure:
    """Completed attempts per second over time, one line per strategy."""
    fig, ax = new_figure(9.0, 4.0)
    edges = _bins(attempts_by_strategy, "ended_ns", bin_ms)
    for name, attempts in attempts_by_strategy.items():
        counts, _ = np.histogram(attempts["ended_ns"].to_numpy(dtype=float) / 1e6, bins=edges)
        ax.step(edges[:-1], counts * (1000.0 / bin_ms), where="post", label=name, color=strategy_color(name))
    label_axes(ax, title=title, xlabel="time since the burst start (ms)",
               ylabel="completed attempts per second (1/s)")
    return fig


def schedule_lag_chart(attempts_by_strategy: Mapping[str, pd.DataFrame], *, title: str) -> Figure:
    """How late each fan was released (started - scheduled) against its place in the arrival order."""
    fig, ax = new_figure(9.0, 4.0)
    for name, attempts in attempts_by_strategy.items():
        ordered = attempts.sort_values(["scheduled_s", "user_id"])
        ax.plot(np.arange(len(ordered)), ordered["lag_ms"].to_numpy(dtype=float), label=name,
                color=strategy_color(name), linewidth=1)
    label_axes(ax, title=title, xlabel="fan, in arrival order (count)",
               ylabel="schedule lag: started − scheduled (ms)")
    return fig


def cumulative_yours_chart(attempts_by_strategy: Mapping[str, pd.DataFrame], *, seats: int, title: str) -> Figure:
    """Fans told "yours" so far, over time; a dashed line marks how many seats exist."""
    fig, ax = new_figure(9.0, 4.0)
    for name, attempts in attempts_by_strategy.items():
        ended_ms = np.sort(attempts.loc[attempts["outcome"] == "ok", "ended_ns"].to_numpy(dtype=float) / 1e6)
        ax.step(np.concatenate([[0.0], ended_ms]), np.arange(len(ended_ms) + 1), where="post",
                label=f"{name} ({len(ended_ms):,} told “yours”)", color=strategy_color(name))
    ax.axhline(seats, color="black", linestyle="--", linewidth=1, label=f"seats in the venue ({seats:,})")
    label_axes(ax, title=title, xlabel="time since the burst start (ms)", ylabel="fans told “yours” so far (count)")
    return fig


# ---- sweeps ------------------------------------------------------------------------------------------------------
def heatmap(table: pd.DataFrame, *, title: str, xlabel: str, ylabel: str, cbar_label: str, fmt: str = "{:,.0f}",
            log: bool = False) -> Figure:
    """A pivot table as coloured cells with their values written in; empty cells (not run) stay blank."""
    from matplotlib.colors import LogNorm

    values = table.to_numpy(dtype=float)
    fig, ax = new_figure(3.6 + 1.1 * table.shape[1], 1.8 + 0.6 * table.shape[0])
    finite = values[np.isfinite(values)]
    norm = None
    if log and finite.size and finite.max() > 0:
        positive = finite[finite > 0]
        norm = LogNorm(vmin=max(positive.min(), 1e-3) if positive.size else 1e-3, vmax=finite.max())
        values = np.where(values > 0, values, np.nan if norm is None else norm.vmin)
    image = ax.imshow(np.ma.masked_invalid(values), cmap="Reds", aspect="auto", norm=norm)
    for (row, col), value in np.ndenumerate(table.to_numpy(dtype=float)):
        if np.isfinite(value):
            ax.text(col, row, fmt.format(value), ha="center", va="center", fontsize=8,
                    color="white" if image.norm(values[row, col]) > 0.6 else "black")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label(cbar_label)
    return fig


def sweep_lines(frame: pd.DataFrame, *, x: str, y: str, by: str, title: str, xlabel: str, ylabel: str,
                log_y: bool = False) -> Figure:
    """``y`` against ``x``, one line per value of ``by`` (medians over the other grid dimensions)."""
    fig, ax = new_figure(8.0, 4.0)
    grouped = frame.groupby([by, x])[y].median().reset_index()
    for key, part in grouped.groupby(by):
        ax.plot(part[x], part[y], marker="o", label=f"{by} = {key}")
    if log_y:
        ax.set_yscale("symlog", linthresh=1)
    label_axes(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    return fig


# ---- headline and the seed ---------------------------------------------------------------------------------------
def headline_table(summaries: list[dict]) -> pd.DataFrame:
    """strategy x workload: audit verdict, double-booked seats, lost, booked, service p50/p99 (ms)."""
    rows = [{
        "strategy": s["strategy"],
        "workload": f"{s['users']:,} fans → {s['seats']:,} seat{'s' if s['seats'] != 1 else ''}",
        "audit": "valid" if s["audit_valid"] else "INVALID",
        "booked": s["booked"],
        "double_booked_seats": s["double_booked_seats"],
        "lost": s["lost"],
        "p50_ms": s["latency_ms"]["p50"],
        "p99_ms": s["latency_ms"]["p99"],
        "response_p99_ms": s["response_ms"]["p99"],
    } for s in summaries]
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame, *, index: bool = False) -> str:
    """A GitHub Markdown table (no extra dependency): numbers with thousands separators, floats to 2 places."""
    data = frame.reset_index() if index else frame

    def cell(value) -> str:
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (int, np.integer)):
            return f"{int(value):,}"
        if isinstance(value, (float, np.floating)):
            return "" if np.isnan(value) else f"{float(value):,.2f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(str(c) for c in data.columns) + " |",
             "|" + "|".join("---" for _ in data.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in data.itertuples(index=False)]
    return "\n".join(lines)


def k6_duration_chart(seed: Mapping[str, float], ours: Mapping[str, float], *, title: str) -> Figure:
    """http_req_duration statistics, the seed's published k6 run beside ours (log ms axis)."""
    stats = ("min", "med", "avg", "p90", "p95", "max")
    fig, ax = new_figure(9.0, 4.0)
    positions = np.arange(len(stats))
    for offset, (label, source, color) in enumerate((("seed article (k6 → HTTP → Node → Redis)", seed, "#7f7f7f"),
                                                     ("simlib (Python → Redis, loopback)", ours, "#1f77b4"))):
        values = [float(source[f"http_req_duration_{name}_ms"]) for name in stats]
        bars = ax.bar(positions - 0.2 + 0.4 * offset, values, 0.4, label=label, color=color)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7, padding=1)
    ax.set_yscale("log")
    ax.set_xticks(positions, stats)
    label_axes(ax, title=title, xlabel="http_req_duration statistic (simlib: service time of one booking)",
               ylabel="duration (ms, log scale)", grid_axis="y")
    return fig
