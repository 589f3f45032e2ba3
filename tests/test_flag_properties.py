"""Property tests over the numeric flags: any finite value in range validates; anything else is a UsageError that
names the flag. The ranges are written out here, as documented, independently of ``simlib.config.LIMITS``."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simlib import Scenario
from simlib.cli import build_parser, scenario_from_args
from simlib.config import LIMITS
from simlib.errors import UsageError

# flag -> (whole numbers only, lowest accepted, highest accepted, lowest itself refused)
DOCUMENTED = {
    "users": (True, 1, 10_000_000, False),
    "vus": (True, 1, 10_000, False),
    "duration_s": (False, 0, 3600, True),
    "think_ms": (False, 0, 3_600_000, False),
    "seats": (True, 1, 10_000_000, False),
    "window_s": (False, 0, 3600, False),
    "ttl_ms": (False, 1, 86_400_000, False),
    "hold_ms": (False, 0, 60_000, False),
    "seed": (True, 0, 2**63 - 1, False),
    "max_rate": (False, 0, 1e9, True),
    "pool_size": (True, 1, 10_000, False),
    "workers": (True, 1, 10_000, False),
    "timeout_ms": (False, 0, 600_000, True),
    "max_retries": (True, 0, 1000, False),
    "net_delay_ms": (False, 0, 10_000, False),
    "net_jitter_ms": (False, 0, 10_000, False),
    "nodes": (True, 3, 15, False),
}
NAMES = sorted(DOCUMENTED)
EXAMPLES = settings(max_examples=60, deadline=None)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def scenario_with(name: str, value) -> Scenario:
    base = Scenario(users=None, vus=5) if name == "vus" else Scenario()
    return base.with_(**{name: value})


def in_range(name: str):
    whole, low, high, low_open = DOCUMENTED[name]
    if not whole:
        return st.floats(low, high, exclude_min=low_open, allow_nan=False, allow_infinity=False)
    values = st.integers(low, high)
    return values.map(lambda n: n | 1) if name == "nodes" else values  # --nodes must also be odd


def out_of_range(name: str):
    whole, low, high, low_open = DOCUMENTED[name]
    if whole:
        below, above = st.integers(max_value=low - 1), st.integers(min_value=high + 1)
        fractional = st.floats(low, min(high, 1e15)).filter(lambda x: not float(x).is_integer())
    else:
        below = st.floats(max_value=low, exclude_max=not low_open, allow_nan=False)
        above = st.floats(min_value=high, exclude_min=True, allow_nan=False)
        fractional = st.nothing()
    optional = name in ("users", "vus", "max_rate", "workers")
    odd_ones = st.sampled_from([math.nan, math.inf, -math.inf, "5", True] + ([] if optional else [None]))
    return below | above | fractional | odd_ones


def test_the_documented_ranges_are_the_ones_enforced():
    assert set(DOCUMENTED) == set(LIMITS)


@pytest.mark.parametrize("name", NAMES)
@EXAMPLES
@given(data=st.data())
def test_any_finite_value_in_range_validates(name, data):
    value = data.draw(in_range(name), label=name)
    assert scenario_with(name, value).validate() is not None


@pytest.mark.parametrize("name", NAMES)
@EXAMPLES
@given(data=st.data())
def test_anything_else_is_a_usage_error_naming_the_flag(name, data):
    value = data.draw(out_of_range(name), label=name)
    with pytest.raises(UsageError) as raised:
        scenario_with(name, value).validate()
    assert str(raised.value).startswith(flag(name) + " "), raised.value


@pytest.mark.parametrize("name", [n for n in NAMES if not DOCUMENTED[n][0]])
@EXAMPLES
@given(number=st.floats(allow_nan=True, allow_infinity=True))
def test_the_command_line_refuses_nan_and_infinity_by_flag_name(name, number):
    """Typed on the command line (``--ttl-ms=nan``), every float goes through the same validation."""
    text = repr(number)
    args = build_parser().parse_args(["burst", f"{flag(name)}={text}"] + (["--vus", "5"] if name == "duration_s" else []))
    whole, low, high, low_open = DOCUMENTED[name]
    accepted = math.isfinite(number) and (number > low if low_open else number >= low) and number <= high
    if accepted:
        scenario_from_args(args, "setnx")
    else:
        with pytest.raises(UsageError, match="^" + flag(name) + " "):
            scenario_from_args(args, "setnx")
