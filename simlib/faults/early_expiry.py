"""``early-expiry``: one of the holder's lock servers lets the key expire early; a rival wins a majority.

Redlock assumes the servers' clocks advance at about the same rate. A server whose clock jumps forward (an NTP step,
an admin setting the date) expires keys early. We must not touch the machine's clock, so the stand-in is the same
effect on one server: ``PEXPIRE key 1`` there. The holder's majority silently drops to two, a rival gathers three,
and both hold the lock within the holder's validity. Fencing is what saves the seat: the rival's newer token reaches
the store first, and the holder's late write bounces.

Variants: ``redlock-unfenced`` (a violation every run), ``redlock-fenced`` (stale write rejected: no violation).
"""
from __future__ import annotations

import asyncio

from .base import EVERY
from .handoff import HandoffScenario, Timeline

EXPIRE_AFTER_MS = 1


async def expire_early(scenario: HandoffScenario, role: str, timeline: Timeline, lock_key: str) -> None:
    clients = scenario.bench.clients(with_locks=True)
    try:
        await clients.locks[scenario.bench.lock_roles.index(role)].pexpire(lock_key, EXPIRE_AFTER_MS)
    finally:
        await clients.aclose()
    timeline.now(role, "fault", "clock jump stand-in: PEXPIRE 1 ms; the key is gone early")
    await asyncio.sleep(EXPIRE_AFTER_MS * 5 / 1000)


class EarlyExpiry(HandoffScenario):
    name = "early-expiry"
    summary = "one of the holder's lock servers expires the key early (a clock jump stand-in); a rival wins"
    variants = {"redlock-unfenced": EVERY, "redlock-fenced": 0}

    def plan(self, variant: str):
        return {"redlock-unfenced": "redlock", "redlock-fenced": "redlock-fenced"}[variant], expire_early
