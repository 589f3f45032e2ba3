"""Render a burst: the k6-style text summary, and the self-describing run folder (config, attempts, summary)."""
from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any, Iterable

from .urls import redact
from .lab import BurstResult, machine
from .outdir import prepare_out_dir  # noqa: F401  (its home was here)

EVIDENCE_SHOWN = 5


def _ms(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:.2f}s"
    if value < 1:
        return f"{value * 1000:.0f}µs"
    return f"{value:.2f}ms"


def _stats_line(stats) -> str:
    return (
        f"avg={_ms(stats.avg)} min={_ms(stats.min)} med={_ms(stats.p50)} p(90)={_ms(stats.p90)} "
        f"p(95)={_ms(stats.p95)} p(99)={_ms(stats.p99)} max={_ms(stats.max)}"
    )


def _line(label: str, text: str) -> str:
    return f"  {label} {'.' * max(2, 20 - len(label))}: {text}"


def text_summary(result: BurstResult, checks: Iterable[tuple[str, bool, float]] = ()) -> str:
    s, m, v = result.scenario, result.metrics, result.verdict
    who = f"{s.users:,} fans" if not s.closed else f"{s.vus} virtual users for {s.duration_s:g} s (think {s.think_ms:g} ms)"
    head = (
        f"simlib burst · {s.strategy} · run {result.run_id}\n"
        f"  {who} → {s.seats:,} seat{'s' if s.seats != 1 else ''} · arrival {s.arrival if not s.closed else 'closed'}"
        f"{'' if s.closed or s.arrival == 'burst' else f' over {s.window_s:g} s'} · seat choice {s.seat_choice}"
        f" · hold {s.hold_ms + 0:g} ms · seed {s.seed} · client {s.client}"
        + (f" · net delay {s.net_delay_ms:g}±{s.net_jitter_ms:g} ms per direction" if s.net_delay_ms or s.net_jitter_ms else "")
    )
    reasons = " · ".join(f"{name} {count:,}" for name, count in m.reasons.items() if count)
    lines = [
        head,
        "",
        _line("outcomes", " · ".join(f"{name} {count:,}" for name, count in m.outcomes.items())),
        _line("reasons", reasons or "none"),
        _line("latency_ms", _stats_line(m.latency_ms) + "   (service: first command to answer)"),
        _line("response_ms", _stats_line(m.response_ms) + "   (from the scheduled arrival)"),
        _line("schedule_lag", f"p50={_ms(m.lag_ms.p50)} p99={_ms(m.lag_ms.p99)} max={_ms(m.lag_ms.max)}"),
        _line("schedule", m.schedule_note),
        _line("throughput", f"{m.attempts:,} attempts in {m.wall_s:.2f} s = {m.attempts / max(m.wall_s, 1e-9):,.0f}/s"),
        _line("booked", f"{plural(v.booked, 'fan')} told 'yours' · {plural(v.seats_sold, 'seat')} sold · "
              f"{plural(v.unsold, 'seat')} left unsold after turning fans away"),
    ]
    if v.info:
        lines.append(_line("info", f"{v.info:,} attempts timed out or errored; {v.info_took_effect:,} of them took effect (ledger)"))
    if v.valid:
        lines.append(_line("audit", "VALID ✓ every seat sold at most once, every 'yours' honoured"))
    else:
        lines.append(
            _line("audit", f"INVALID ✗ {plural(v.double_booked_seats, 'double-booked seat')} · oversold {v.oversold:,} · "
                  f"lost {v.lost:,}")
        )
        for e in v.evidence[:EVIDENCE_SHOWN]:
            fans = ", ".join(str(u) for u in e.ok_users[:8]) + (" …" if len(e.ok_users) > 8 else "")
            lines.append(f"      seat {e.seat_id}: {len(e.ok_users)} fans told 'yours' ({fans}); final owner {e.final_owner}")
        if v.double_booked_seats > EVIDENCE_SHOWN:
            lines.append(f"      … and {v.double_booked_seats - EVIDENCE_SHOWN:,} more double-booked seats (summary.json)")
    for text, ok, value in checks:
        lines.append(_line("threshold", f"{'✓' if ok else '✗'} {text} (value {value:g})"))
    servers = "; ".join(f"{d['role']} {d['binary']} {d['version']}" for d in result.servers)
    lines.append(_line("servers", servers))
    return "\n".join(lines)


def compare_table(results: list[BurstResult]) -> str:
    """One row per strategy: median over repeats, with min-max spread when repeated."""
    import pandas as pd

    rows = []
    for r in results:
        summ = r.summary()
        rows.append({
            "strategy": r.scenario.strategy, "valid": summ["audit_valid"], "booked": summ["booked"],
            "double_booked": summ["double_booked_seats"], "oversold": summ["oversold"], "lost": summ["lost"],
            "info": summ["outcomes"]["info"], "p50_ms": summ["latency_ms"]["p50"], "p99_ms": summ["latency_ms"]["p99"],
            "resp_p99_ms": summ["response_ms"]["p99"], "lag_p99_ms": summ["lag_ms"]["p99"], "wall_s": summ["wall_s"],
            "rate_per_s": summ["achieved_rate_per_s"], "schedule_kept": summ["schedule_kept"],
        })
    frame = pd.DataFrame(rows)
    repeats = frame.groupby("strategy", sort=False).size().max() if len(frame) else 1
    numeric = [c for c in frame.columns if c not in ("strategy", "valid", "schedule_kept")]
    grouped = frame.groupby("strategy", sort=False)
    table = grouped[numeric].median()
    for column in ("booked", "double_booked", "oversold", "lost", "info"):  # counts: medians of whole numbers
        table[column] = table[column].map(lambda x: f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}")
    table.insert(0, "valid", grouped["valid"].all().map({True: "yes", False: "NO"}))
    kept = grouped["schedule_kept"].agg(lambda x: f"{int(x.sum())}/{len(x)}" if len(x) > 1 else ("yes" if x.iloc[0] else "NO"))
    table["schedule_kept"] = kept
    if repeats > 1:
        for column in ("p99_ms", "wall_s"):
            spread = grouped[column].agg(lambda x: f"{x.min():.1f}-{x.max():.1f}")
            table[column + "_range"] = spread
    header = (f"simlib compare · {plural(len(table), 'strategy', 'strategies')} × {plural(repeats, 'run')}"
              + (" (medians)" if repeats > 1 else ""))
    lines = [header, table.to_string(float_format=lambda x: f"{x:,.1f}")]
    if not frame["schedule_kept"].all():
        lines.append("schedule_kept NO: fans were released later than scheduled (lag p99 over 50 ms or rate under 95% "
                     "of target), so contention was lower than the workload claims; see benchmarks/ and --client mux")
    return "\n".join(lines)


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def write_run(result: BurstResult, out: Path, *, argv: list[str] | None = None, extra: dict[str, Any] | None = None) -> None:
    """``config.json`` (flags, seed, versions, servers, machine), ``attempts.csv`` and ``summary.json``."""
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "run_id": result.run_id,
        "started_at": result.started_at,
        "scenario": result.scenario.to_dict(masked=True),
        "argv": [redact(a) for a in (argv if argv is not None else sys.argv[1:])],
        "servers": list(result.servers),
        "machine": machine(),
        **(extra or {}),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if result.attempts is not None:
        result.attempts.to_csv(out / "attempts.csv", index=False)
    elif result.attempts_path is not None and result.attempts_path.resolve() != (out / "attempts.csv").resolve():
        shutil.copyfile(result.attempts_path, out / "attempts.csv")
    (out / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
