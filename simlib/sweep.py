"""A contention sweep: the same burst over a grid of users x seats x hold-ms x pool size, within a time budget.

Like tasting a sauce while you add salt: one change at a time, and you stop when the clock says so. Cells run
cheapest first (fewest fans), each with every chosen strategy; before each cell the sweep estimates its cost from
the seconds per fan measured so far and skips it if it would overrun ``budget_s``. Skipped cells are listed, never
silently dropped, and the heat maps leave them blank.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import pandas as pd

from .config import Scenario

GRID_DIMENSIONS = ("users", "seats", "hold_ms", "pool_size")


@dataclass(frozen=True)
class Sweep:
    """Rows run, one per cell and strategy, and the cells the budget left out."""

    frame: pd.DataFrame
    skipped: tuple[dict, ...]
    budget_s: float
    elapsed_s: float


def grid_cells(**dimensions: Sequence) -> list[dict]:
    """Every combination of the given dimensions (names from :data:`GRID_DIMENSIONS`), fewest fans first."""
    unknown = set(dimensions) - set(GRID_DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown sweep dimension(s): {', '.join(sorted(unknown))}")
    names = list(dimensions)
    cells = [dict(zip(names, values)) for values in itertools.product(*(dimensions[n] for n in names))]
    return sorted(cells, key=lambda cell: cell.get("users", 0))


def row_of(cell: dict, summary: dict, elapsed_s: float) -> dict:
    return {
        **cell,
        "strategy": summary["strategy"],
        "booked": summary["booked"],
        "double_booked_seats": summary["double_booked_seats"],
        "oversold": summary["oversold"],
        "lost": summary["lost"],
        "valid": summary["audit_valid"],
        "p50_ms": summary["latency_ms"]["p50"],
        "p99_ms": summary["latency_ms"]["p99"],
        "response_p99_ms": summary["response_ms"]["p99"],
        "elapsed_s": round(elapsed_s, 3),
    }


async def run_sweep(
    lab,
    base: Scenario,
    cells: Iterable[dict],
    *,
    strategies: Sequence[str],
    budget_s: float,
    on_cell: Callable[[dict], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Sweep:
    """Run every cell (``base`` with the cell's fields) with each strategy until the budget would be exceeded."""
    started = clock()
    rows: list[dict] = []
    skipped: list[dict] = []
    seconds_per_fan = 0.0
    for cell in cells:
        scenario = base.with_(**cell)
        fans = scenario.users or 0
        spent = clock() - started
        if spent >= budget_s or spent + seconds_per_fan * fans * len(strategies) > budget_s:
            skipped.append(cell)
            continue
        for name in strategies:
            before = clock()
            result = await lab.burst(scenario.with_(strategy=name))
            took = clock() - before
            seconds_per_fan = max(seconds_per_fan, took / max(fans, 1))
            rows.append(row_of(cell, result.summary(), took))
        if on_cell is not None:
            on_cell(cell)
    return Sweep(frame=pd.DataFrame(rows), skipped=tuple(skipped), budget_s=budget_s, elapsed_s=clock() - started)
