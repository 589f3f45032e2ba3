"""``pause-past-ttl``: the lock holder is frozen (SIGSTOP) longer than its lease; a rival books; the holder wakes and
writes. Kleppmann's picture, with a real process and real signals.

The holder runs in its own process (:mod:`.holder`). It takes the lock, finds the seat free, passes any validity
check, and is frozen by PID right before its write. The parent waits until the lease has expired on every lock
server (the PTTL the holder read, plus a margin), lets a rival take the lock and book, then continues the holder.
Without fencing the holder's write lands on a seat it no longer owns: both fans were told "yours" (a violation in
every run). With fencing the store has seen the rival's newer token and refuses the stale write (no violation).
"""
from __future__ import annotations

import asyncio
import random

from ..record import Result
from .base import (
    EVERY,
    Act,
    FaultScenario,
    RunRecord,
    Timeline,
    clock_ns,
    describe_result,
    holder_write_counts,
    judge,
    new_keys,
    rival_books,
)
from .holder import GO, HolderProcess

TTL_MS = 300
EXPIRY_MARGIN_MS = 100
VARIANT_STRATEGY = {
    "setnx-unfenced": "setnx",
    "redlock-unfenced": "redlock",
    "setnx-fenced": "setnx-fenced",
    "redlock-fenced": "redlock-fenced",
}


class PausePastTTL(FaultScenario):
    name = "pause-past-ttl"
    summary = "the holder is SIGSTOPped past its lease; a rival books; the holder wakes and writes"
    variants = {"setnx-unfenced": EVERY, "redlock-unfenced": EVERY, "setnx-fenced": 0, "redlock-fenced": 0}
    lock_nodes = 5

    holder: HolderProcess | None = None

    async def setup(self) -> None:
        self.holder = HolderProcess()
        self.bench.pids.append(self.holder.pid)

    async def teardown(self) -> None:
        if self.holder is not None:
            self.holder.close()

    async def run_once(self, variant: str, index: int, seed: int) -> RunRecord:
        strategy = VARIANT_STRATEGY[variant]
        rng = random.Random(seed)
        holder_user, rival_user = rng.sample(range(1, 10_000), 2)
        seat, keys, timeline = 0, new_keys(), Timeline()
        with_locks = bool(self.bench.lock_roles) and strategy.startswith("redlock")
        self.holder.send({
            "strategy": strategy, "store_url": self.bench.urls["store"],
            "lock_urls": [self.bench.urls[r] for r in self.bench.lock_roles] if with_locks else [],
            "run_id": keys.run_id, "user_id": holder_user, "seat_id": seat, "ttl_ms": TTL_MS, "seed": seed,
            "timeout_ms": 2000,
        })
        timeline.at((await self.holder.expect("start"))["t_ns"], "holder", "lock", "takes the lock")
        at_write = await self.holder.expect("at_write")
        timeline.at(at_write["t_ns"], "holder", "check", f"seat free; {at_write['lease_pttl_ms']} ms of lease left")
        timeline.at(self.holder.stop(), "holder", "pause", "SIGSTOP")
        expiry_ns = at_write["t_ns"] + int(at_write["lease_pttl_ms"]) * 1_000_000
        timeline.at(expiry_ns, "holder", "expiry", "lease expires while frozen")
        self.holder.send(GO)  # buffered in the pipe: the frozen holder reads it only after SIGCONT

        await asyncio.sleep(max(0, expiry_ns + EXPIRY_MARGIN_MS * 1_000_000 - clock_ns()) / 1e9)
        rival_act = await rival_books(self.bench, strategy, keys, rival_user, seat, ttl_ms=TTL_MS, seed=seed + 1,
                                      with_locks=with_locks, timeline=timeline, note="takes the expired lock")

        timeline.at(self.holder.cont(), "holder", "resume", "SIGCONT")
        await self.holder.expect("resumed")
        done = await self.holder.expect("result")
        holder_act = Act("holder", holder_user, seat, done["started_ns"], done["ended_ns"], Result(**done["result"]))
        timeline.at(holder_act.ended_ns, "holder", *describe_result(holder_act.result))
        frame, verdict = await judge(self.bench, keys, strategy, [holder_act, rival_act], timeline.t0_ns)
        return RunRecord(variant, index, keys.run_id, frame, verdict, timeline.sorted(),
                         extra=holder_write_counts(holder_act.result))
