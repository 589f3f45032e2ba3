"""A traced race: a handful of fans, every Redis command each one sent, on one timeline.

Like a referee's video replay: the burst runs exactly as usual (same runner, same strategies, same audit), but the
clients the strategy talks through are tracing clients, which note each command, which fan sent it (the runner
names the fan in :data:`simlib.runner.current_fan`), when it left and when the answer came back, and what the
answer was. :func:`describe_command` turns a command into a step a student can read ("GET seat -> free").

The interleaving is forced, not hoped for: fans arrive ``stagger_ms`` apart and each spends ``hold_ms`` between
deciding and confirming, so with ``hold_ms`` above ``(fans - 1) * stagger_ms`` every naive fan reads "free" before
the first one writes.

    race = await simlib.race.run_race(lab, "naive", fans=4)
    race.steps          # one row per command: fan, role, kind, label, start_ms, end_ms
    race.result         # the usual BurstResult (attempts, verdict)
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, WatchError

from .config import Scenario
from .keys import ROOT
from .runner import current_fan

#: Step kinds, in the order the swimlane legend lists them.
STEP_KINDS = ("read", "lock", "write", "release", "other")

DEFAULT_FANS = 4
DEFAULT_STAGGER_MS = 10.0
DEFAULT_HOLD_MS = 60.0

STEP_COLUMNS = ("fan", "role", "command", "kind", "label", "start_ns", "end_ns")


def key_kind(key: Any) -> str:
    """``seat``, ``lock``, ``ledger``, ``fence``... for a key under a run prefix (``simlib:<run>:<kind>:<id>``)."""
    text = key.decode() if isinstance(key, bytes) else str(key)
    if not text.startswith(ROOT):
        return ""
    parts = text[len(ROOT):].split(":")
    return parts[1] if len(parts) > 1 else ""


def _word(value: Any) -> str:
    return (value.decode() if isinstance(value, bytes) else str(value)).upper()


def describe_command(args: tuple, reply: Any) -> tuple[str, str]:
    """(kind, label) of one traced command. ``args`` as sent (name first); ``reply`` the answer or the exception."""
    name = _word(args[0]) if args else "?"
    kind_of_key = key_kind(args[1]) if len(args) > 1 else ""
    failed = isinstance(reply, BaseException)
    if name == "GET" and kind_of_key == "seat":
        answer = "error" if failed else "free" if reply is None else f"taken (fan {int(reply)})"
        return "read", f"GET seat → {answer}"
    if name == "SET" and kind_of_key == "lock":
        return "lock", "SET NX lock → " + ("got it" if reply and not failed else "busy")
    if name == "WATCH":
        return "read", "WATCH seat"
    if name == "EVALSHA" and len(args) > 3:
        script_key = key_kind(args[3])
        if script_key == "lock":
            return "release", "release lock"
        if script_key == "seat":
            return "write", "book script → " + ("yours" if reply and not failed else "taken")
    return "other", name


def describe_transaction(commands: list[tuple], reply: Any) -> tuple[str, str]:
    """(kind, label) of a MULTI/EXEC batch: a write when it sets a seat."""
    for args in commands:
        if args and _word(args[0]) == "SET" and len(args) > 2 and key_kind(args[1]) == "seat":
            owner = args[2].decode() if isinstance(args[2], bytes) else args[2]
            if isinstance(reply, WatchError):
                return "write", "EXEC aborted (seat changed)"
            return "write", f"SET seat := fan {owner}"
    return "other", "EXEC " + " ".join(_word(args[0]) for args in commands)


class Tracer:
    """Collects the steps of every fan, from any number of tracing clients."""

    def __init__(self, clock: Callable[[], int] = time.perf_counter_ns):
        self.clock = clock
        self.rows: list[tuple] = []

    def wrap(self, role: str, client: aioredis.Redis) -> "TracingRedis":
        """A tracing client on ``client``'s connection pool (the pool stays owned by ``client``)."""
        return TracingRedis(self, role, client.connection_pool)

    def note(self, role: str, kind_label: tuple[str, str], command: str, start_ns: int) -> None:
        fan = current_fan.get()
        if fan is not None:  # set-up, snapshot and cleanup commands belong to no fan
            self.rows.append((fan, role, command, *kind_label, start_ns, self.clock()))

    def frame(self) -> pd.DataFrame:
        """One row per command: times in ms since the first traced command."""
        steps = pd.DataFrame.from_records(self.rows, columns=list(STEP_COLUMNS))
        origin = steps["start_ns"].min() if len(steps) else 0
        steps["start_ms"] = (steps["start_ns"] - origin) / 1e6
        steps["end_ms"] = (steps["end_ns"] - origin) / 1e6
        return steps.drop(columns=["start_ns", "end_ns"]).sort_values(["start_ms", "fan"], ignore_index=True)


