"""k6-style thresholds: ``p95<50``, ``lag_p99<=50``, ``double_booked_seats==0``. Pure parsing and checking."""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

from .config import did_you_mean
from .errors import UsageError

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}
_PATTERN = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|==|!=|<|>)\s*([-+0-9.eE]+)\s*$")


def _metric_table(summary: dict[str, Any]) -> dict[str, float]:
    table: dict[str, float] = {}
    for key, value in summary["latency_ms"].items():
        table[key] = value  # bare k6 names (avg, p95, ...) mean service latency, as http_req_duration does
    table["med"] = summary["latency_ms"]["p50"]
    for group, prefix in (("response_ms", "response_"), ("lag_ms", "lag_"), ("latency_ms", "latency_")):
        for key, value in summary[group].items():
            table[prefix + key] = value
    for key in ("booked", "seats_sold", "double_booked_seats", "oversold", "lost", "unsold", "attempts", "wall_s"):
        table[key] = summary[key]
    for key, value in summary["outcomes"].items():
        table[key] = value
    table["rate"] = summary["achieved_rate_per_s"]
    return table


METRIC_NAMES = tuple(
    _metric_table(
        {
            "latency_ms": dict.fromkeys(("avg", "p50", "p90", "p95", "p99", "max"), 0),
            "response_ms": dict.fromkeys(("avg", "p50", "p95", "p99", "max"), 0),
            "lag_ms": dict.fromkeys(("p50", "p99", "max"), 0),
            "outcomes": dict.fromkeys(("ok", "fail", "info"), 0),
            "achieved_rate_per_s": 0,
            **dict.fromkeys(("booked", "seats_sold", "double_booked_seats", "oversold", "lost", "unsold", "attempts", "wall_s"), 0),
        }
    )
)


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str
    op: str
    limit: float

    def holds(self, summary: dict[str, Any]) -> tuple[bool, float]:
        value = _metric_table(summary)[self.metric]
        return bool(_OPS[self.op](value, self.limit)), value


def parse(text: str) -> Threshold:
    match = _PATTERN.match(text)
    if not match:
        raise UsageError(f"--threshold '{text}' is not METRIC<OP>NUMBER, e.g. 'p95<50' or 'lag_p99<=50'")
    metric, op, number = match.groups()
    if metric not in METRIC_NAMES:
        raise UsageError(f"--threshold '{text}': unknown metric '{metric}': {did_you_mean(metric, METRIC_NAMES)}")
    try:
        limit = float(number)
    except ValueError:
        raise UsageError(f"--threshold '{text}': '{number}' is not a number") from None
    if not math.isfinite(limit):
        raise UsageError(f"--threshold '{text}': the limit must be finite")
    return Threshold(text=text.strip(), metric=metric, op=op, limit=limit)
