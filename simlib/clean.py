"""Remove what a crashed run left: keys under ``simlib:<run>:`` (or every ``simlib:`` key), nothing else.

Every server is checked first (reachable, a primary; foreign keys are expected here and left alone), all of them
before anything is deleted, so a typo in the second URL does not leave the first one half cleaned.
"""
from __future__ import annotations

import re

from .config import check_url, mask_url
from .errors import UsageError
from .keys import ROOT, delete_all_runs, delete_prefix
from .lab import make_client, preflight_all

_RUN_ID = re.compile(r"^[0-9a-f]{6,64}$")


async def clean(urls: list[str], *, run_id: str | None = None, all_runs: bool = False) -> list[tuple[str, int]]:
    """UNLINK one run's keys (``run_id``) or every simlib key (``all_runs``) on each server; ``(url, removed)`` pairs."""
    _check_request(urls, run_id, all_runs)
    preflight_all([(f"clean-{i + 1}", url) for i, url in enumerate(urls)], allow_foreign=True)
    done = []
    for url in urls:
        client = make_client(url, pool_size=2, timeout_ms=5000)
        try:
            removed = await (delete_prefix(client, f"{ROOT}{run_id}:") if run_id else delete_all_runs(client))
            done.append((mask_url(url), removed))
        finally:
            await client.aclose()
    return done


def _check_request(urls: list[str], run_id: str | None, all_runs: bool) -> None:
    if not urls:
        raise UsageError("give the server to clean: --redis-url URL (repeat it for several)")
    if bool(run_id) == bool(all_runs):
        raise UsageError("give --run ID (one run's keys) or --all-runs (every simlib key), not both")
    if run_id is not None and not _RUN_ID.match(run_id):
        raise UsageError(f"--run '{run_id}' is not a simlib run id (6 to 64 hex digits, as in config.json's run_id)")
    seen: set[str] = set()
    for url in urls:
        check_url(url, flag="--redis-url")
        if url in seen:
            raise UsageError(f"--redis-url {mask_url(url)} is given twice: name each server once")
        seen.add(url)
