"""Drive one burst: release fans on schedule, let the strategy act, and time every attempt.

The runner is the race official with the only stopwatch. A fixed set of worker tasks pulls fans in arrival order
(instead of one task per fan fighting for the pool); each worker sleeps until its fan is due, then calls
``strategy.book``. If every worker is busy when a fan is due, the fan is released late and the lag says so:
response time is measured from the scheduled arrival, so a slow harness cannot hide queueing (coordinated
omission). The closed model (k6's constant-vus) runs ``vus`` loops of book-then-think for a fixed duration.

The runner gets clients, never servers, and it cleans up its own run prefix when done.
"""
from __future__ import annotations

import asyncio
import random
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from asyncio_throttle import Throttler
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .config import Scenario
from .keys import KeySpace, delete_prefix, new_run_id
from .record import ATTEMPT_COLUMNS, INFO, Result
from .strategies import Context
from .tally import Tally
from .strategies import get as get_strategy
from .workload import SeatChooser, open_schedule, vu_rng

#: Head start between creating the workers and the first scheduled arrival, so start-up is not counted as lag.
START_DELAY_NS = 20_000_000
SNAPSHOT_CHUNK = 10_000
#: Rows a streamed run buffers before appending them to its CSV and folding them into the tally.
STREAM_CHUNK_ROWS = 20_000

Clock = Callable[[], int]

#: The fan (user id) whose booking is in progress in the current task, while ``strategy.book`` runs; None
#: otherwise. Read by tracing clients (:mod:`simlib.race`) to say which fan sent each command.
current_fan: ContextVar[int | None] = ContextVar("simlib_current_fan", default=None)


@dataclass(frozen=True)
class Snapshot:
    """The server's final word: each seat's owner and the ledger of bookings, read once after the burst."""

    owners: dict[int, int]
    """seat_id -> user_id of the final owner; seats nobody owns are absent."""
    ledger: list[tuple[int, int, str]] = field(default_factory=list)
    """(seat_id, user_id, token) in append order."""


@dataclass(frozen=True)
class RunOutput:
    run_id: str
    attempts: pd.DataFrame | None
    """Every attempt, or None for a streamed run (see ``attempts_path``)."""
    tally: Tally
    snapshot: Snapshot
    keys_removed: int
    """Keys under the run prefix that the cleanup removed from all servers."""
    attempts_path: Path | None = None
    """Where a streamed run wrote its attempts (CSV, in completion order)."""


