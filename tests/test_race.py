"""The traced race and the sweep against real servers: the forced interleaving really is forced."""
import pytest

from simlib import Scenario
from simlib.race import run_race
from simlib.sweep import grid_cells, run_sweep

pytestmark = pytest.mark.integration


def test_naive_race_every_fan_reads_free_before_anyone_writes(lab, run):
    race = run(run_race(lab, "naive", fans=3, stagger_ms=5, hold_ms=40))
    steps = race.steps
    reads, writes = steps[steps["kind"] == "read"], steps[steps["kind"] == "write"]
    assert sorted(reads["fan"]) == [0, 1, 2] and set(reads["label"]) == {"GET seat → free"}
    assert reads["end_ms"].max() < writes["start_ms"].min()
    assert race.told_yours == [0, 1, 2] and not race.result.valid
    assert race.final_owner in (0, 1, 2) and race.result.verdict.lost == 2


def test_setnx_race_one_winner_the_rest_turned_away_at_the_lock(lab, run):
    race = run(run_race(lab, "setnx", fans=3, stagger_ms=5, hold_ms=40))
    assert race.told_yours == [race.final_owner] and race.result.valid
    labels = race.steps.groupby("fan")["label"].apply(list).to_dict()
    assert labels[race.final_owner][0] == "SET NX lock → got it" and "release lock" in labels[race.final_owner]
    losers = [fan for fan in labels if fan != race.final_owner]
    assert all(labels[fan] == ["SET NX lock → busy"] for fan in losers)


def test_redlock_commands_are_traced_per_lock_server(lab, run):
    race = run(run_race(lab, "redlock", fans=2, stagger_ms=5, hold_ms=20))
    roles = set(race.steps["role"])
    assert {"store", "lock-1", "lock-5"} <= roles and race.result.valid


def test_the_sweep_stops_at_its_budget_and_lists_what_it_skipped(lab, run):
    cells = grid_cells(users=[20, 40], hold_ms=[0.0, 1.0])
    sweep = run(run_sweep(lab, Scenario(seed=1), cells, strategies=["naive", "atomic"], budget_s=60))
    assert len(sweep.frame) == 8 and not sweep.skipped
    assert sweep.frame[sweep.frame["strategy"] == "atomic"]["valid"].all()
    none = run(run_sweep(lab, Scenario(seed=1), cells, strategies=["atomic"], budget_s=0))
    assert none.frame.empty and len(none.skipped) == 4
