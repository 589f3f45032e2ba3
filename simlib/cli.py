"""``simlib`` on the command line: burst, compare, strategies, clean, report.

Every user mistake ends in one line on stderr naming the flag, and a distinct exit status:
0 ok · 1 --check failed · 2 usage · 3 unreachable/auth/TLS/no server binary · 4 server refused · 130 interrupted ·
70 internal error. With --json, stdout holds exactly one JSON document and nothing else.
"""
from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import __version__
from .config import ARRIVALS, LIMITS, SEAT_CHOICES, Scenario, did_you_mean
from .config import flag_name
from .errors import (EXIT_CHECK_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE,
                     SimlibError, UsageError)
from .strategies import all_strategies, get as get_strategy, names as strategy_names
from .outdir import prepare_out_dir
from .urls import redact

#: Runs expected to make more attempts than this stream their records to disk instead of keeping them in memory.
STREAM_ABOVE_ATTEMPTS = 200_000

EPILOG_EXIT = "exit status: 0 ok, 1 --check failed, 2 usage, 3 server unreachable/auth/no binary, 4 server refused, 130 interrupted"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (naming the flag, passwords masked) and exit status 2."""

    commands: dict[str, "Parser"] = {}
    """The subcommands' parsers by name (set on the top-level parser), so each reports its own unknown flags."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"simlib: {redact(message)}{self._suggestion(message)} (see '{self.prog} --help')\n")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        # unknown flags are reported by the parser that owns them, so the hint names the subcommand's flags
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            owner = self.commands.get(getattr(parsed, "command", None) or "", self)
            owner.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _suggestion(self, message: str) -> str:
        prefix = "unrecognized arguments: "
        if not message.startswith(prefix):
            return ""
        flags = [o for action in self._actions for o in action.option_strings if o.startswith("--")]
        for word in message[len(prefix):].split():
            if word.startswith("--"):
                close = difflib.get_close_matches(word.split("=", 1)[0], flags, n=1)
                if close:
                    return f"; did you mean {close[0]}?"
        return ""


def _number(name: str, kind: type):
    """An argparse type for a numeric flag: parses the text; the range (and NaN/infinity) is checked by validate."""
    limit = LIMITS.get(name)
    accepted = f": {flag_name(name)} takes {limit.describe()}" if limit else ""

    def convert(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"'{text}' is not a {'whole number' if kind is int else 'number'}{accepted}"
            ) from None

    convert.__name__ = kind.__name__
    return convert


def INT(name: str):
    return _number(name, int)


def FLOAT(name: str):
    return _number(name, float)


