import numpy as np
import pytest

from simlib import Scenario
from simlib.workload import open_schedule


def test_same_seed_same_schedule():
    s = Scenario(users=1000, seats=50, arrival="poisson", seat_choice="hot", seed=7)
    a, b = open_schedule(s), open_schedule(s)
    assert np.array_equal(a.seat_ids, b.seat_ids) and np.array_equal(a.scheduled_s, b.scheduled_s)
    c = open_schedule(s.with_(seed=8))
    assert not np.array_equal(a.seat_ids, c.seat_ids)


@pytest.mark.parametrize("arrival", ["burst", "uniform", "poisson"])
def test_arrivals_are_sorted_and_inside_the_window(arrival):
    sched = open_schedule(Scenario(users=500, arrival=arrival, window_s=2.0))
    times = sched.scheduled_s
    assert np.all(np.diff(times) >= 0) and times.min() >= 0 and times.max() < 2.0
    if arrival == "burst":
        assert times.max() == 0
    if arrival == "uniform":
        assert np.allclose(np.diff(times), 2.0 / 500)


def test_hot_seat_choice_prefers_the_best_seats():
    seats = open_schedule(Scenario(users=20_000, seats=100, seat_choice="hot")).seat_ids
    counts = np.bincount(seats, minlength=100)
    assert seats.min() >= 0 and seats.max() < 100
    assert counts[0] > 5 * counts[50]  # Zipf s=1: seat 0 ~ 51x seat 50 in expectation
    assert counts[0] / counts[1] == pytest.approx(2.0, rel=0.15)


def test_same_choice_is_one_seat():
    assert set(open_schedule(Scenario(users=100, seats=10, seat_choice="same")).seat_ids) == {0}
