"""``watch-misuse``: optimistic locking with redis-py's client-level ``watch()``, which sends nothing, against
``pipeline.watch``, which sends WATCH on the connection that will run EXEC.

A fan reads the seat (free), stalls in its race window while a rival books the seat, then runs MULTI/SET/EXEC.
With the client-level call no WATCH ever reached the server (redis-py only warns, DeprecationWarning "Call WATCH
from a Pipeline object"), so EXEC succeeds and overwrites the rival: a lost update, both fans told "yours", in every
run. With ``pipeline.watch`` (the registered ``optimistic`` strategy) EXEC fails with WatchError, the fan retries,
finds the seat taken and walks away. ``watch_sent`` counts the WATCH commands the server received from the stalled
fan before its race window (from INFO commandstats): 0 for the misuse, 1 for the fix.
"""
from __future__ import annotations

import random

from ..record import Result
from ..strategies.base import Strategy, booked, ledger_entry, refused
from .base import EVERY, FaultScenario, RunRecord, StalledHolder, Timeline, judge, new_keys, new_strategy, rival_books


class ClientLevelWatch(Strategy):
    """The ``optimistic`` strategy as it is often miswritten: WATCH through the client, not the pipeline. Not
    registered: it exists to be shown failing."""

    name = "optimistic-client-watch"
    exclusive = False
    guarantee = "none: redis-py's client-level watch() sends nothing, so EXEC never notices a concurrent write"

    async def book(self, user_id: int, seat_id: int) -> Result:
        store, seat_key = self.ctx.store, self.keys.seat(seat_id)
        await store.watch(seat_key)  # the misuse: a DeprecationWarning, and nothing on the wire
        if await store.get(seat_key) is not None:
            return refused("seat_taken", round_trips=1)
        await self.hold()
        async with store.pipeline(transaction=True) as pipe:
            pipe.set(seat_key, user_id)
            pipe.rpush(self.keys.ledger, ledger_entry(seat_id, user_id))
            await pipe.execute()
        return booked(round_trips=2)


async def watch_calls(store) -> int:
    return int((await store.info("commandstats")).get("cmdstat_watch", {}).get("calls", 0))


class WatchMisuse(FaultScenario):
    name = "watch-misuse"
    summary = "client-level watch() sends nothing (lost update) vs pipeline.watch (WatchError, retry, refused)"
    variants = {"client-watch": EVERY, "pipeline-watch": 0}

    async def run_once(self, variant: str, index: int, seed: int) -> RunRecord:
        fan_user, rival_user = random.Random(seed).sample(range(1, 10_000), 2)
        seat, keys, timeline = 0, new_keys(), Timeline()
        fan_clients = self.bench.clients(with_locks=False)
        counts: dict[str, int] = {}

        async def count_watches() -> None:
            counts["watch_sent"] = await watch_calls(fan_clients.store) - counts["watch_before"]

        holder = StalledHolder(on_gate=count_watches)
        try:
            fan = new_strategy(ClientLevelWatch if variant == "client-watch" else "optimistic", fan_clients, keys,
                               ttl_ms=0, seed=seed, gate=holder.gate, before=("hold",))
            fan.ctx.max_retries = 1
            counts["watch_before"] = await watch_calls(fan_clients.store)
            timeline.now("holder", "lock", f"{'client.watch()' if variant == 'client-watch' else 'pipeline.watch'}, GET")
            await holder.start(fan, fan_user, seat)
            timeline.now("holder", "check", f"seat free; WATCH commands sent: {counts['watch_sent']}; stalls")
            rival_act = await rival_books(self.bench, "optimistic", keys, rival_user, seat, ttl_ms=0, seed=seed + 1,
                                          with_locks=False, timeline=timeline,
                                          note="pipeline.watch, GET, MULTI/SET/EXEC")
            fan_act = await holder.resume(timeline, "MULTI/SET/EXEC")
        finally:
            holder.abandon()
            await fan_clients.aclose()
        frame, verdict = await judge(self.bench, keys, "optimistic", [fan_act, rival_act], timeline.t0_ns)
        return RunRecord(variant, index, keys.run_id, frame, verdict, timeline.sorted(),
                         extra={"watch_sent": counts["watch_sent"], "lost_updates": verdict.lost})