def _add_workload_flags(p: argparse.ArgumentParser) -> None:
    d = Scenario()
    g = p.add_argument_group("workload (deterministic from --seed)")
    g.add_argument("--users", type=INT("users"), default=None, help=f"fans in the open model [{d.users:,}]")
    g.add_argument("--vus", type=INT("vus"), help="closed model, like k6 constant-vus: virtual users looping book-then-think")
    g.add_argument("--duration-s", type=FLOAT("duration_s"), default=d.duration_s, help=f"closed model: how long the VUs loop [{d.duration_s:g}]")
    g.add_argument("--think-ms", type=FLOAT("think_ms"), default=d.think_ms, help=f"closed model: pause between iterations [{d.think_ms:g}]")
    g.add_argument("--seats", type=INT("seats"), default=d.seats, help=f"seats in the venue [{d.seats}]")
    g.add_argument("--window-s", type=FLOAT("window_s"), default=d.window_s, help=f"arrival window, seconds; 0 only with burst [{d.window_s:g}]")
    g.add_argument("--arrival", default=d.arrival, help=f"{' | '.join(ARRIVALS)}: all at t=0, evenly spaced, or Poisson [{d.arrival}]")
    g.add_argument("--seat-choice", default=d.seat_choice,
                   help=f"{' | '.join(SEAT_CHOICES)}: seat 0 for all, any seat, or Zipf s=1 best seats first [{d.seat_choice}]")
    g.add_argument("--seed", type=INT("seed"), default=d.seed, help=f"same seed, same schedule and seat choices [{d.seed}]")
    s = p.add_argument_group("strategy tunables")
    s.add_argument("--ttl-ms", type=FLOAT("ttl_ms"), default=d.ttl_ms, help=f"lock lease [{d.ttl_ms:g}]")
    s.add_argument("--hold-ms", type=FLOAT("hold_ms"), default=d.hold_ms,
                   help=f"the race window: time a winner spends between deciding and confirming [{d.hold_ms:g}]")
    s.add_argument("--max-retries", type=INT("max_retries"), default=d.max_retries, help=f"optimistic WATCH retries and Redlock retries [{d.max_retries}]")
    s.add_argument("--nodes", type=INT("nodes"), default=d.nodes, help=f"Redlock lock servers to start (odd, >= 3) [{d.nodes}]")
    r = p.add_argument_group("runner")
    r.add_argument("--pool-size", type=INT("pool_size"), default=d.pool_size, help=f"connections per server (blocking pool) [{d.pool_size}]")
    r.add_argument("--workers", type=INT("workers"), help="worker tasks pulling fans in arrival order [pool size]")
    r.add_argument("--timeout-ms", type=FLOAT("timeout_ms"), default=d.timeout_ms, help=f"per command; a timeout is recorded as info [{d.timeout_ms:g}]")
    r.add_argument("--client", default=d.client,
                   help="redis-py (asyncio, what the notebooks teach with) | mux (simlib's multiplexing client: many "
                   f"fans' commands share a connection, one write per loop tick; see benchmarks/) [{d.client}]")
    r.add_argument("--max-rate", type=FLOAT("max_rate"), help="cap attempts started per second, like k6's rps (asyncio-throttle)")
    c = p.add_argument_group("servers (default: simlib starts private ones on 127.0.0.1)")
    c.add_argument("--redis-url", metavar="URL", help="the store, and the single-instance lock server (redis://, rediss://, unix://)")
    c.add_argument("--lock-url", metavar="URL", action="append", default=[], dest="lock_urls",
                   help="a Redlock lock server; repeat it, odd count >= 3")
    c.add_argument("--allow-foreign", action="store_true",
                   help="use a server that holds other keys; only this run's simlib:<run>: prefix is touched")
    _add_net_flags(p)
    o = p.add_argument_group("output")
    o.add_argument("--config", metavar="FILE", help="replay a run from its config.json (flags given here are ignored)")
    o.add_argument("--out", metavar="DIR", help="write config.json, attempts.csv and summary.json (folder absent or empty)")
    o.add_argument("--force", action="store_true", help="let --out write into a folder that is not empty")
    o.add_argument("--stream", action="store_true",
                   help=f"write attempts to disk as they finish and keep only aggregates in memory (percentiles from "
                   f"1%%-wide histogram buckets); automatic above {STREAM_ABOVE_ATTEMPTS:,} attempts")
    o.add_argument("--json", action="store_true", help="print one JSON document on stdout instead of the text summary")
    o.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> Parser:
    parser = Parser(
        prog="simlib",
        description="The ticket-rush lab: fire thousands of simulated fans at a seat on a real Redis, "
        "with a booking strategy, and audit whether the seat was sold once.",
        epilog=EPILOG_EXIT,
    )
    parser.add_argument("--version", action="version", version=f"simlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    burst = sub.add_parser(
        "burst", help="run one strategy against a burst of fans and audit it",
        description="Run one burst and print a k6-style summary with the audit's verdict.",
        epilog="examples:\n  simlib burst --strategy naive --hold-ms 5          # watch it double-book\n"
        "  simlib burst --strategy setnx --json\n"
        "  simlib burst --vus 50 --duration-s 10 --think-ms 1000   # the seed article's k6 run\n\n" + EPILOG_EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    burst.add_argument("--strategy", default="setnx", help=f"{' | '.join(strategy_names())} [setnx]")
    _add_workload_flags(burst)
    burst.add_argument("--check", action="store_true", help="exit 1 if the audit is invalid or a threshold fails")
    burst.add_argument("--threshold", action="append", default=[], metavar="EXPR",
                       help="k6-style, e.g. 'p95<50', 'lag_p99<50', 'double_booked_seats==0'; implies --check")
    burst.set_defaults(func=cmd_burst)

    compare = sub.add_parser(
        "compare", help="every strategy on the same seeded workload, one table",
        description="Run each strategy on the same seeded workload and print one table.",
        epilog="example:\n  simlib compare --users 10000 --seats 100 --repeat 3\n\n" + EPILOG_EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("--strategies", default="all", help="all, or a comma-separated list [all]")
    compare.add_argument("--repeat", type=INT("repeat"), default=1, help="runs per strategy; the table shows medians [1]")
    _add_workload_flags(compare)
    compare.set_defaults(func=cmd_compare)

    _add_faults_parser(sub)

    listing = sub.add_parser("strategies", help="list the strategies and what each guarantees")
    listing.set_defaults(func=cmd_strategies)

    clean = sub.add_parser(
        "clean", help="remove keys a crashed run left behind (simlib:<run>: prefixes only)",
        description="Remove simlib keys left on a server by an interrupted run. Never touches other keys.",
    )
    clean.add_argument("--redis-url", metavar="URL", action="append", default=[], dest="urls", required=True,
                       help="server to clean; repeat for several")
    which = clean.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", metavar="ID", help="one run's keys (the run id in config.json)")
    which.add_argument("--all-runs", action="store_true", help="every simlib:* key")
    clean.set_defaults(func=cmd_clean)

    from .notebook_report import add_parser as add_report_parser  # `simlib report`: the notebooks into results/

    add_report_parser(sub)
    parser.commands = dict(sub.choices)  # every subcommand reports its own unknown flags
    for command in (burst, compare):
        _show_ranges(command)
    return parser


def _show_ranges(parser: argparse.ArgumentParser) -> None:
    """Append each numeric flag's accepted range to its --help line, from the one table validation uses."""
    for action in parser._actions:
        limit = LIMITS.get(action.dest)
        if limit is not None and action.help:
            action.help += f" ({limit.describe()})"


# ---- commands ----------------------------------------------------------------------------------------------------
_SCENARIO_FLAGS = ("users", "vus", "duration_s", "think_ms", "seats", "window_s", "arrival", "seat_choice", "ttl_ms",
                   "hold_ms", "seed", "max_rate", "pool_size", "workers", "timeout_ms", "max_retries", "nodes", "client", "redis_url",
                   "net_delay_ms", "net_jitter_ms")


def scenario_from_args(args: argparse.Namespace, strategy: str) -> Scenario:
    if args.config is not None:
        # URLs are never replayed (config.json holds them masked): the servers are the ones named on this command line
        return Scenario.from_dict(read_config(args.config)).with_(
            redis_url=args.redis_url, lock_urls=tuple(args.lock_urls)).validate()
    values = {name: getattr(args, name) for name in _SCENARIO_FLAGS}
    if values["users"] is None and values["vus"] is None:
        values["users"] = Scenario().users
    return Scenario(strategy=strategy, lock_urls=tuple(args.lock_urls), **values).validate()


def read_config(path: str) -> dict:
    """The scenario fields of a run's ``config.json`` (or of a bare JSON object of fields)."""
    if not path.strip():
        raise UsageError("--config needs a file: the config.json of an earlier run (simlib burst --out DIR)")
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise UsageError(f"--config {path}: cannot read it as JSON ({reason}); give a config.json that simlib wrote") from None
    scenario = data.get("scenario", data) if isinstance(data, dict) else data
    if not isinstance(scenario, dict) or not scenario:
        raise UsageError(f"--config {path}: expected a JSON object with a 'scenario' object, as in a run's config.json")
    return scenario


def _progress(args: argparse.Namespace, scenario: Scenario, label: str):
    if args.quiet:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=scenario.users, desc=label, unit="fan", file=sys.stderr, delay=2.0, leave=False, dynamic_ncols=True)
    return bar, bar.update


def cmd_burst(args: argparse.Namespace) -> int:
    from . import thresholds

    scenario = scenario_from_args(args, args.strategy)
    if scenario.lock_urls and not get_strategy(scenario.strategy).needs_lock_servers:
        raise UsageError(f"--lock-url names Redlock lock servers, which --strategy {scenario.strategy} does not use: "
                         "drop --lock-url or use --strategy redlock")
    checks = [thresholds.parse(text) for text in args.threshold]
    out = prepare_out_dir(args.out, force=args.force) if args.out else None
    check_servers_first([scenario], args.allow_foreign)
    from .report import text_summary, write_run

    bar, progress = _progress(args, scenario, scenario.strategy)
    scratch = None
    stream_to = None
    if args.stream or expected_attempts(scenario) > STREAM_ABOVE_ATTEMPTS:
        if out is None:
            scratch = scratch_dir()
        stream_to = (out or Path(scratch)) / "attempts.csv"
    try:
        result = _run(run_burst_with_progress(scenario, args.allow_foreign, progress, stream_to))
    finally:
        if bar is not None:
            bar.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    summary = result.summary()
    results = [(t.text, *t.holds(summary)) for t in checks]
    summary["thresholds"] = [{"threshold": text, "ok": ok, "value": value} for text, ok, value in results]
    if out:
        write_run(result, out)
    if args.json:
        emit(json.dumps(summary))
    else:
        emit(text_summary(result, results))
    failed = (args.check or checks) and (not result.valid or not all(ok for _, ok, _ in results))
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def check_servers_first(scenarios: list[Scenario], allow_foreign: bool) -> None:
    """Preflight the servers named by URL before the imports a run needs (pandas): a dead one fails in about a second.

    The lab checks them again when it starts (reads only); this early look is what makes the command line fast."""
    from .preflight import check_servers

    first = scenarios[0]
    needs_locks = any(get_strategy(s.strategy).needs_lock_servers for s in scenarios)
    check_servers(first.redis_url, first.lock_urls, with_locks=needs_locks, allow_foreign=allow_foreign)


def scratch_dir() -> str:
    """A temp folder for a streamed run without --out, named after this process. Folders left by a simlib that
    was killed (SIGKILL gives no chance to clean up) are removed here, once their process is gone."""
    parent = Path(tempfile.gettempdir())
    for stale in parent.glob("simlib-stream-*-*"):
        pid = stale.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"simlib-stream-{os.getpid()}-")