class MemorySink:
    """Keeps every row; the frame is built once at the end (exact percentiles)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.add = self.rows.append

    def finish(self, order_by: str) -> tuple[pd.DataFrame, Tally]:
        frame = attempts_frame(self.rows).sort_values(order_by, kind="stable").reset_index(drop=True)
        return frame, Tally.from_frame(frame)


class StreamSink:
    """Writes rows to CSV in chunks and keeps only aggregates, so memory stays flat however long the run.

    A single writer thread turns each full chunk into a frame, appends it to the CSV and folds it into the tally,
    so the event loop only swaps buffers (the GIL still lets it in every few milliseconds)."""

    def __init__(self, path: Path, chunk_rows: int = STREAM_CHUNK_ROWS) -> None:
        self.path, self.chunk_rows = Path(path), chunk_rows
        self.rows: list[tuple] = []
        self.tally = Tally(exact=False)
        self.header = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simlib-stream")
        self.jobs: list[Future] = []

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            rows, self.rows = self.rows, []
            self.jobs.append(self.writer.submit(self._write, rows))

    def _write(self, rows: list[tuple]) -> None:
        frame = attempts_frame(rows)
        frame.to_csv(self.path, mode="a", header=self.header, index=False)
        self.header = False
        self.tally.update(frame)

    def finish(self, order_by: str) -> tuple[None, Tally]:
        self.flush()
        self.writer.shutdown(wait=True)
        for job in self.jobs:
            job.result()  # re-raise a write error (disk full, ...) here
        return None, self.tally


def throttler_for(max_rate: float | None) -> Throttler | None:
    """asyncio-throttle caps how many attempts start per period (like k6's rps); it cannot pace arrivals itself."""
    if max_rate is None:
        return None
    rate_limit = max(1, round(max_rate))
    return Throttler(rate_limit=rate_limit, period=rate_limit / max_rate)


def stopping() -> bool:
    """True once this task was asked to stop (Ctrl-C, SIGTERM), even if a library swallowed the CancelledError."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def run_to_the_end(coros) -> None:
    """Run the workers together; if one fails or the run is cancelled, stop them all and wait until each has ended.

    ``asyncio.gather`` alone returns at the first cancelled worker while the others may still be mid-booking, and
    a booking that lands after the run's cleanup leaves keys behind (seen after Ctrl-C: the cleanup removed the
    seat, a straggler booked it again). Workers also check :func:`stopping` between fans, because a cancellation
    can be swallowed inside the client library, and the worker would otherwise carry on to the next fan."""
    tasks = [asyncio.ensure_future(coro) for coro in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        raise


async def _throttled_book(strategy, user_id: int, seat_id: int, clock: Clock, throttler) -> tuple[int, int, Result]:
    """:func:`_timed_book`, after waiting for the --max-rate throttler if there is one (the wait counts as lag)."""
    if throttler is None:
        return await _timed_book(strategy, user_id, seat_id, clock)
    async with throttler:
        return await _timed_book(strategy, user_id, seat_id, clock)


async def _timed_book(strategy, user_id: int, seat_id: int, clock: Clock) -> tuple[int, int, Result]:
    fan_token = current_fan.set(user_id)
    started = clock()
    try:
        result = await strategy.book(user_id, seat_id)
    except (RedisTimeoutError, asyncio.TimeoutError) as exc:
        result = Result(INFO, "timeout", error=str(exc) or type(exc).__name__)
    except (RedisError, OSError) as exc:
        result = Result(INFO, "error", error=f"{type(exc).__name__}: {exc}")
    finally:
        current_fan.reset(fan_token)
    return started, clock(), result


def _row(run_id, strategy, user_id, seat_id, scheduled_ns, started, ended, t0, r: Result) -> tuple:
    return (
        run_id, strategy, int(user_id), int(seat_id), scheduled_ns / 1e9, started - t0, ended - t0,
        (started - t0 - scheduled_ns) / 1e6, (ended - started) / 1e6, (ended - t0 - scheduled_ns) / 1e6,
        r.outcome, r.reason, r.retries, r.round_trips, r.lock_token, r.fence_token, r.error,
    )


async def _run_open(scenario: Scenario, strategy, run_id: str, clock: Clock, progress, sink) -> None:
    schedule = open_schedule(scenario)
    seats = schedule.seat_ids  # numpy arrays, not lists: a 1M-fan schedule stays ~16 MB
    due_ns = (schedule.scheduled_s * 1e9).astype(np.int64)
    total = len(schedule)
    add = sink.add
    throttler = throttler_for(scenario.max_rate)
    cursor = 0
    t0 = clock() + START_DELAY_NS

    async def worker() -> None:
        nonlocal cursor
        while cursor < total and not stopping():
            user = cursor  # fans are numbered in arrival order
            cursor += 1
            seat, due = int(seats[user]), int(due_ns[user])
            wait_ns = t0 + due - clock()
            if wait_ns > 0:
                await asyncio.sleep(wait_ns / 1e9)
            started, ended, result = await _throttled_book(strategy, user, seat, clock, throttler)
            add(_row(run_id, strategy.name, user, seat, due, started, ended, t0, result))
            if progress is not None:
                progress(1)

    await run_to_the_end(worker() for _ in range(min(scenario.worker_count, total)))


async def _run_closed(scenario: Scenario, strategy, run_id: str, clock: Clock, progress, sink) -> None:
    assert scenario.vus is not None
    chooser = SeatChooser(scenario.seat_choice, scenario.seats)
    throttler = throttler_for(scenario.max_rate)
    t0 = clock() + START_DELAY_NS
    end_ns = t0 + int(scenario.duration_s * 1e9)
    think_s = scenario.think_ms / 1000

    async def virtual_user(vu: int) -> None:
        rng = vu_rng(scenario.seed, vu)
        wait_ns = t0 - clock()
        if wait_ns > 0:
            await asyncio.sleep(wait_ns / 1e9)
        while clock() < end_ns and not stopping():
            seat = int(chooser.draw(rng, 1)[0])
            started, ended, result = await _throttled_book(strategy, vu, seat, clock, throttler)
            sink.add(_row(run_id, strategy.name, vu, seat, started - t0, started, ended, t0, result))
            if progress is not None:
                progress(1)
            if think_s > 0:
                await asyncio.sleep(think_s)

    await run_to_the_end(virtual_user(vu) for vu in range(scenario.vus))


async def warm_up(clients, connections: int) -> None:
    """Open the connections the burst will use before the clock starts, as a warm production pool would be."""
    replies = await asyncio.gather(*(client.ping() for client in clients for _ in range(connections)),
                                   return_exceptions=True)
    for reply in replies:  # a slow PING under a tight --timeout-ms is fine; a refused connection is not
        if isinstance(reply, BaseException) and not isinstance(reply, (RedisTimeoutError, asyncio.TimeoutError)):
            raise reply


async def read_snapshot(store, keys: KeySpace, seats: int) -> Snapshot:
    owners: dict[int, int] = {}
    for low in range(0, seats, SNAPSHOT_CHUNK):
        ids = range(low, min(seats, low + SNAPSHOT_CHUNK))
        values = await store.mget([keys.seat(i) for i in ids])
        owners.update((seat, int(value)) for seat, value in zip(ids, values) if value is not None)
    ledger = []
    for raw in await store.lrange(keys.ledger, 0, -1):
        seat, user, token = raw.decode().split(":", 2)
        ledger.append((int(seat), int(user), token))
    return Snapshot(owners=owners, ledger=ledger)


def attempts_frame(rows: list) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(ATTEMPT_COLUMNS))
    frame["fence_token"] = frame["fence_token"].astype("Int64")
    return frame


async def run_burst_with_clients(
    scenario: Scenario,
    store,
    lock_clients=(),
    *,
    run_id: str | None = None,
    progress: Callable[[int], None] | None = None,
    clock: Clock = time.perf_counter_ns,
    stream_to: Path | None = None,
) -> RunOutput:
    """Run one burst with ready clients. Keys live under ``simlib:<run_id>:`` and are removed afterwards.

    With ``stream_to``, attempts are appended to that CSV in chunks and only aggregates stay in memory."""
    scenario.validate()
    run_id = run_id or new_run_id()
    keys = KeySpace(run_id)
    strategy_cls = get_strategy(scenario.strategy)
    context = Context(
        store=store,
        keys=keys,
        ttl_ms=int(round(scenario.ttl_ms)),
        hold_ms=scenario.hold_ms,
        max_retries=scenario.max_retries,
        clock_ns=clock,
        lock_clients=tuple(lock_clients) if strategy_cls.needs_lock_servers else (),
        rng=random.Random(scenario.seed),
    )
    strategy = strategy_cls(context)
    cleanup_clients = [store, *context.lock_clients]
    try:
        await warm_up(cleanup_clients, min(scenario.pool_size, scenario.worker_count if not scenario.closed else scenario.vus))
        await strategy.prepare()
        sink = StreamSink(stream_to) if stream_to else MemorySink()
        if scenario.closed:
            await _run_closed(scenario, strategy, run_id, clock, progress, sink)
        else:
            await _run_open(scenario, strategy, run_id, clock, progress, sink)
        attempts, tally = sink.finish("started_ns" if scenario.closed else "user_id")
        snapshot = await read_snapshot(store, keys, scenario.seats)
    finally:
        removed = 0
        for client in cleanup_clients:
            removed += await delete_prefix(client, keys.prefix)
    return RunOutput(run_id=run_id, attempts=attempts, tally=tally, snapshot=snapshot, keys_removed=removed,
                     attempts_path=Path(stream_to) if stream_to else None)
