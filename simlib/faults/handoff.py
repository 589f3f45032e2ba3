"""The Redlock majority hand-off both ``redlock-restart`` and ``early-expiry`` stage: one fault, two lock holders.

Five lock servers. The holder wins *exactly* a majority: lock-1, lock-2 and lock-3 (lock-4 and lock-5 still carry a
previous holder's key, whose late release the harness plays right after). The holder checks the seat and stalls at
its write, well inside its validity. Then the scenario's fault makes one of the holder's three servers forget the key
(killed and restarted empty, or the key expired early), and a rival asks all five: lock-3, lock-4 and lock-5 say
yes, a majority again. Two fans now hold "the" lock at once, with no pause and no expired lease: the holder writes
when it resumes. Nothing here depends on timing luck: every step waits for the one before it.
"""
from __future__ import annotations

import asyncio
import random
from typing import Awaitable, Callable

from .base import (
    FaultScenario,
    RunRecord,
    StalledHolder,
    Timeline,
    holder_write_counts,
    judge,
    new_keys,
    new_strategy,
    rival_books,
)

TTL_MS = 1000
HOLDER_SERVERS = 3
FORGETFUL = "lock-3"
"""The holder's server that the fault strikes."""

#: A fault: gets the scenario, the timeline and the lock key; may return a task that must finish before judging.
Fault = Callable[["HandoffScenario", str, Timeline, str], Awaitable[asyncio.Task | None]]


class HandoffScenario(FaultScenario):
    """Base for the two hand-off scenarios; subclasses map each variant to a strategy and a fault."""

    lock_nodes = 5

    def plan(self, variant: str) -> tuple[str, Fault]:
        raise NotImplementedError

    async def run_once(self, variant: str, index: int, seed: int) -> RunRecord:
        strategy, fault = self.plan(variant)
        holder_user, rival_user = random.Random(seed).sample(range(1, 10_000), 2)
        seat, keys, timeline = 0, new_keys(), Timeline()
        lock_key = keys.lock(seat)
        roles = self.bench.lock_roles
        helper = self.bench.clients(with_locks=True)
        holder_clients = self.bench.clients(with_locks=True)
        holder = StalledHolder()
        pending: asyncio.Task | None = None
        try:
            minority = helper.locks[HOLDER_SERVERS:]
            for client in minority:  # a previous holder's key, so the holder can win only lock-1..3
                await client.set(lock_key, "previous-holder", px=TTL_MS * 5)
            strategy_for_holder = new_strategy(strategy, holder_clients, keys, ttl_ms=TTL_MS, seed=seed, gate=holder.gate)
            await strategy_for_holder.prepare()
            timeline.now("holder", "lock", "asks all five lock servers")
            await holder.start(strategy_for_holder, holder_user, seat)
            held = [role for role, client in zip(roles, helper.locks) if await client.get(lock_key) not in
                    (None, b"previous-holder")]
            timeline.now("holder", "check", f"holds {len(held)}/5 ({', '.join(held)}), seat free; stalls at its write")
            for client in minority:
                await client.delete(lock_key)
            timeline.now("previous", "expiry", f"previous holder's key released on {', '.join(roles[HOLDER_SERVERS:])}")

            pending = await fault(self, FORGETFUL, timeline, lock_key)
            rival_act = await rival_books(self.bench, strategy, keys, rival_user, seat, ttl_ms=TTL_MS, seed=seed + 1,
                                          with_locks=True, timeline=timeline, note="asks all five lock servers")
            holder_act = await holder.resume(timeline, "resumes, lease still valid")
            if pending is not None:
                await pending
        finally:
            holder.abandon()
            if pending is not None and not pending.done():
                await asyncio.gather(pending, return_exceptions=True)
            await helper.aclose()
            await holder_clients.aclose()
        frame, verdict = await judge(self.bench, keys, strategy, [holder_act, rival_act], timeline.t0_ns)
        return RunRecord(variant, index, keys.run_id, frame, verdict, timeline.sorted(),
                         extra={**holder_write_counts(holder_act.result),
                                "holder_had_exact_majority": int(len(held) == HOLDER_SERVERS)})