def expected_attempts(scenario: Scenario) -> float:
    if scenario.users is not None:
        return scenario.users
    return scenario.vus * scenario.duration_s * 1000 / max(scenario.think_ms, 1.0)


async def run_burst_with_progress(scenario: Scenario, allow_foreign: bool, progress, stream_to: Path | None = None):
    from .lab import Lab

    with Lab.for_scenarios([scenario], allow_foreign=allow_foreign) as lab:
        return await lab.burst(scenario, progress=progress, stream_to=stream_to)


def cmd_compare(args: argparse.Namespace) -> int:
    known = strategy_names()
    chosen = list(known) if args.strategies.strip() == "all" else [n.strip() for n in args.strategies.split(",") if n.strip()]
    for name in chosen:
        if name not in known:
            raise UsageError(f"--strategies: '{name}' is unknown: {did_you_mean(name, known)}")
    if not chosen:
        raise UsageError("--strategies names no strategy: give 'all' or a comma-separated list")
    twice = sorted({name for name in chosen if chosen.count(name) > 1})
    if twice:
        raise UsageError(f"--strategies names {', '.join(twice)} more than once; use --repeat N to run a strategy N times")
    if not 1 <= args.repeat <= 100:
        raise UsageError(f"--repeat must be from 1 to 100 (got {args.repeat})")
    base = scenario_from_args(args, chosen[0])
    out = prepare_out_dir(args.out, force=args.force) if args.out else None
    check_servers_first([base.with_(strategy=name) for name in chosen], args.allow_foreign)
    from .lab import compare
    from .report import compare_table, write_run

    bars = []

    def progress_factory(scenario: Scenario, index: int):
        bar, progress = _progress(args, scenario, f"{scenario.strategy} #{index + 1}")
        if bar is not None:
            bars.append(bar)
        return progress

    try:
        results = _run(compare(base, strategies=chosen, repeat=args.repeat, allow_foreign=args.allow_foreign,
                               progress_factory=progress_factory))
    finally:
        for bar in bars:
            bar.close()
    if out:
        for index, result in enumerate(results):
            repeat_index = index % args.repeat
            folder = out / (result.scenario.strategy + (f"-{repeat_index + 1}" if args.repeat > 1 else ""))
            write_run(result, folder)
        (out / "compare.json").write_text(json.dumps([r.summary() for r in results], indent=2) + "\n")
        (out / "compare.txt").write_text(compare_table(results) + "\n")
    if args.json:
        emit(json.dumps([r.summary() for r in results]))
    else:
        emit(compare_table(results))
    return EXIT_OK


