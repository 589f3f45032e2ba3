"""What every fault scenario shares: the bench of servers, actors, the timeline, and the records of runs.

A fault scenario is a stage play, not a lottery: each one scripts the order of events (who holds the lock, when the
fault strikes, who writes when) and forces it with real means (SIGSTOP, SIGKILL, a key dropped on one server), so
every run tells the same story and the count of violations is a property of the strategy, not of luck. A violation
is a run whose audit (:func:`simlib.audit.audit`) is invalid: a seat sold twice or a lost booking.

The harness owns the clock (``time.monotonic_ns``, one CLOCK_MONOTONIC for this process and its children), so the
timeline of a run can be drawn from events recorded by the parent and by a subprocess alike.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable, ClassVar

import pandas as pd

from ..audit import Verdict, audit
from ..keys import KeySpace, delete_prefix, new_run_id
from ..lab import make_client
from ..record import Result
from ..runner import _row, _timed_book, attempts_frame, read_snapshot
from ..servers import Server, ServerGroup, find_binary, start_server
from ..strategies import Context
from ..strategies import get as get_strategy
from ..strategies.fencing import STALE_ERROR

#: Every run must finish within this many seconds (the issue's bound); a run that does not is a harness failure.
RUN_DEADLINE_S = 10.0
STEP_TIMEOUT_S = 5.0
CLIENT_TIMEOUT_MS = 1000.0
ACTOR_POOL = 8
LOCK_NODES = 5
EVERY = "every"
"""Expected violations: one per run."""

clock_ns = time.monotonic_ns


# ---- records -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Event:
    """One moment of a run's timeline: ``t_ms`` after the run started, who (``actor``) did or suffered what."""

    t_ms: float
    actor: str
    kind: str
    """``lock``, ``check``, ``pause``, ``expiry``, ``fault``, ``resume``, ``write`` (it landed) or ``reject``."""
    note: str = ""


@dataclass
class RunRecord:
    """One run of one variant: every attempt, the audit's verdict and the timeline."""

    variant: str
    index: int
    run_id: str
    attempts: pd.DataFrame
    verdict: Verdict
    events: list[Event]
    extra: dict[str, Any] = field(default_factory=dict)
    """Scenario-specific counts (``info``, ``false_lost``, ``watch_sent``...), summed per variant."""

    @property
    def violation(self) -> bool:
        return not self.verdict.valid

    def events_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(e) for e in self.events], columns=["t_ms", "actor", "kind", "note"])


