"""simlib: the ticket-rush lab. 10,000 fans press "book" within one second; is the seat sold once?

Public API (async first; ``*_sync`` wrappers for scripts)::

    import simlib
    result = await simlib.run_burst(strategy="naive", users=10_000, hold_ms=5)
    result.verdict.double_booked_seats, result.summary(), result.attempts  # a pandas DataFrame

    async with simlib.Lab() as lab:              # reuse servers across several bursts
        for name in simlib.strategy_names():
            print(name, (await lab.burst(strategy=name)).valid)
"""
__version__ = "0.1.0"

from .audit import Verdict, audit  # noqa: E402
from .config import Scenario  # noqa: E402
from .errors import ServerRefused, ServerUnavailable, SimlibError, UsageError  # noqa: E402
from .lab import BurstResult, Lab, compare, compare_sync, run_burst, run_burst_sync, run_sync  # noqa: E402
from .strategies import names as strategy_names  # noqa: E402

__all__ = [
    "BurstResult", "Lab", "Scenario", "ServerRefused", "ServerUnavailable", "SimlibError", "UsageError", "Verdict",
    "audit", "compare", "compare_sync", "run_burst", "run_burst_sync", "run_sync", "strategy_names", "__version__",
]
