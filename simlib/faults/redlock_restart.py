"""``redlock-restart``: one of the holder's lock servers crashes and comes back empty; a rival wins a majority.

Redlock's safety argument assumes a lock server remembers its keys for their TTL. A server without persistence
that restarts forgets them: the holder's three votes shrink to two real ones, and a rival gathers three (the
restarted server plus the two the holder never had). The mitigation from the Redlock page: a crashed server stays
out for longer than the maximum TTL before it rejoins (``delayed-restart``), so every lease it voted for has expired
by the time it votes again. (Persistence with ``appendfsync always`` is the other fix; it is not staged here.)

Variants: ``no-mitigation`` (SIGKILL, immediate restart: a violation every run) and ``delayed-restart`` (the rival
finds only two servers willing while the killed one stays down for TTL + margin: no violation).
"""
from __future__ import annotations

import asyncio

from .base import EVERY
from .handoff import TTL_MS, HandoffScenario, Timeline

RESTART_MARGIN_MS = 100


async def restart_now(scenario: HandoffScenario, role: str, timeline: Timeline, lock_key: str) -> None:
    timeline.at(scenario.bench.kill(role), role, "fault", "SIGKILL (no persistence: its keys are gone)")
    await asyncio.to_thread(scenario.bench.restart, role)
    timeline.now(role, "fault", "restarted at once, empty, same port")


async def restart_later(scenario: HandoffScenario, role: str, timeline: Timeline, lock_key: str) -> asyncio.Task:
    timeline.at(scenario.bench.kill(role), role, "fault", f"SIGKILL; stays down {TTL_MS + RESTART_MARGIN_MS} ms (> max TTL)")

    async def later() -> None:
        await asyncio.sleep((TTL_MS + RESTART_MARGIN_MS) / 1000)
        await asyncio.to_thread(scenario.bench.restart, role)
        timeline.now(role, "fault", "restarted after the max TTL, empty")

    return asyncio.create_task(later())


class RedlockRestart(HandoffScenario):
    name = "redlock-restart"
    summary = "one of the holder's three lock servers is killed and restarts empty; a rival wins three votes"
    variants = {"no-mitigation": EVERY, "delayed-restart": 0}

    def plan(self, variant: str):
        return "redlock", {"no-mitigation": restart_now, "delayed-restart": restart_later}[variant]