class TracingRedis(aioredis.Redis):
    """A redis.asyncio client that reports every command to a :class:`Tracer`. Shares, never owns, its pool."""

    def __init__(self, tracer: Tracer, role: str, pool):
        super().__init__(connection_pool=pool)
        self._tracer, self._role = tracer, role

    async def execute_command(self, *args, **options):
        start = self._tracer.clock()
        try:
            reply = await super().execute_command(*args, **options)
        except RedisError as exc:
            self._tracer.note(self._role, describe_command(args, exc), _word(args[0]), start)
            raise
        self._tracer.note(self._role, describe_command(args, reply), _word(args[0]), start)
        return reply

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> "TracingPipeline":
        pipe = TracingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe._tracer, pipe._role = self._tracer, self._role
        return pipe


class TracingPipeline(Pipeline):
    """The pipeline of a :class:`TracingRedis`: immediate commands (after WATCH) and each EXEC are traced."""

    _tracer: Tracer
    _role: str

    async def immediate_execute_command(self, *args, **options):
        start = self._tracer.clock()
        reply = await super().immediate_execute_command(*args, **options)
        self._tracer.note(self._role, describe_command(args, reply), _word(args[0]), start)
        return reply

    async def execute(self, raise_on_error: bool = True):
        commands = [args for args, _options in self.command_stack]
        start = self._tracer.clock()
        try:
            reply = await super().execute(raise_on_error)
        except RedisError as exc:
            self._tracer.note(self._role, describe_transaction(commands, exc), "EXEC", start)
            raise
        if commands:
            self._tracer.note(self._role, describe_transaction(commands, reply), "EXEC", start)
        return reply


@dataclass(frozen=True)
class Race:
    """A traced burst: the usual result plus every fan's commands."""

    result: Any
    """The :class:`simlib.BurstResult` (attempts, verdict, metrics)."""
    steps: pd.DataFrame
    """One row per command: fan, role, command, kind, label, start_ms, end_ms."""

    @property
    def told_yours(self) -> list[int]:
        """Fans told "yours", in user id order."""
        attempts = self.result.attempts
        return sorted(attempts.loc[attempts["outcome"] == "ok", "user_id"].tolist())

    @property
    def final_owner(self) -> int | None:
        return self.result.snapshot_owners.get(0)


def race_scenario(strategy: str, *, fans: int = DEFAULT_FANS, stagger_ms: float = DEFAULT_STAGGER_MS,
                  hold_ms: float = DEFAULT_HOLD_MS, seed: int = 0) -> Scenario:
    """``fans`` fans, ``stagger_ms`` apart, all wanting seat 0; one worker and one connection each."""
    window_s = fans * stagger_ms / 1000
    return Scenario(
        strategy=strategy, users=fans, seats=1, seat_choice="same", hold_ms=hold_ms, seed=seed,
        arrival="uniform" if window_s > 0 else "burst", window_s=window_s, pool_size=fans, workers=fans,
    ).validate()


async def run_race(lab, strategy: str, **race_fields) -> Race:
    """Run :func:`race_scenario` in ``lab`` through tracing clients."""
    tracer = Tracer()
    result = await lab.burst(race_scenario(strategy, **race_fields), wrap_client=tracer.wrap)
    return Race(result=result, steps=tracer.frame())
