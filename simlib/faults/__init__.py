"""Fault scenarios: when locks lie. Each one scripts a fault with real processes and servers, then audits the result.

    report = await simlib.faults.run_fault("pause-past-ttl", runs=10, seed=0)
    report.to_dict()      # {"scenario": ..., "runs": 10, "variants": {"setnx-unfenced": {"violations": 10, ...}}}
    report.table()        # one row per variant
    report.all_runs()[0].events_frame()   # the timeline of one run

Scenarios (``simlib faults --help`` lists them): ``pause-past-ttl``, ``redlock-restart``, ``watch-misuse``,
``early-expiry``, ``server-pause``. Every scenario starts its own servers on loopback, bounds each run to
:data:`~.base.RUN_DEADLINE_S` seconds and at most 10,000 operations, and stops every process it started, also when
interrupted. ``net_delay_ms``/``net_jitter_ms`` put a delaying proxy (:mod:`simlib.netdelay`) in front of each server.
"""
from __future__ import annotations

import asyncio
import random

from ..config import did_you_mean
from ..errors import UsageError
from ..netdelay import proxied_urls
from .base import EVERY, RUN_DEADLINE_S, Bench, Event, FaultReport, FaultScenario, RunRecord, VariantReport
from .early_expiry import EarlyExpiry
from .pause_past_ttl import PausePastTTL
from .redlock_restart import RedlockRestart
from .server_pause import ServerPause
from .watch_misuse import WatchMisuse

MAX_RUNS = 100
MAX_NET_DELAY_MS = 10_000
DEFAULT_RUNS = 3

SCENARIOS: dict[str, type[FaultScenario]] = {cls.name: cls for cls in (PausePastTTL, RedlockRestart, WatchMisuse, EarlyExpiry, ServerPause)
}


def names() -> tuple[str, ...]:
    return tuple(SCENARIOS)


def get(name: str) -> type[FaultScenario]:
    if name not in SCENARIOS:
        raise UsageError(f"fault scenario '{name}' is unknown: {did_you_mean(name, names())}")
    return SCENARIOS[name]


def run_seed(seed: int, variant: str, index: int) -> int:
    """A per-run seed, the same for the same (seed, variant, run)."""
    return random.Random(f"{seed}:{variant}:{index}").randrange(2**31)


async def run_fault(name: str, *, runs: int = DEFAULT_RUNS, seed: int = 0, net_delay_ms: float = 0.0,
                    net_jitter_ms: float = 0.0) -> FaultReport:
    """Run every variant of scenario ``name`` ``runs`` times against fresh loopback servers; count violations."""
    cls = get(name)
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= MAX_RUNS:
        raise UsageError(f"--runs must be a whole number from 1 to {MAX_RUNS} (got {runs!r})")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"--seed must be a non-negative whole number (got {seed!r})")
    for flag, value in (("--net-delay-ms", net_delay_ms), ("--net-jitter-ms", net_jitter_ms)):
        if not (isinstance(value, (int, float)) and 0 <= value <= MAX_NET_DELAY_MS):
            raise UsageError(f"{flag} must be a number from 0 to {MAX_NET_DELAY_MS:,} (got {value!r})")
    report = FaultReport(cls.name, runs, seed, {v: VariantReport(v, expected, extra_expected=dict(cls.extra_expected))
                                                for v, expected in cls.variants.items()},
                         net_delay_ms=net_delay_ms, net_jitter_ms=net_jitter_ms)
    bench = Bench.start(cls.lock_nodes)
    try:
        async with proxied_urls(bench.urls, delay_ms=net_delay_ms, jitter_ms=net_jitter_ms, seed=seed):
            scenario = cls(bench)
            try:
                await scenario.setup()
                for index in range(runs):
                    for variant in cls.variants:
                        record = await asyncio.wait_for(
                            scenario.run_once(variant, index, run_seed(seed, variant, index)), RUN_DEADLINE_S)
                        report.variants[variant].runs.append(record)
            finally:
                await scenario.teardown()
    finally:
        bench.stop()
        report.pids = tuple(bench.pids)
    return report


def run_fault_sync(name: str, **kwargs) -> FaultReport:
    from ..lab import run_sync

    return run_sync(run_fault(name, **kwargs))


__all__ = ["EVERY", "Event", "FaultReport", "RunRecord", "SCENARIOS", "VariantReport", "get", "names", "run_fault",
           "run_fault_sync"]
