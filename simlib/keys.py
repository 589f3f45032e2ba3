"""Every key a run touches lives under one prefix, ``simlib:<run_id>:``; cleanup removes that prefix and nothing else.

Like a labelled shelf in a shared fridge: we only ever take from our own shelf. Cleanup is SCAN MATCH + UNLINK,
never FLUSHDB, FLUSHALL or KEYS.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

ROOT = "simlib:"
SCAN_BATCH = 1000


def new_run_id() -> str:
    return secrets.token_hex(6)


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Names of the keys of one run."""

    run_id: str

    @property
    def prefix(self) -> str:
        return f"{ROOT}{self.run_id}:"

    def seat(self, seat_id: int) -> str:
        """STRING: the user id of the seat's owner."""
        return f"{self.prefix}seat:{seat_id}"

    def lock(self, seat_id: int) -> str:
        """STRING: the lock token of the current holder (with a PX expiry)."""
        return f"{self.prefix}lock:{seat_id}"

    def fence(self, seat_id: int) -> str:
        """STRING counter: fencing tokens handed out for the seat (fenced strategies)."""
        return f"{self.prefix}fence:{seat_id}"

    @property
    def ledger(self) -> str:
        """LIST: ``seat_id:user_id:token`` appended by every booking in the same server-side step as the write."""
        return f"{self.prefix}ledger"


async def delete_prefix(client, prefix: str) -> int:
    """UNLINK every key that starts with ``prefix`` (which must be one of ours). Returns how many were removed."""
    if not prefix.startswith(ROOT) or len(prefix) <= len(ROOT):
        raise ValueError(f"refusing to delete outside a simlib run prefix: {prefix!r}")
    return await _unlink_matching(client, _glob_escape(prefix) + "*")


#: A key of some run: ``simlib:<hex run id>:...``. A key like ``simlib:important`` is someone else's.
RUN_KEY = re.compile(rb"^simlib:[0-9a-f]{6,64}:")


def is_run_key(key: bytes) -> bool:
    return RUN_KEY.match(key) is not None


async def delete_all_runs(client) -> int:
    """UNLINK every key of every simlib run, ``simlib:<run id>:*`` (what ``simlib clean --all-runs`` does).
    Keys that merely start with ``simlib:`` but are not run-shaped are left alone. Returns how many were removed."""
    return await _unlink_matching(client, _glob_escape(ROOT) + "*", only_runs=True)


async def _unlink_matching(client, pattern: str, *, only_runs: bool = False) -> int:
    removed = 0
    batch: list[bytes] = []
    async for key in client.scan_iter(match=pattern, count=SCAN_BATCH):
        if only_runs and not is_run_key(key):
            continue
        batch.append(key)
        if len(batch) >= SCAN_BATCH:
            removed += await client.unlink(*batch)
            batch.clear()
    if batch:
        removed += await client.unlink(*batch)
    return removed


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
