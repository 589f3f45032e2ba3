"""Can the harness keep its schedule? redis-benchmark and simlib side by side, on the same servers, in one run.

    make bench                      # or: python benchmarks/bench.py [--users 10000] [--repeat 3] [--quick]

It starts one store and five lock servers on loopback, measures redis-benchmark `SET` and `SET NX` with 50 clients
and no pipelining on the store, then fires each strategy x client x venue (hot seat, 100 seats) as a separate
`python -m simlib burst` process against those same servers (uniform arrivals over 1 s), and prints, per row:
achieved release rate, schedule lag p50/p99, wall time, peak RSS of the simlib process, whether the schedule was
kept, and the ratio to redis-benchmark. Results go to results/benchmarks.md (the report command leaves it alone).
Medians over --repeat runs; every figure is measured in this run, nothing is copied from elsewhere.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import redis

from simlib import Lab, strategy_names
from simlib.config import CLIENTS
from simlib.lab import machine
from simlib.strategies import get as get_strategy
from simlib.urls import redact

ROOT = Path(__file__).resolve().parents[1]
BENCH_KEYS = ("key:__rand_int__", "simlib-bench:nx")
REQUESTS = 100_000
MEMORY_ATTEMPTS = (100_000, 1_000_000)


def redis_benchmark(port: int, password: str, args: list[str], requests: int) -> float | None:
    """Requests per second from redis-benchmark's CSV output, or None if it is not installed."""
    binary = shutil.which("redis-benchmark") or shutil.which("valkey-benchmark")
    if not binary:
        return None
    command = [binary, "-h", "127.0.0.1", "-p", str(port), "-a", password,
               "-c", "50", "-P", "1", "-n", str(requests), "--csv", *args]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True).stdout
    last = [line for line in out.strip().splitlines() if line and not line.startswith('"test"')][-1]
    return float(last.split(",")[1].strip('"'))


