"""Every strategy against real servers: the safe ones never double-book, naive does, and the audit says so."""
import asyncio

import pytest

from simlib import Scenario
from simlib.keys import KeySpace
from simlib.lab import make_client
from simlib.runner import run_burst_with_clients
from simlib.strategies import Context, all_strategies, get
from simlib.strategies.redlock import quorum

pytestmark = pytest.mark.integration

SAFE = [cls.name for cls in all_strategies() if cls.exclusive]
UNSAFE = [cls.name for cls in all_strategies() if not cls.exclusive]


def test_the_registry_has_the_five_core_strategies():
    assert {"naive", "setnx", "redlock", "optimistic", "atomic"} <= {c.name for c in all_strategies()}
    assert UNSAFE == ["naive"]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", SAFE)
@pytest.mark.parametrize("seats", [1, 100])
def test_safe_strategies_never_double_book_10k_fans(lab, run, strategy, seats):
    result = run(lab.burst(Scenario(strategy=strategy, users=10_000, seats=seats)))
    v = result.verdict
    assert result.metrics.attempts == 10_000
    assert v.valid, v.evidence
    assert v.double_booked_seats == 0 and v.lost == 0
    assert 1 <= v.booked <= seats and v.booked == v.seats_sold
    assert v.ledger_entries == v.booked


@pytest.mark.parametrize("strategy", UNSAFE)
def test_naive_double_books_a_hot_seat(lab, run, strategy):
    result = run(lab.burst(Scenario(strategy=strategy, users=2_000, seats=1, hold_ms=5)))
    v = result.verdict
    assert not v.valid
    assert v.double_booked_seats == 1 and v.booked > 1 and v.oversold == v.booked - 1
    assert v.evidence[0].seat_id == 0 and len(v.evidence[0].ok_users) == v.booked


@pytest.mark.parametrize("strategy", SAFE)
def test_safe_strategies_hold_with_a_race_window(lab, run, strategy):
    result = run(lab.burst(Scenario(strategy=strategy, users=500, seats=5, hold_ms=5, seat_choice="hot")))
    assert result.verdict.valid and result.verdict.double_booked_seats == 0


def test_the_same_seed_gives_the_same_seat_requests(lab, run):
    a = run(lab.burst(Scenario(strategy="atomic", users=300, seats=30, seed=3, arrival="poisson", window_s=0.2)))
    b = run(lab.burst(Scenario(strategy="atomic", users=300, seats=30, seed=3, arrival="poisson", window_s=0.2)))
    assert a.attempts["seat_id"].tolist() == b.attempts["seat_id"].tolist()
    assert a.attempts["scheduled_s"].tolist() == b.attempts["scheduled_s"].tolist()


def test_no_run_key_is_left_behind(lab, run):
    result = run(lab.burst(Scenario(strategy="redlock", users=200, seats=3)))

    async def count_keys():
        counts = []
        for endpoint in lab.endpoints:
            client = make_client(endpoint.url, pool_size=2, timeout_ms=2000)
            counts.append(len([k async for k in client.scan_iter(match=f"simlib:{result.run_id}:*")]))
            await client.aclose()
        return counts

    assert run(count_keys()) == [0] * len(lab.endpoints)


def test_seed_reproduction_books_exactly_one(lab, run):
    """The seed's k6 run, shortened: VUs loop book-then-think on one seat; one 200, the rest 409."""
    result = run(lab.burst(Scenario(strategy="setnx", users=None, vus=20, duration_s=1.0, think_ms=200)))
    v = result.verdict
    assert v.booked == 1 and v.valid
    assert result.metrics.attempts >= 40  # ~20 VUs x 5 iterations
    assert result.metrics.outcomes["fail"] == result.metrics.attempts - 1


# ---- protocol details ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("configured, needed", [(3, 2), (5, 3), (7, 4)])
def test_redlock_quorum_is_a_majority_of_the_configured_nodes(configured, needed):
    assert quorum(configured) == needed


def _dead_url():
    from simlib.servers import free_port

    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.mark.parametrize("dead, expect_lock", [(2, True), (3, False)])
