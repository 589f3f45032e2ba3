"""The audit: from the attempts and the server's final state, prove or refute that every seat was sold once.

Like reconciling the box office's receipts with the seating chart: receipts alone hide overwrites (two receipts,
one name on the seat), the chart alone hides promises (a fan told "yours" who is not on it). The audit uses both,
plus the ledger that every booking appends to in the same server step as its write. It is pure: no redis, no
clock, the same inputs always give the same verdict.

Definitions (per run):

- ``booked``: ok attempts (fans told "yours"); ``seats_sold``: seats with a final owner;
- ``double_booked_seats``: seats with two or more distinct ok fans (the evidence lists them);
- ``oversold``: sum over seats of max(0, distinct ok fans - 1);
- ``lost``: ok fans who are not their seat's final owner;
- ``unsold``: seats with no final owner although some fan was turned away from them;
- ``info``: attempts that timed out or errored; the ledger decides whether each took effect;
- ``valid``: no double-booked seat and no lost booking.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import pandas as pd

from .tally import Tally

EVIDENCE_LIMIT = 20


@dataclass(frozen=True)
class DoubleBooking:
    """One seat sold to more than one fan: who was told "yours", and who owns it at the end."""

    seat_id: int
    ok_users: tuple[int, ...]
    final_owner: int | None


@dataclass(frozen=True)
class Verdict:
    """The audit's answer with its evidence. ``valid`` is the one bit; the rest says why."""

    valid: bool
    booked: int
    seats_sold: int
    double_booked_seats: int
    oversold: int
    lost: int
    unsold: int
    info: int
    info_took_effect: int
    """info attempts whose booking is in the ledger: they happened although the fan was not told."""
    ledger_entries: int
    ledger_double_booked_seats: int
    """Seats with ledger entries from two or more distinct fans (catches writes hidden behind info outcomes)."""
    evidence: tuple[DoubleBooking, ...] = field(default=())
    """The first double-booked seats (at most :data:`EVIDENCE_LIMIT`), lowest seat id first."""
    lost_users: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "valid": self.valid,
            "booked": self.booked,
            "seats_sold": self.seats_sold,
            "double_booked_seats": self.double_booked_seats,
            "oversold": self.oversold,
            "lost": self.lost,
            "unsold": self.unsold,
            "info": self.info,
            "info_took_effect": self.info_took_effect,
            "ledger_entries": self.ledger_entries,
            "ledger_double_booked_seats": self.ledger_double_booked_seats,
            "evidence": [
                {"seat_id": e.seat_id, "ok_users": list(e.ok_users), "final_owner": e.final_owner}
                for e in self.evidence
            ],
        }


def audit(
    attempts: pd.DataFrame | Tally,
    owners: Mapping[int, int],
    ledger: Iterable[tuple[int, int, str]] = (),
) -> Verdict:
    """Judge a run. ``attempts`` is a frame with columns seat_id, user_id, outcome (or a :class:`Tally` of one);
    ``owners`` maps seat -> final owner; ``ledger`` holds (seat, user, token) in append order."""
    tally = attempts if isinstance(attempts, Tally) else Tally.from_frame(attempts, exact=False)
    ok_fans = tally.ok_fans
    doubles = sorted(seat for seat, fans in ok_fans.items() if len(fans) > 1)
    oversold = sum(len(fans) - 1 for fans in ok_fans.values())
    lost_users = sorted(user for seat, fans in ok_fans.items() for user in fans if owners.get(seat) != user)
    unsold = sum(1 for seat in tally.turned_away if seat not in owners)

    ledger = list(ledger)
    ledger_pairs = {(seat, user) for seat, user, _ in ledger}
    ledger_fans: dict[int, set[int]] = defaultdict(set)
    for seat, user, _ in ledger:
        ledger_fans[seat].add(user)
    info_took_effect = sum(1 for pair in tally.info_pairs if pair in ledger_pairs)

    evidence = tuple(
        DoubleBooking(seat_id=seat, ok_users=tuple(sorted(ok_fans[seat])), final_owner=owners.get(seat))
        for seat in doubles[:EVIDENCE_LIMIT]
    )
    return Verdict(
        valid=not doubles and not lost_users,
        booked=tally.ok_rows,
        seats_sold=len(owners),
        double_booked_seats=len(doubles),
        oversold=oversold,
        lost=len(lost_users),
        unsold=unsold,
        info=len(tally.info_pairs),
        info_took_effect=info_took_effect,
        ledger_entries=len(ledger),
        ledger_double_booked_seats=sum(1 for fans in ledger_fans.values() if len(fans) > 1),
        evidence=evidence,
        lost_users=tuple(lost_users[:EVIDENCE_LIMIT]),
    )
