"""Naive check-then-set: GET the seat, and if it is free, SET it. No lock.

Two clerks look at the same empty seat, both say "free", both sell it. Between the GET and the SET any number of
other fans can read the same "free": this strategy double-books under contention, and the audit shows it.
"""
from __future__ import annotations

from ..record import Result
from .base import Strategy, booked, refused
from .registry import register


@register
class Naive(Strategy):
    name = "naive"
    exclusive = False
    guarantee = "none: check-then-set races; concurrent fans who all read 'free' all get 'yours'"

    async def book(self, user_id: int, seat_id: int) -> Result:
        owner = await self.ctx.store.get(self.keys.seat(seat_id))
        if owner is not None:
            return refused("seat_taken", round_trips=1)
        await self.hold()
        await self.write_booking(user_id, seat_id)
        return booked(round_trips=2)