def run_burst(args: list[str]) -> tuple[dict, float]:
    """One `simlib burst --json` process; returns its summary and its own peak RSS in MB (from wait4)."""
    proc = subprocess.Popen([sys.executable, "-m", "simlib", "burst", "--json", "--quiet", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(redact(f"bench: simlib burst {' '.join(args)} failed ({proc.returncode}): {err.strip()[-300:]}"))
    return json.loads(out), usage.ru_maxrss / 1024


def median_row(summaries: list[tuple[dict, float]]) -> dict:
    def med(get):
        return statistics.median(get(s, rss) for s, rss in summaries)

    return {
        "rate": med(lambda s, _: s["achieved_rate_per_s"]),
        "target": summaries[0][0]["target_rate_per_s"],
        "lag_p50": med(lambda s, _: s["lag_ms"]["p50"]),
        "lag_p99": med(lambda s, _: s["lag_ms"]["p99"]),
        "wall_s": med(lambda s, _: s["wall_s"]),
        "rss_mb": med(lambda _, rss: rss),
        "kept": sum(1 for s, _ in summaries if s["schedule_kept"]),
        "valid": all(s["audit_valid"] for s, _ in summaries),
        "runs": len(summaries),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000, help="fans per burst [10000]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; medians are shown [3]")
    parser.add_argument("--strategies", default="all", help="all, or a comma-separated list")
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"comma-separated [{','.join(CLIENTS)}]")
    parser.add_argument("--quick", action="store_true", help="1 run per row, 2,000 fans, hot seat only")
    parser.add_argument("--no-memory", action="store_true", help="skip the 100k vs 1M streamed-run memory check")
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks.md"), help="Markdown table path")
    args = parser.parse_args()
    users, repeat = (2_000, 1) if args.quick else (args.users, args.repeat)
    strategies = list(strategy_names()) if args.strategies == "all" else args.strategies.split(",")
    clients = args.clients.split(",")
    venues = [("hot seat", 1)] if args.quick else [("hot seat", 1), ("100 seats", 100)]

    with Lab(nodes=5) as lab:
        store = lab.store.server
        store_url = ["--redis-url", lab.store.url]
        lock_urls = [arg for e in lab.locks for arg in ("--lock-url", e.url)]

        def servers_for(strategy: str) -> list[str]:
            return store_url + (lock_urls if get_strategy(strategy).needs_lock_servers else [])

        print(f"servers: {lab.store.binary} {lab.store.version} on 127.0.0.1; {len(lab.locks)} lock servers", file=sys.stderr)
        requests = REQUESTS // 5 if args.quick else REQUESTS
        bench_set = [redis_benchmark(store.port, store.password, ["-t", "set"], requests) for _ in range(repeat)]
        bench_nx = [redis_benchmark(store.port, store.password, ["SET", "simlib-bench:nx", "x", "NX"], requests)
                    for _ in range(repeat)]
        cleanup = redis.Redis.from_url(lab.store.url)
        cleanup.delete(*BENCH_KEYS)
        cleanup.close()
        baseline = statistics.median(bench_set) if None not in bench_set else None
        baseline_nx = statistics.median(bench_nx) if None not in bench_nx else None
        rows = []
        for venue, seats in venues:
            for client in clients:
                for strategy in strategies:
                    flags = [*servers_for(strategy), "--strategy", strategy, "--client", client, "--users", str(users),
                             "--seats", str(seats), "--arrival", "uniform", "--window-s", "1"]
                    runs = []
                    for index in range(repeat):
                        print(f"bench: {venue} · {client} · {strategy} · run {index + 1}/{repeat}", file=sys.stderr)
                        runs.append(run_burst(flags + ["--seed", str(index)]))
                    rows.append({"venue": venue, "client": client, "strategy": strategy, **median_row(runs)})
        # SET NX throughput as a client: a burst where every fan's only command is SET NX on one lock key
        nx_runs = {}
        for client in clients:
            nx_runs[client] = [run_burst([*store_url, "--strategy", "setnx", "--client", client, "--users", str(users),
                                          "--arrival", "burst", "--window-s", "0", "--seed", str(i)])
                               for i in range(repeat)]
        memory = []
        if not (args.quick or args.no_memory):
            for attempts in MEMORY_ATTEMPTS:
                print(f"bench: memory · {attempts:,} attempts streamed to disk", file=sys.stderr)
                with tempfile.TemporaryDirectory(prefix="simlib-bench-") as folder:
                    summary, rss = run_burst([*store_url, "--strategy", "atomic", "--client", "mux", "--users",
                                              str(attempts), "--seats", "100", "--window-s", "0", "--stream",
                                              "--out", folder])
                memory.append((attempts, summary, rss))

    text = render(rows, baseline, baseline_nx, nx_runs, users, repeat, memory)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(f"bench: wrote {out}", file=sys.stderr)
    return 0


def render(rows, baseline, baseline_nx, nx_runs, users, repeat, memory=()) -> str:
    m = machine()
    lines = [
        "# Harness benchmark: does simlib keep its schedule?",
        "",
        f"Generated by `make bench` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC · {m['cpus']} CPUs · "
        f"{platform.machine()} · Python {m['python']} · redis-py {m['redis_py']} · simlib {m['simlib']} · "
        f"medians of {repeat} run{'s' if repeat > 1 else ''}.",
        "",
        "redis-benchmark on the same store, 50 clients, no pipelining: "
        + (f"`SET` {baseline:,.0f} ops/s, `SET NX` {baseline_nx:,.0f} ops/s." if baseline else "not installed."),
        "",
        "## Bursts: uniform arrivals over 1 s",
        "",
        f"{users:,} fans due evenly over one second (target {users:,}/s). Goal: release rate >= 95% of target and lag "
        "p99 <= 50 ms. Each row is a separate `simlib burst` process; RSS is that process's peak.",
        "",
        "| venue | client | strategy | release rate /s | lag p50 ms | lag p99 ms | wall s | peak RSS MB | schedule kept | audit |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['venue']} | {r['client']} | {r['strategy']} | {r['rate']:,.0f} | {r['lag_p50']:.1f} | "
            f"{r['lag_p99']:.1f} | {r['wall_s']:.2f} | {r['rss_mb']:.0f} | {r['kept']}/{r['runs']} | "
            f"{'valid' if r['valid'] else 'INVALID'} |"
        )
    lines += [
        "",
        "## SET NX as fast as the client can: a burst (all fans due at t=0) on one hot lock",
        "",
        "Every fan but the first sends exactly one `SET NX PX` and is told 409, so attempts per second here is the",
        "client's SET NX throughput, compared with redis-benchmark `SET` (goal: >= 0.6x).",
        "",
        "| client | attempts/s | drain s | ratio to redis-benchmark SET | ratio to SET NX |",
        "|---|---:|---:|---:|---:|",
    ]
    for client, runs in nx_runs.items():
        rate = statistics.median(s["achieved_rate_per_s"] for s, _ in runs)
        drain = statistics.median(s["wall_s"] for s, _ in runs)
        ratio = f"{rate / baseline:.2f}" if baseline else "n/a"
        ratio_nx = f"{rate / baseline_nx:.2f}" if baseline_nx else "n/a"
        lines.append(f"| {client} | {rate:,.0f} | {drain:.2f} | {ratio} | {ratio_nx} |")
    if memory:
        lines += [
            "",
            "## Memory: records streamed to disk, aggregates in memory",
            "",
            "`simlib burst --stream` (automatic above 200,000 attempts), atomic, mux client, 100 seats, all due at t=0.",
            "Goal: peak RSS growth under 50 MB from 100k to 1M attempts.",
            "",
            "| attempts | peak RSS MB | wall s | attempts/s | audit |",
            "|---:|---:|---:|---:|---|",
        ]
        for attempts, summary, rss in memory:
            lines.append(f"| {attempts:,} | {rss:.0f} | {summary['wall_s']:.1f} | {summary['achieved_rate_per_s']:,.0f} | "
                         f"{'valid' if summary['audit_valid'] else 'INVALID'} |")
        growth = memory[-1][2] - memory[0][2]
        lines += ["", f"Growth from {memory[0][0]:,} to {memory[-1][0]:,} attempts: {growth:+.0f} MB."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
