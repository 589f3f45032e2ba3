"""Fixtures: real servers started once per session through simlib itself (no mocks, no fakeredis)."""
from __future__ import annotations

import asyncio

import pytest

from simlib import Lab


@pytest.fixture(scope="session")
def lab():
    """One store and five Redlock lock servers on loopback, shared by the integration tests."""
    with Lab(nodes=5) as started:
        yield started


@pytest.fixture
def run():
    """Run a coroutine to completion from a sync test."""
    return asyncio.run