@dataclass
class VariantReport:
    name: str
    expected: int | str
    """0, or :data:`EVERY` (a violation in every run)."""
    runs: list[RunRecord] = field(default_factory=list)
    extra_expected: dict[str, Callable[[int, int], bool]] = field(default_factory=dict, repr=False)

    @property
    def violations(self) -> int:
        return sum(run.violation for run in self.runs)

    @property
    def expected_violations(self) -> int:
        return len(self.runs) if self.expected == EVERY else int(self.expected)

    def extras(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for run in self.runs:
            for key, value in run.extra.items():
                totals[key] = totals.get(key, 0) + int(value)
        return totals

    @property
    def meets_expectation(self) -> bool:
        extras = self.extras()
        return self.violations == self.expected_violations and all(
            check(extras.get(key, 0), len(self.runs)) for key, check in self.extra_expected.items()
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": len(self.runs),
            "violations": self.violations,
            "expected_violations": self.expected_violations,
            "meets_expectation": self.meets_expectation,
            **self.extras(),
        }


@dataclass
class FaultReport:
    """The answer of :func:`simlib.faults.run_fault`: per variant, how many runs broke the audit."""

    scenario: str
    runs: int
    seed: int
    variants: dict[str, VariantReport]
    net_delay_ms: float = 0.0
    net_jitter_ms: float = 0.0
    pids: tuple[int, ...] = ()
    """Every process the scenario started (servers, holders): all gone when it returns."""

    @property
    def ok(self) -> bool:
        return all(v.meets_expectation for v in self.variants.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "runs": self.runs,
            "seed": self.seed,
            "net_delay_ms": self.net_delay_ms,
            "net_jitter_ms": self.net_jitter_ms,
            "ok": self.ok,
            "variants": {name: v.to_dict() for name, v in self.variants.items()},
        }

    def table(self) -> pd.DataFrame:
        """One row per variant: runs, violations, expected, and the scenario's extra counts."""
        rows = [{"scenario": self.scenario, "variant": name, **v.to_dict()} for name, v in self.variants.items()]
        return pd.DataFrame(rows).set_index(["scenario", "variant"])

    def text(self) -> str:
        """The terminal summary: one line per variant."""
        delay = f" · net delay {self.net_delay_ms:g}±{self.net_jitter_ms:g} ms" if self.net_delay_ms or self.net_jitter_ms else ""
        lines = [f"simlib faults · {self.scenario} · {self.runs} run(s) per variant · seed {self.seed}{delay}", ""]
        for name, variant in self.variants.items():
            extras = " · ".join(f"{k} {v}" for k, v in variant.extras().items())
            verdict = "as expected" if variant.meets_expectation else "UNEXPECTED"
            lines.append(f"  {name:<18} violations {variant.violations}/{len(variant.runs)}"
                         f" (expected {variant.expected_violations})  {verdict}  {extras}")
        lines += ["", "every variant met its expected count" if self.ok else "some variant missed its expected count"]
        return "\n".join(lines)

    def all_runs(self) -> list[RunRecord]:
        return [run for v in self.variants.values() for run in v.runs]


class Timeline:
    """Collects a run's events against one start time."""

    def __init__(self) -> None:
        self.t0_ns = clock_ns()
        self.events: list[Event] = []

    def at(self, t_ns: int, actor: str, kind: str, note: str = "") -> None:
        self.events.append(Event(round((t_ns - self.t0_ns) / 1e6, 3), actor, kind, note))

    def now(self, actor: str, kind: str, note: str = "") -> None:
        self.at(clock_ns(), actor, kind, note)

    def sorted(self) -> list[Event]:
        return sorted(self.events, key=lambda e: e.t_ms)


# ---- the bench: servers and clients ----------------------------------------------------------------------------------
class Bench:
    """Servers a scenario starts on loopback (a store, optionally Redlock lock servers) and clients onto them.

    ``urls`` may be rewritten to a delaying proxy (:mod:`simlib.netdelay`); the servers' PIDs stay reachable for
    faults (SIGSTOP, SIGKILL) through :meth:`server`.
    """

    def __init__(self, group: ServerGroup):
        self.group = group
        self.urls: dict[str, str] = {s.role: s.url for s in group.servers}
        self.pids: list[int] = [s.pid for s in group.servers]

    @classmethod
    def start(cls, lock_nodes: int) -> "Bench":
        roles = ["store"] + [f"lock-{i + 1}" for i in range(lock_nodes)]
        return cls(ServerGroup.start(roles, binary=find_binary()))

    def stop(self) -> None:
        self.group.stop()

    def server(self, role: str) -> Server:
        return self.group.by_role(role)

    @property
    def lock_roles(self) -> list[str]:
        return [s.role for s in self.group.servers if s.role.startswith("lock-")]

    def kill(self, role: str) -> int:
        """SIGKILL ``role``'s server by PID (a crash: no goodbye, nothing saved). Returns when it was sent (ns)."""
        server = self.server(role)
        sent = clock_ns()
        server.process.kill()
        server.process.wait()
        server.stop()  # bookkeeping only: it is already gone
        return sent

    def restart(self, role: str) -> Server:
        """Start a fresh, empty server (no persistence) on the port and password of ``role``'s dead one."""
        old = self.server(role)
        new = start_server(role, binary=old.binary, port=old.port, password=old.password)
        self.group.servers[self.group.servers.index(old)] = new
        self.pids.append(new.pid)
        return new

    def clients(self, *, with_locks: bool) -> "Clients":
        store = make_client(self.urls["store"], pool_size=ACTOR_POOL, timeout_ms=CLIENT_TIMEOUT_MS)
        locks = [make_client(self.urls[r], pool_size=ACTOR_POOL, timeout_ms=CLIENT_TIMEOUT_MS)
                 for r in self.lock_roles] if with_locks else []
        return Clients(store, locks)


@dataclass
class Clients:
    """One actor's own connections (a killed server breaks only what it touched)."""

    store: Any
    locks: list

    async def aclose(self) -> None:
        for client in [self.store, *self.locks]:
            await client.aclose()


# ---- actors ----------------------------------------------------------------------------------------------------------
Gate = Callable[[], Awaitable[None]]


def stalled(strategy_cls: type, gate: Gate, before: tuple[str, ...] = ("write_booking", "write_fenced")) -> type:
    """A subclass of ``strategy_cls`` that awaits ``gate()`` right before the named steps (where the play pauses it).

    The default stalls just before the commit, after any validity check: the spot of Kleppmann's GC pause."""

    def wrap(name: str):
        inner = getattr(strategy_cls, name)

        async def gated(self, *args, **kwargs):
            await gate()
            return await inner(self, *args, **kwargs)

        gated.__name__ = name
        return gated

    methods = {name: wrap(name) for name in before if hasattr(strategy_cls, name)}
    return type(f"Stalled{strategy_cls.__name__}", (strategy_cls,), methods)


def new_strategy(name_or_cls, clients: Clients, keys: KeySpace, *, ttl_ms: int, seed: int, gate: Gate | None = None,
                 before: tuple[str, ...] = ("write_booking", "write_fenced")):
    """A ready-to-prepare strategy instance for one actor (no retries: the play decides who wins)."""
    cls = get_strategy(name_or_cls) if isinstance(name_or_cls, str) else name_or_cls
    if gate is not None:
        cls = stalled(cls, gate, before)
    return cls(Context(store=clients.store, keys=keys, ttl_ms=ttl_ms, max_retries=0, clock_ns=clock_ns,
                       lock_clients=tuple(clients.locks) if cls.needs_lock_servers else (),
                       rng=random.Random(seed)))


@dataclass
class Act:
    """What one actor did: its attempt, timed by the harness."""

    actor: str
    user_id: int
    seat_id: int
    started_ns: int
    ended_ns: int
    result: Result


async def perform(actor: str, strategy, user_id: int, seat_id: int) -> Act:
    started, ended, result = await _timed_book(strategy, user_id, seat_id, clock_ns)
    return Act(actor, user_id, seat_id, started, ended, result)


async def judge(bench: Bench, keys: KeySpace, strategy_name: str, acts: list[Act], t0_ns: int, seats: int = 1):
    """Attempts frame and verdict of a run, from the acts and the store's final state; then remove the run's keys."""
    rows = [_row(keys.run_id, strategy_name, a.user_id, a.seat_id, a.started_ns - t0_ns, a.started_ns, a.ended_ns,
                 t0_ns, a.result) for a in acts]
    clients = bench.clients(with_locks=True)
    try:
        snapshot = await read_snapshot(clients.store, keys, seats)
        for client in [clients.store, *clients.locks]:
            await delete_prefix(client, keys.prefix)
    finally:
        await clients.aclose()
    frame = attempts_frame(rows)
    return frame, audit(frame, snapshot.owners, snapshot.ledger)


async def rival_books(bench: "Bench", strategy, keys: KeySpace, user_id: int, seat_id: int, *, ttl_ms: int, seed: int,
                      with_locks: bool, timeline: "Timeline", note: str) -> Act:
    """The rival's whole turn: its own clients, the plain strategy, one attempt, entered on the timeline."""
    clients = bench.clients(with_locks=with_locks)
    try:
        rival = new_strategy(strategy, clients, keys, ttl_ms=ttl_ms, seed=seed)
        await rival.prepare()
        act = await perform("rival", rival, user_id, seat_id)
    finally:
        await clients.aclose()
    timeline.at(act.started_ns, "rival", "lock", note)
    timeline.at(act.ended_ns, "rival", *describe_result(act.result))
    return act


class StalledHolder:
    """An in-process holder that runs its attempt up to its gate, stalls there, and goes on when told.

    ``on_gate`` (optional) runs at the gate before the stall, e.g. to read the server's counters."""

    def __init__(self, on_gate: Gate | None = None):
        self.at_gate, self.go = asyncio.Event(), asyncio.Event()
        self.task: asyncio.Task | None = None
        self._on_gate = on_gate

    async def gate(self) -> None:
        if self._on_gate is not None:
            await self._on_gate()
        self.at_gate.set()
        await self.go.wait()

    async def start(self, strategy, user_id: int, seat_id: int) -> None:
        """Begin the attempt and return once the holder stands at its gate."""
        self.task = asyncio.create_task(perform("holder", strategy, user_id, seat_id))
        waiting = asyncio.create_task(self.at_gate.wait())
        await asyncio.wait([self.task, waiting], timeout=STEP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if not self.at_gate.is_set():
            raise RuntimeError(f"the holder never reached its gate: {self.task.result() if self.task.done() else 'timeout'}")

    async def resume(self, timeline: "Timeline", note: str) -> Act:
        self.go.set()
        timeline.now("holder", "resume", note)
        act = await asyncio.wait_for(self.task, STEP_TIMEOUT_S)
        timeline.at(act.ended_ns, "holder", *describe_result(act.result))
        return act

    def abandon(self) -> None:
        """On any failure: release the gate and cancel the attempt if it is still running."""
        self.go.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()


def new_keys() -> KeySpace:
    return KeySpace(new_run_id())


def describe_result(result: Result) -> tuple[str, str]:
    """(kind, note) of an actor's final write for the timeline."""
    if result.outcome == "ok":
        return "write", f"booked (fence {result.fence_token})" if result.fence_token is not None else "booked"
    return "reject", f"{result.reason}{': ' + result.error if result.error else ''}"


def holder_write_counts(result: Result) -> dict[str, int]:
    """Extras for the (possibly stale) holder's final write: did it land, or did the store's fence bounce it?"""
    return {
        "holder_writes_landed": int(result.outcome == "ok"),
        "holder_writes_fenced": int(result.outcome == "fail" and result.error == STALE_ERROR),
    }


# ---- the scenario interface --------------------------------------------------------------------------------------------
class FaultScenario:
    """A scripted fault. Subclasses set the class data and implement :meth:`run_once`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    variants: ClassVar[dict[str, int | str]]
    """variant -> expected violations (0 or :data:`EVERY`)."""
    lock_nodes: ClassVar[int] = 0
    extra_expected: ClassVar[dict[str, Callable[[int, int], bool]]] = {}
    """Extra per-variant checks on summed extras: key -> check(total, runs)."""

    def __init__(self, bench: Bench):
        self.bench = bench

    async def setup(self) -> None:
        """Start helpers shared by every run (a holder subprocess...)."""

    async def teardown(self) -> None:
        """Stop what :meth:`setup` started; must be safe to call after any failure."""

    async def run_once(self, variant: str, index: int, seed: int) -> RunRecord:
        raise NotImplementedError
