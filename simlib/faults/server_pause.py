"""``server-pause``: the store itself is frozen with SIGSTOP in the middle of a burst, then continued.

A stopped server accepts nothing and answers nothing, but (unlike CLIENT PAUSE, which also freezes key expiry)
nothing inside it changes either: it is the honest model of a long GC-like stall or a VM migration. Fans whose
commands hit the frozen store time out and are recorded as ``info`` (maybe booked, maybe not); whether one landed
once the store resumed is the ledger's call (``info_took_effect``; here usually 0, because the client closes a
timed-out connection and the reset discards the request the frozen server had not yet read). The audit must not call any of that a lost booking: ``lost`` counts only
fans told "yours" who do not own their seat, and the ledger settles each info row. The strategy is ``atomic``, which
cannot lose a booking, so every ``lost`` it reported would be false (``false_lost``, expected 0).

The burst: 2,000 fans over 2 s onto 50 seats, 20 connections; the store is stopped once a fifth of them are done,
for 600 ms, with a 300 ms command timeout: the stop is forced by the attempt count, and the store is continued long before the
schedule ends, so the audit's snapshot always reads a running server.
"""
from __future__ import annotations

import asyncio
import os
import signal

from ..audit import audit
from ..config import Scenario
from ..lab import make_client
from ..runner import run_burst_with_clients
from .base import FaultScenario, RunRecord, Timeline

USERS, SEATS, WINDOW_S = 2000, 50, 2.0
STOP_AFTER_ATTEMPTS = USERS // 5
PAUSE_MS = 600
TIMEOUT_MS = 300
POOL = 20


class ServerPause(FaultScenario):
    name = "server-pause"
    summary = "the store is SIGSTOPped mid-burst for 600 ms: timeouts become info, no false lost booking"
    variants = {"sigstop": 0}
    extra_expected = {"false_lost": lambda total, runs: total == 0, "info": lambda total, runs: total >= runs}

    async def run_once(self, variant: str, index: int, seed: int) -> RunRecord:
        scenario = Scenario(strategy="atomic", users=USERS, seats=SEATS, window_s=WINDOW_S, arrival="uniform",
                            seat_choice="uniform", seed=seed, timeout_ms=TIMEOUT_MS, pool_size=POOL).validate()
        pid = self.bench.server("store").pid
        timeline = Timeline()
        loop = asyncio.get_running_loop()
        done = 0
        stopped = False

        def resume() -> None:
            os.kill(pid, signal.SIGCONT)
            timeline.now("store", "resume", "SIGCONT")

        def progress(count: int) -> None:
            nonlocal done, stopped
            done += count
            if not stopped and done >= STOP_AFTER_ATTEMPTS:
                stopped = True
                os.kill(pid, signal.SIGSTOP)
                timeline.now("store", "pause", f"SIGSTOP after {done} attempts")
                loop.call_later(PAUSE_MS / 1000, resume)

        store = make_client(self.bench.urls["store"], pool_size=scenario.pool_size, timeout_ms=TIMEOUT_MS)
        try:
            output = await run_burst_with_clients(scenario, store, progress=progress)
        finally:
            os.kill(pid, signal.SIGCONT)  # whatever happened, never leave the store frozen
            await store.aclose()
        verdict = audit(output.attempts, output.snapshot.owners, output.snapshot.ledger)
        frame = output.attempts
        first_info = frame.loc[frame["outcome"] == "info", "started_ns"]
        if len(first_info):
            timeline.at(timeline.t0_ns + int(first_info.min()), "fans", "reject", "first attempt that timed out (info) began")
        return RunRecord(variant, index, output.run_id, frame, verdict, timeline.sorted(), extra={
            "info": verdict.info, "info_took_effect": verdict.info_took_effect, "false_lost": verdict.lost,
            "booked": verdict.booked,
        })
