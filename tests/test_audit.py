"""The audit on hand-made attempt tables: every rule can fail, info rows included. No server needed."""
import pandas as pd
import pytest

from simlib.audit import audit


def table(*rows):
    return pd.DataFrame(rows, columns=["user_id", "seat_id", "outcome"])


def test_single_booking_is_valid():
    v = audit(table((1, 0, "ok"), (2, 0, "fail"), (3, 0, "fail")), {0: 1}, [(0, 1, "t")])
    assert v.valid and v.booked == 1 and v.seats_sold == 1
    assert (v.double_booked_seats, v.oversold, v.lost, v.unsold) == (0, 0, 0, 0)


def test_two_fans_told_yours_is_a_double_booking_with_evidence():
    v = audit(table((1, 0, "ok"), (2, 0, "ok"), (3, 1, "ok")), {0: 2, 1: 3}, [(0, 1, ""), (0, 2, ""), (1, 3, "")])
    assert not v.valid
    assert v.double_booked_seats == 1 and v.oversold == 1 and v.lost == 1
    assert v.evidence[0].seat_id == 0 and v.evidence[0].ok_users == (1, 2) and v.evidence[0].final_owner == 2
    assert v.lost_users == (1,)
    assert v.ledger_double_booked_seats == 1


def test_oversold_counts_every_extra_fan():
    rows = [(u, 7, "ok") for u in range(5)]
    v = audit(table(*rows), {7: 4})
    assert v.oversold == 4 and v.lost == 4 and v.double_booked_seats == 1


def test_lost_booking_without_double_booking_is_invalid():
    # one fan told "yours" but the seat ends with someone who was never told (an info write that landed)
    v = audit(table((1, 0, "ok"), (2, 0, "info")), {0: 2}, [(0, 1, ""), (0, 2, "")])
    assert not v.valid and v.double_booked_seats == 0 and v.lost == 1
    assert v.info == 1 and v.info_took_effect == 1


def test_info_that_did_not_take_effect_is_harmless():
    v = audit(table((1, 0, "ok"), (2, 0, "info")), {0: 1}, [(0, 1, "")])
    assert v.valid and v.info == 1 and v.info_took_effect == 0


def test_unsold_counts_seats_with_turned_away_fans_and_no_owner():
    v = audit(table((1, 0, "fail"), (2, 1, "fail"), (3, 2, "ok")), {2: 3})
    assert v.unsold == 2 and v.valid


def test_same_fan_twice_on_one_seat_is_not_a_double_booking():
    v = audit(table((1, 0, "ok"), (1, 0, "ok")), {0: 1})
    assert v.double_booked_seats == 0 and v.booked == 2 and v.valid


@pytest.mark.parametrize("fans", [2, 3, 10])
def test_evidence_lists_every_fan(fans):
    v = audit(table(*[(u, 3, "ok") for u in range(fans)]), {3: 0})
    assert v.evidence[0].ok_users == tuple(range(fans))
