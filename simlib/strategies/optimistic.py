"""Optimistic concurrency: WATCH the seat, GET it, then MULTI / SET / EXEC; retry if someone else wrote first.

Like editing a shared document that refuses to save if it changed since you opened it. ``pipeline.watch`` sends
WATCH on the pipeline's own connection (redis-py's client-level ``watch()`` sends nothing). EXEC fails with
WatchError if the seat changed; we retry with jittered backoff up to ``max_retries`` times, then give up.
"""
from __future__ import annotations

import asyncio

from redis.exceptions import WatchError

from ..record import Result
from .base import Strategy, booked, ledger_entry, refused
from .registry import register

BACKOFF_BASE_MS = 2.0


@register
class Optimistic(Strategy):
    name = "optimistic"
    exclusive = True
    guarantee = "exclusive: EXEC applies only if the watched seat is unchanged (single server)"

    async def book(self, user_id: int, seat_id: int) -> Result:
        seat_key = self.keys.seat(seat_id)
        round_trips = 0
        for retry in range(self.ctx.max_retries + 1):
            async with self.ctx.store.pipeline(transaction=True) as pipe:
                await pipe.watch(seat_key)
                owner = await pipe.get(seat_key)
                round_trips += 2
                if owner is not None:
                    return refused("seat_taken", retries=retry, round_trips=round_trips)
                await self.hold()
                pipe.multi()
                pipe.set(seat_key, user_id)
                pipe.rpush(self.keys.ledger, ledger_entry(seat_id, user_id))
                round_trips += 1
                try:
                    await pipe.execute()
                    return booked(retries=retry, round_trips=round_trips)
                except WatchError:
                    pass
            if retry < self.ctx.max_retries:
                await asyncio.sleep(self.ctx.rng.uniform(0, BACKOFF_BASE_MS * 2**retry) / 1000)
        return refused("gave_up", retries=self.ctx.max_retries, round_trips=round_trips)
