"""Atomic server-side booking: one Lua script sets the seat if free and appends to the ledger. No lock at all.

The seat map lives on the server and the server runs one script at a time, so "check" and "set" cannot be torn
apart: the simplest correct answer on a single Redis, and the baseline the locks are measured against.
"""
from __future__ import annotations

from ..record import Result
from .base import Strategy, booked, ledger_entry, lua_source, refused
from .registry import register


@register
class Atomic(Strategy):
    name = "atomic"
    exclusive = True
    guarantee = "exclusive: the check and the write are one server-side step (single server; no lease to expire)"

    async def prepare(self) -> None:
        self._book = self.ctx.store.register_script(lua_source("book_if_free"))
        await self.ctx.store.script_load(lua_source("book_if_free"))

    async def book(self, user_id: int, seat_id: int) -> Result:
        keys = [self.keys.seat(seat_id), self.keys.ledger]
        if await self._book(keys=keys, args=[user_id, ledger_entry(seat_id, user_id)]):
            return booked(round_trips=1)
        return refused("seat_taken", round_trips=1)
