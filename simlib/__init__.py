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

import sys  # noqa: E402
import types  # noqa: E402

from .config import Scenario  # noqa: E402
from .errors import ServerRefused, ServerUnavailable, SimlibError, UsageError  # noqa: E402
from .strategies import names as strategy_names  # noqa: E402

# Loaded on first use (PEP 562), so the command line answers a typo or a dead server before pandas is imported.
_LAZY = {
    "Verdict": "audit", "audit": "audit",
    "BurstResult": "lab", "Lab": "lab", "compare": "lab", "compare_sync": "lab", "run_burst": "lab",
    "run_burst_sync": "lab", "run_sync": "lab",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'simlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """Keeps ``simlib.audit`` the function: importing the submodule ``simlib.audit`` would otherwise rebind it."""

    def __setattr__(self, name: str, value) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "BurstResult", "Lab", "Scenario", "ServerRefused", "ServerUnavailable", "SimlibError", "UsageError", "Verdict",
    "audit", "compare", "compare_sync", "run_burst", "run_burst_sync", "run_sync", "strategy_names", "__version__",
]
