"""Who arrives when, and which seat they want: deterministic from the seed.

Like a printed queue ticket roll: the same seed prints the same tickets. Arrivals (open model):

- ``burst``: everyone is due at t=0 (the "10,000 fans press book at once" picture);
- ``uniform``: evenly spaced over the window;
- ``poisson``: a Poisson process conditioned on N arrivals, i.e. N sorted uniform times over the window.

Seat choice: ``same`` (everyone wants seat 0), ``uniform`` (any seat equally), ``hot`` (Zipf with s=1: seat k is
wanted in proportion to 1/(k+1), so the best seats are the most contested).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Scenario


@dataclass(frozen=True)
class Schedule:
    """The open-model workload: parallel arrays, sorted by ``scheduled_s``."""

    user_ids: np.ndarray
    seat_ids: np.ndarray
    scheduled_s: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)


class SeatChooser:
    """Draws seat ids by the scenario's seat choice."""

    def __init__(self, seat_choice: str, seats: int):
        self.seat_choice, self.seats = seat_choice, seats
        if seat_choice == "hot":
            weights = 1.0 / np.arange(1, seats + 1)
            self._cdf = np.cumsum(weights / weights.sum())
            self._cdf[-1] = 1.0

    def draw(self, rng: np.random.Generator, count: int) -> np.ndarray:
        if self.seat_choice == "same" or self.seats == 1:
            return np.zeros(count, dtype=np.int64)
        if self.seat_choice == "uniform":
            return rng.integers(0, self.seats, size=count, dtype=np.int64)
        return np.searchsorted(self._cdf, rng.random(count), side="right").astype(np.int64)


def arrival_times(arrival: str, users: int, window_s: float, rng: np.random.Generator) -> np.ndarray:
    if arrival == "burst":
        return np.zeros(users)
    if arrival == "uniform":
        return np.arange(users) * (window_s / users)
    return np.sort(rng.uniform(0.0, window_s, size=users))


def open_schedule(scenario: Scenario) -> Schedule:
    """The fans of an open-model burst. Same scenario and seed, same schedule, element for element."""
    assert scenario.users is not None
    rng = np.random.default_rng(scenario.seed)
    times = arrival_times(scenario.arrival, scenario.users, scenario.window_s, rng)
    seats = SeatChooser(scenario.seat_choice, scenario.seats).draw(rng, scenario.users)
    return Schedule(user_ids=np.arange(scenario.users, dtype=np.int64), seat_ids=seats, scheduled_s=times)


def vu_rng(seed: int, vu: int) -> np.random.Generator:
    """Each virtual user's own seat stream, independent of how the VUs interleave."""
    return np.random.default_rng([seed, vu])