def test_redlock_counts_votes_against_configured_n_not_those_that_answered(lab, run, dead, expect_lock):
    """With 3 of 5 servers dead, the 2 that answer all say yes, but 2 < 3: no lock."""

    async def scenario():
        live = [make_client(e.url, pool_size=4, timeout_ms=500) for e in lab.locks[: 5 - dead]]
        gone = [make_client(_dead_url(), pool_size=4, timeout_ms=500) for _ in range(dead)]
        strategy = get("redlock")(Context(store=None, keys=KeySpace("feedbeef0001"), lock_clients=live + gone, max_retries=0,
                                          clock_ns=__import__("time").perf_counter_ns))
        await strategy.prepare_lock_scripts() if hasattr(strategy, "prepare_lock_scripts") else None
        strategy._releases = [c.register_script(__import__("simlib.strategies.base", fromlist=["x"]).lua_source("release"))
                              for c in live + gone]
        lease = await strategy.acquire(strategy.keys.lock(0))
        held = []
        for client in live:
            held.append(await client.get(strategy.keys.lock(0)))
            await client.delete(strategy.keys.lock(0))
        for client in live + gone:
            await client.aclose()
        return lease, held

    lease, held = run(scenario())
    assert bool(lease.token) is expect_lock
    if not expect_lock:
        assert held == [None] * len(held), "a failed acquisition must unlock every node"


def test_optimistic_retries_are_bounded(lab, run):
    """A meddler keeps touching the watched seat (leaving it free), so every EXEC fails: the fan gives up."""

    async def scenario():
        store = make_client(lab.store.url, pool_size=8, timeout_ms=2000)
        keys = KeySpace("feedbeef0002")
        strategy = get("optimistic")(Context(store=store, keys=keys, hold_ms=20, max_retries=2))
        stop = asyncio.Event()

        async def meddle():
            while not stop.is_set():
                # SET then DEL in one MULTI/EXEC: the watched key changes, yet no GET ever sees it taken
                async with store.pipeline(transaction=True) as pipe:
                    await pipe.set(keys.seat(0), "meddler").delete(keys.seat(0)).execute()
                await asyncio.sleep(0.001)

        task = asyncio.create_task(meddle())
        try:
            result = await strategy.book(1, 0)
        finally:
            stop.set()
            await task
            await store.delete(keys.seat(0), keys.ledger)
            await store.aclose()
        return result

    result = run(scenario())
    assert (result.outcome, result.reason, result.retries) == ("fail", "gave_up", 2)
    assert result.round_trips == 3 * 3


def test_client_level_watch_sends_nothing_but_pipeline_watch_does(lab, run):
    """Why the optimistic strategy uses pipeline.watch: the client-level call is a no-op on the wire."""

    async def scenario():
        store = make_client(lab.store.url, pool_size=4, timeout_ms=2000)
        before = (await store.info("stats"))["total_commands_processed"]
        async with store.pipeline(transaction=True) as pipe:
            await pipe.watch("simlib:feedbeef0003:seat:0")
        after = (await store.info("stats"))["total_commands_processed"]
        await store.aclose()
        return after - before

    # INFO itself counts once; WATCH (and the UNWATCH on reset) must add to it
    assert run(scenario()) >= 2


def test_runner_records_every_attempt_with_units(lab, run):
    result = run(lab.burst(Scenario(strategy="setnx", users=300, seats=2, arrival="uniform", window_s=0.3)))
    frame = result.attempts
    assert len(frame) == 300 and frame["user_id"].is_unique
    assert (frame["ended_ns"] >= frame["started_ns"]).all()
    assert (frame["latency_ms"] >= 0).all()
    assert (frame["response_ms"] >= frame["latency_ms"] - 1e-6).all()
    assert set(frame["outcome"]) <= {"ok", "fail", "info"}


def test_run_with_clients_works_without_the_lab(lab, run):
    async def scenario():
        store = make_client(lab.store.url, pool_size=10, timeout_ms=2000)
        try:
            return await run_burst_with_clients(Scenario(strategy="atomic", users=100, seats=4), store)
        finally:
            await store.aclose()

    output = run(scenario())
    assert len(output.attempts) == 100 and len(output.snapshot.owners) <= 4
    assert output.keys_removed >= len(output.snapshot.owners)
