"""Fault scenarios and fencing, against real servers: each scenario a few runs, counts asserted, nothing left running."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from simlib import Scenario, UsageError
from simlib.cli import main
from simlib.faults import EVERY, SCENARIOS, run_fault
from simlib.keys import KeySpace
from simlib.lab import make_client
from simlib.netdelay import proxied_urls
from simlib.strategies import Context, get
from simlib.strategies.fencing import BOOKED, FREE, STALE

pytestmark = pytest.mark.integration

RUNS = 2
WATCH_WARNING = "Call WATCH from a Pipeline"


def assert_counts(report, runs=RUNS):
    for name, variant in report.variants.items():
        expected = runs if SCENARIOS[report.scenario].variants[name] == EVERY else 0
        assert (len(variant.runs), variant.violations) == (runs, expected), (name, variant.to_dict())
        assert variant.meets_expectation, (name, variant.to_dict())
    assert report.ok
    assert report.pids and not [pid for pid in report.pids if os.path.exists(f"/proc/{pid}")], "a process outlived its scenario"


@pytest.mark.parametrize("name", ["pause-past-ttl", "redlock-restart", "early-expiry", "server-pause"])
def test_scenario_meets_its_expected_counts(run, name):
    report = run(run_fault(name, runs=RUNS, seed=1))
    assert_counts(report)


def test_pause_past_ttl_timeline_shows_the_stale_write(run):
    report = run(run_fault("pause-past-ttl", runs=1, seed=2))
    unfenced, fenced = report.variants["setnx-unfenced"].runs[0], report.variants["setnx-fenced"].runs[0]
    kinds = [(e.actor, e.kind) for e in unfenced.events]
    assert kinds.index(("holder", "pause")) < kinds.index(("holder", "expiry")) < kinds.index(("rival", "write")) \
        < kinds.index(("holder", "resume")) < kinds.index(("holder", "write"))
    assert unfenced.verdict.double_booked_seats == 1 and unfenced.extra["holder_writes_landed"] == 1
    holder = fenced.attempts.sort_values("fence_token").iloc[0]
    assert holder["outcome"] == "fail" and holder["fence_token"] < fenced.attempts["fence_token"].max()
    assert fenced.extra["holder_writes_fenced"] == 1


def test_watch_misuse_warns_and_loses_an_update_then_the_fix_holds(run):
    with pytest.warns(DeprecationWarning, match=WATCH_WARNING):
        report = run(run_fault("watch-misuse", runs=RUNS, seed=3))
    assert_counts(report)
    assert report.variants["client-watch"].extras()["watch_sent"] == 0
    assert report.variants["pipeline-watch"].extras()["watch_sent"] == RUNS


def test_server_pause_counts_timeouts_as_info_and_no_false_lost(run):
    report = run(run_fault("server-pause", runs=1, seed=4))
    extras = report.variants["sigstop"].extras()
    assert extras["info"] > 0 and extras["false_lost"] == 0 and report.variants["sigstop"].violations == 0


def test_cli_faults_json_and_exit_status(capsys):
    with pytest.warns(DeprecationWarning, match=WATCH_WARNING):
        assert main(["faults", "watch-misuse", "--runs", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scenario"] == "watch-misuse" and data["runs"] == 1
    assert data["variants"]["client-watch"]["violations"] == 1 and data["variants"]["pipeline-watch"]["violations"] == 0


def test_unknown_scenario_and_bad_runs_are_usage_errors(run, capsys):
    assert main(["faults", "pause-past-tll"]) == 2
    assert "did you mean 'pause-past-ttl'" in capsys.readouterr().err
    with pytest.raises(UsageError, match="--runs"):
        run(run_fault("watch-misuse", runs=0))


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def test_interrupted_scenario_leaves_nothing_running():
    proc = subprocess.Popen([sys.executable, "-m", "simlib", "faults", "pause-past-ttl", "--runs", "20"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: set[int] = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(seen) < 7:  # a store, five lock servers and the holder
        seen |= _descendants(proc.pid)
        time.sleep(0.05)
    time.sleep(1.0)  # mid-run: the holder may be frozen right now
    seen |= _descendants(proc.pid)
    assert len(seen) >= 7, seen
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130, proc.stderr.read()
    proc.stderr.close()
    assert not [pid for pid in seen if os.path.exists(f"/proc/{pid}")]


# ---- fencing on the store ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["setnx-fenced", "redlock-fenced"])
def test_the_store_rejects_an_older_fencing_token(lab, run, strategy):
    async def scenario():
        store = make_client(lab.store.url, pool_size=4, timeout_ms=2000)
        locks = [make_client(e.url, pool_size=4, timeout_ms=2000) for e in lab.locks]
        keys = KeySpace("feedbeef0404")
        fenced = get(strategy)(Context(store=store, keys=keys, lock_clients=locks))
        try:
            await fenced.prepare()
            answers = [await fenced.check_fenced(0, 2), await fenced.check_fenced(0, 1),
                       await fenced.write_fenced(7, 0, 1), await fenced.write_fenced(8, 0, 2),
                       await fenced.write_fenced(9, 0, 3)]
            ledger = await store.lrange(keys.ledger, 0, -1)
        finally:
            await store.delete(keys.seat(0), keys.ledger, keys.fence(0) + ":seen")
            for client in [store, *locks]:
                await client.aclose()
        return answers, ledger

    answers, ledger = run(scenario())
    assert answers == [FREE, STALE, STALE, BOOKED, 0]
    assert ledger == [b"0:8:2"]


@pytest.mark.parametrize("strategy", ["setnx-fenced", "redlock-fenced"])
def test_fenced_results_carry_increasing_fence_tokens(lab, run, strategy):
    result = run(lab.burst(Scenario(strategy=strategy, users=300, seats=3, seat_choice="hot", hold_ms=2)))
    booked = result.attempts[result.attempts["outcome"] == "ok"]
    assert result.valid and booked["fence_token"].notna().all() and (booked["fence_token"] >= 1).all()


# ---- network delay -------------------------------------------------------------------------------------------------
def test_net_delay_widens_each_round_trip(lab, run):
    async def ping_ms(delay_ms):
        urls = {"store": lab.store.url}
        async with proxied_urls(urls, delay_ms=delay_ms, jitter_ms=1, seed=0):
            client = make_client(urls["store"], pool_size=1, timeout_ms=2000)
            try:
                await client.ping()
                started = time.perf_counter()
                for _ in range(5):
                    await client.ping()
                return (time.perf_counter() - started) / 5 * 1000
            finally:
                await client.aclose()

    assert run(ping_ms(0)) < 5
    assert run(ping_ms(15)) >= 2 * 15 - 2  # both directions, jitter +-1 each way


def test_burst_through_the_delaying_proxy_is_audited_as_usual(lab, run):
    result = run(lab.burst(Scenario(strategy="setnx", users=200, seats=1, net_delay_ms=3, net_jitter_ms=1)))
    assert result.valid and result.verdict.booked == 1
    assert result.metrics.latency_ms.p50 >= 2 * 3 - 2


def test_timelines_draw_from_recorded_events(run):
    import matplotlib

    matplotlib.use("Agg")
    from simlib.faults.plots import timeline, violations_table

    report = run(run_fault("early-expiry", runs=1, seed=5))
    for variant in report.variants.values():
        ax = timeline(variant.runs[0])
        assert len(ax.collections) >= len(variant.runs[0].events)
        matplotlib.pyplot.close(ax.figure)
    table = violations_table([report])
    assert table["violations"].tolist() == [1, 0]
