"""Aggregates: histogram percentiles stay within their stated error; a streamed run agrees with its own CSV."""
import numpy as np
import pandas as pd
import pytest

from simlib import Scenario
from simlib.audit import audit
from simlib.metrics import stats
from simlib.tally import RELATIVE_ERROR, Distribution, Tally


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_histogram_percentiles_are_within_the_stated_error(seed):
    values = np.random.default_rng(seed).lognormal(mean=1.0, sigma=1.5, size=50_000)
    histogram = Distribution(exact=False)
    for chunk in np.array_split(values, 7):
        histogram.add(chunk)
    qs = [50, 90, 95, 99, 99.9]
    exact = np.percentile(values, qs, method="higher")
    for got, want in zip(histogram.percentiles(qs), exact):
        assert got == pytest.approx(want, rel=RELATIVE_ERROR * 1.01)
    assert histogram.mean == pytest.approx(values.mean())
    assert (histogram.low, histogram.high) == (values.min(), values.max())


def test_exact_distribution_matches_numpy():
    values = np.arange(1, 1001, dtype=float)
    s = stats(values)
    assert (s.p50, s.p99, s.min, s.max) == (np.percentile(values, 50), np.percentile(values, 99), 1.0, 1000.0)


def test_tally_in_chunks_equals_tally_at_once():
    frame = pd.DataFrame({
        "seat_id": [0, 0, 1, 1, 2, 2], "user_id": [1, 2, 3, 4, 5, 6],
        "outcome": ["ok", "ok", "ok", "fail", "info", "fail"],
        "reason": ["booked", "booked", "booked", "seat_taken", "timeout", "lock_contended"],
    })
    whole = Tally.from_frame(frame)
    parts = Tally().update(frame.iloc[:2]).update(frame.iloc[2:5]).update(frame.iloc[5:])
    owners = {0: 2, 1: 3}
    assert audit(whole, owners) == audit(parts, owners) == audit(frame, owners)
    assert parts.reasons == whole.reasons and parts.turned_away == {1, 2}


@pytest.mark.integration
def test_a_streamed_run_keeps_aggregates_that_agree_with_its_csv(lab, run, tmp_path):
    path = tmp_path / "attempts.csv"
    result = run(lab.burst(Scenario(strategy="naive", users=5_000, seats=20, hold_ms=2), stream_to=path))
    assert result.attempts is None and result.attempts_path == path
    frame = pd.read_csv(path)
    assert len(frame) == 5_000 and frame["user_id"].is_unique
    redo = audit(frame, result.snapshot_owners)
    assert (redo.booked, redo.double_booked_seats, redo.oversold) == (
        result.verdict.booked, result.verdict.double_booked_seats, result.verdict.oversold)
    exact = stats(frame["latency_ms"])
    assert result.metrics.latency_ms.p99 == pytest.approx(exact.p99, rel=0.03)
    assert result.metrics.latency_ms.max == pytest.approx(exact.max)
