"""Stopping a run: every worker has ended before the run's cleanup, even one whose cancellation was swallowed
(redis-py 8.1 sometimes completes an EVAL and carries on although its task was cancelled)."""
import asyncio

import pytest

from simlib.runner import run_to_the_end, stopping


def test_a_cancelled_run_waits_for_every_worker_even_one_that_swallows_the_cancel():
    ended = []

    async def polite(name):
        try:
            await asyncio.sleep(10)
        finally:
            ended.append(name)

    async def stubborn():
        while not stopping():
            try:
                await asyncio.sleep(0.005)
            except asyncio.CancelledError:
                pass  # what a library that swallows the cancellation looks like from here
        ended.append("stubborn")

    async def scenario():
        run = asyncio.create_task(run_to_the_end([polite("a"), polite("b"), stubborn()]))
        await asyncio.sleep(0.05)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        return sorted(ended)  # as the cleanup would see it

    assert asyncio.run(scenario()) == ["a", "b", "stubborn"]


def test_a_failing_worker_stops_the_others_first():
    ended = []

    async def sleeper():
        try:
            await asyncio.sleep(10)
        finally:
            ended.append("sleeper")

    async def failing():
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    async def scenario():
        with pytest.raises(RuntimeError, match="boom"):
            await run_to_the_end([sleeper(), failing()])
        return list(ended)

    assert asyncio.run(scenario()) == ["sleeper"]
