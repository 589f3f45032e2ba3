"""Remove what a crashed run left: keys under ``simlib:<run>:`` (or every ``simlib:`` key), nothing else."""
from __future__ import annotations

import re

from .config import check_url, mask_url
from .errors import UsageError
from .keys import ROOT, delete_prefix
from .lab import make_client, preflight

_RUN_ID = re.compile(r"^[0-9a-f]{6,64}$")


async def clean(urls: list[str], *, run_id: str | None = None, all_runs: bool = False) -> list[tuple[str, int]]:
    if bool(run_id) == bool(all_runs):
        raise UsageError("give --run ID or --all-runs")
    if run_id is not None and not _RUN_ID.match(run_id):
        raise UsageError(f"--run '{run_id}' is not a simlib run id (hex, as in config.json's run_id)")
    for url in urls:
        check_url(url)
    prefix = f"{ROOT}{run_id}:" if run_id else ROOT
    done = []
    for url in urls:
        preflight("clean", url, allow_foreign=True)
        client = make_client(url, pool_size=2, timeout_ms=5000)
        try:
            done.append((mask_url(url), await _delete(client, prefix)))
        finally:
            await client.aclose()
    return done


async def _delete(client, prefix: str) -> int:
    if prefix == ROOT:
        from .keys import SCAN_BATCH

        removed = 0
        async for key in client.scan_iter(match=ROOT + "*", count=SCAN_BATCH):
            removed += await client.unlink(key)
        return removed
    return await delete_prefix(client, prefix)
