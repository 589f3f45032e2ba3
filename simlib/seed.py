"""The seed article's k6 run, as published, and our run of the same workload rendered the same way.

The article ("How to Handle 10,000 Users in 1 Second", Kavishka Niluminda) ran k6 with 50 constant VUs for 10 s,
each iteration a POST to a Node.js handler that takes ``SET lock NX EX 300`` on one seat, then sleeps 1 s. Only
the first request can win (the lock is never released within the run), so one response is 200 and the rest 409.
:data:`SEED_K6` holds its published figures; :func:`k6_side_by_side` puts ours beside them, metric by metric.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .config import Scenario

#: The seed's workload in simlib's closed model (k6 constant-vus: 50 VUs, 10 s, sleep(1) between iterations).
SEED_SCENARIO = Scenario(strategy="setnx", users=None, vus=50, duration_s=10.0, think_ms=1000.0, seats=1)

#: The published k6 summary (units in the names; durations in ms).
SEED_K6 = {
    "iterations": 500,
    "http_reqs_per_s": 48.593458,
    "checks_total": 1000,
    "checks_succeeded": 500,
    "status_200": 1,
    "status_409": 499,
    "http_req_failed_pct": 99.80,
    "http_req_duration_avg_ms": 20.76,
    "http_req_duration_min_ms": 0.5512,
    "http_req_duration_med_ms": 13.2,
    "http_req_duration_p90_ms": 57.86,
    "http_req_duration_p95_ms": 63.47,
    "http_req_duration_max_ms": 75.1,
    "expected_response_avg_ms": 39.83,
    "iteration_duration_avg_ms": 1020.0,
    "run_s": 10.3,
}

#: Rows of the side-by-side table: (label, key in SEED_K6 and in our figures, how to print it).
K6_ROWS = (
    ("iterations (= requests)", "iterations", "{:,.0f}"),
    ("http_reqs rate (1/s)", "http_reqs_per_s", "{:,.1f}"),
    ("checks total", "checks_total", "{:,.0f}"),
    ("checks succeeded", "checks_succeeded", "{:,.0f}"),
    ("✓ status 200 (booked)", "status_200", "{:,.0f}"),
    ("✓ status 409 (locked / taken)", "status_409", "{:,.0f}"),
    ("http_req_failed (%)", "http_req_failed_pct", "{:.2f}"),
    ("http_req_duration avg (ms)", "http_req_duration_avg_ms", "{:.2f}"),
    ("http_req_duration min (ms)", "http_req_duration_min_ms", "{:.3f}"),
    ("http_req_duration med (ms)", "http_req_duration_med_ms", "{:.2f}"),
    ("http_req_duration p(90) (ms)", "http_req_duration_p90_ms", "{:.2f}"),
    ("http_req_duration p(95) (ms)", "http_req_duration_p95_ms", "{:.2f}"),
    ("http_req_duration max (ms)", "http_req_duration_max_ms", "{:.2f}"),
    ("expected_response (the 200) avg (ms)", "expected_response_avg_ms", "{:.2f}"),
    ("iteration_duration avg (ms)", "iteration_duration_avg_ms", "{:,.1f}"),
    ("run length (s)", "run_s", "{:.1f}"),
)


def iteration_duration_ms(attempts: pd.DataFrame) -> float:
    """Mean time between one VU's consecutive iteration starts (k6's iteration_duration: request + sleep)."""
    gaps = attempts.sort_values("started_ns").groupby("user_id")["started_ns"].diff().dropna()
    return float(gaps.mean() / 1e6) if len(gaps) else float("nan")


def k6_figures(attempts: pd.DataFrame, *, run_s: float) -> dict[str, float]:
    """Our attempts in k6's vocabulary: a request per attempt, 200 for ok, 409 for fail, a failure for info."""
    count = len(attempts)
    latency = attempts["latency_ms"].to_numpy(dtype=float)
    ok = attempts["outcome"] == "ok"
    refused = attempts["outcome"] == "fail"
    p50, p90, p95 = np.percentile(latency, [50, 90, 95]) if count else (np.nan,) * 3
    return {
        "iterations": count,
        "http_reqs_per_s": count / run_s if run_s > 0 else np.nan,
        "checks_total": 2 * count,
        "checks_succeeded": int(ok.sum() + refused.sum()),
        "status_200": int(ok.sum()),
        "status_409": int(refused.sum()),
        "http_req_failed_pct": 100.0 * (count - int(ok.sum())) / count if count else np.nan,
        "http_req_duration_avg_ms": float(latency.mean()) if count else np.nan,
        "http_req_duration_min_ms": float(latency.min()) if count else np.nan,
        "http_req_duration_med_ms": float(p50),
        "http_req_duration_p90_ms": float(p90),
        "http_req_duration_p95_ms": float(p95),
        "http_req_duration_max_ms": float(latency.max()) if count else np.nan,
        "expected_response_avg_ms": float(attempts.loc[ok, "latency_ms"].mean()) if ok.any() else np.nan,
        "iteration_duration_avg_ms": iteration_duration_ms(attempts),
        "run_s": run_s,
    }


def k6_side_by_side(ours: dict[str, float]) -> pd.DataFrame:
    """metric | seed (k6, published) | simlib (this run) | simlib / seed."""
    rows = []
    for label, key, fmt in K6_ROWS:
        seed_value, our_value = SEED_K6[key], ours[key]
        ratio = our_value / seed_value if seed_value and np.isfinite(our_value) else np.nan
        rows.append({
            "metric": label,
            "seed (k6, published)": fmt.format(seed_value),
            "simlib (this run)": fmt.format(our_value) if np.isfinite(our_value) else "n/a",
            "simlib / seed": f"{ratio:.2f}×" if np.isfinite(ratio) else "",
        })
    return pd.DataFrame(rows).set_index("metric")


def first_vs_later(attempts: pd.DataFrame) -> pd.DataFrame:
    """Service time of each VU's first iteration (connections opened, all VUs at once) against the later ones."""
    ordered = attempts.sort_values("started_ns")
    first = ordered.groupby("user_id").cumcount() == 0
    rows = {}
    for label, part in (("first iteration of each VU", ordered[first]), ("later iterations", ordered[~first])):
        values = part["latency_ms"].to_numpy(dtype=float)
        p50, p95 = np.percentile(values, [50, 95]) if len(values) else (np.nan, np.nan)
        rows[label] = {"iterations": len(values), "avg_ms": values.mean() if len(values) else np.nan,
                       "med_ms": p50, "p95_ms": p95, "max_ms": values.max() if len(values) else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index").round(3)