def _add_faults_parser(sub) -> None:
    from .faults import DEFAULT_RUNS, SCENARIOS

    listing = "\n".join(f"  {name:<16} {cls.summary}" for name, cls in SCENARIOS.items())
    faults = sub.add_parser(
        "faults", help="scripted faults (paused holder, restarted lock server...): violations with and without fixes",
        description="Stage a fault against servers simlib starts on loopback, audit every run, count violations per "
        "variant. Exit 0 when every variant meets its expected count, 1 otherwise.",
        epilog=f"scenarios:\n{listing}\n\nexample:\n  simlib faults pause-past-ttl --runs 10 --json\n\n" + EPILOG_EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    faults.add_argument("scenario", metavar="SCENARIO", help=" | ".join(SCENARIOS))
    faults.add_argument("--runs", type=INT("runs"), default=DEFAULT_RUNS, help=f"runs per variant, 1 to 100 [{DEFAULT_RUNS}]")
    faults.add_argument("--seed", type=INT("seed"), default=0, help="same seed, same fans and jitter [0]")
    _add_net_flags(faults)
    faults.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    faults.set_defaults(func=cmd_faults)


def _add_net_flags(p: argparse.ArgumentParser) -> None:
    n = p.add_argument_group("network (a delaying proxy on 127.0.0.1 in front of each server)")
    n.add_argument("--net-delay-ms", type=FLOAT("net_delay_ms"), default=0.0,
                   help="delay each direction by this much; a round trip costs twice it [0]")
    n.add_argument("--net-jitter-ms", type=FLOAT("net_jitter_ms"), default=0.0,
                   help="uniform jitter +- this much on each delay, drawn from the seed [0]")


def cmd_faults(args: argparse.Namespace) -> int:
    from .faults import get, run_fault

    get(args.scenario)  # unknown name: exit 2 with a did-you-mean before any server starts
    report = _run(run_fault(args.scenario, runs=args.runs, seed=args.seed, net_delay_ms=args.net_delay_ms,
                            net_jitter_ms=args.net_jitter_ms))
    if args.json:
        emit(json.dumps(report.to_dict()))
    else:
        emit(report.text())
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def cmd_strategies(args: argparse.Namespace) -> int:
    for cls in all_strategies():
        kind = "exclusive" if cls.exclusive else "UNSAFE"
        emit(f"{cls.name:<15} {kind:<10} {cls.guarantee}")
    return EXIT_OK


def cmd_clean(args: argparse.Namespace) -> int:
    from .clean import clean

    removed = _run(clean(args.urls, run_id=args.run, all_runs=args.all_runs))
    for url, count in removed:
        emit(f"{url}: removed {count:,} simlib key{'s' if count != 1 else ''}")
    return EXIT_OK


# ---- running -----------------------------------------------------------------------------------------------------
def _run(coro):
    """asyncio.run, with SIGTERM treated like Ctrl-C so every finally block (servers, run keys) runs."""

    async def main():
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGTERM, os.kill, os.getpid(), signal.SIGINT)
        except (NotImplementedError, RuntimeError):
            pass
        return await coro

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except SimlibError as exc:
        _say(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _say("interrupted; servers stopped, run keys removed")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except (RedisConnectionError, RedisTimeoutError) as exc:  # a server that passed the preflight went away
        _say(f"lost a server during the run: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
             "check the server and run again")
        return EXIT_UNREACHABLE
    except Exception:  # a bug in simlib: say so, with the traceback (passwords masked)
        sys.stderr.write(redact(traceback.format_exc()))
        _say("internal error (a bug: please report it with the traceback above)")
        return EXIT_INTERNAL


def emit(text: str) -> None:
    """Print a result on stdout. A reader that went away (``| head``) does not change the exit status; a stdout
    that cannot be written (a full disk) is one line on stderr, not a traceback."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more reaches the closed pipe
    except OSError as exc:
        raise OutputError(f"cannot write the result to standard output: {exc.strerror or exc}") from None


class OutputError(SimlibError):
    """Standard output cannot be written (exit 70)."""


def _say(message: str) -> None:
    """One line on stderr, passwords masked."""
    print(f"simlib: {redact(message)}", file=sys.stderr)


def run() -> None:
    sys.exit(main())
