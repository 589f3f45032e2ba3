"""Bad input is stopped at the edge: one line naming the flag and what it accepts, exit 2, and no connection made.

Every invocation below also names a real server (``{url}``) that would be contacted if validation let it through;
its ``total_connections_received`` must not move.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import simlib
from simlib.cli import main
from simlib.errors import EXIT_USAGE, UsageError

from robust_support import client_of, connections_received, other_server

pytestmark = pytest.mark.integration

THREE_LOCKS = ["--lock-url", "redis://127.0.0.1:1/0", "--lock-url", "redis://127.0.0.1:2/0", "--lock-url", "redis://127.0.0.1:3/0"]

# (argv, text the one-line message must contain)
BAD_INVOCATIONS = [
    (["burst", "--users", "0"], "--users must be a whole number from 1 to 10,000,000"),
    (["burst", "--users", "1e4"], "--users takes a whole number from 1 to 10,000,000"),
    (["burst", "--users", "nan"], "--users takes a whole number"),
    (["burst", "--seats", "0"], "--seats must be a whole number from 1"),
    (["burst", "--window-s", "-1"], "--window-s must be a finite number from 0 to 3,600"),
    (["burst", "--window-s", "nan"], "--window-s must be a finite number"),
    (["burst", "--hold-ms", "inf"], "--hold-ms must be a finite number from 0 to 60,000 (got inf)"),
    (["burst", "--ttl-ms", "0"], "--ttl-ms must be a finite number from 1 to 86,400,000"),
    (["burst", "--ttl-ms", "nan"], "--ttl-ms must be a finite number from 1 to 86,400,000 (got nan)"),
    (["burst", "--timeout-ms", "0"], "--timeout-ms must be a finite number above 0 and at most 600,000"),
    (["burst", "--timeout-ms=-inf"], "--timeout-ms must be a finite number above 0"),
    (["burst", "--max-rate", "nan"], "--max-rate must be a finite number above 0"),
    (["burst", "--vus", "5", "--duration-s", "0"], "--duration-s must be a finite number above 0"),
    (["burst", "--duration-s", "nan"], "--duration-s must be a finite number above 0"),
    (["burst", "--vus", "5", "--users", "5"], "--vus (closed model) and --users (open model) exclude each other"),
    (["burst", "--nodes", "4"], "--nodes must be odd"),
    (["burst", "--nodes", "1"], "--nodes must be a whole number from 3 to 15"),
    (["burst", "--max-retries", "-1"], "--max-retries must be a whole number from 0 to 1,000"),
    (["burst", "--pool-size", "0"], "--pool-size must be a whole number from 1"),
    (["burst", "--seed", "-1"], "--seed must be a whole number from 0"),
    (["burst", "--strategy", "redlok"], "did you mean 'redlock'?"),
    (["burst", "--arrival", "burts"], "did you mean 'burst'?"),
    (["burst", "--seat-choice", "hott"], "did you mean 'hot'?"),
    (["burst", "--window-s", "0", "--arrival", "uniform"], "--window-s 0 only goes with --arrival burst"),
    (["burst", "--usres", "5"], "did you mean --users?"),
    (["burst", "--client", "muxx"], "did you mean 'mux'?"),
    (["burst", "--client", "mux", "--strategy", "redlock", "--lock-url", "rediss://127.0.0.1:1/0", "--lock-url",
      "redis://127.0.0.1:2/0", "--lock-url", "redis://127.0.0.1:3/0"], "--client mux speaks redis:// and unix:// only"),
    (["burst", "--threshold", "p95"], "--threshold 'p95' is not METRIC<OP>NUMBER"),
    (["burst", "--threshold", "p9<5"], "unknown metric 'p9'"),
    (["burst", "--threshold", "p95<1e999"], "the limit must be finite"),
    (["burst", "--strategy", "redlock", "--lock-url", "redis://127.0.0.1:1/0", "--lock-url", "redis://127.0.0.1:2/0"],
     "--lock-url needs an odd number of Redlock servers, at least 3"),
    (["burst", "--strategy", "redlock", "--lock-url", "{url}", "--lock-url", "redis://127.0.0.1:2/0",
      "--lock-url", "redis://127.0.0.1:3/0"], "is given twice (also as --redis-url)"),
    (["burst", *THREE_LOCKS], "which --strategy setnx does not use"),
    (["burst", "--out", "{file}"], "exists and is not a folder"),
    (["burst", "--out", "{full_dir}"], "folder is not empty; choose another or add --force"),
    (["burst", "--config", "{missing}"], "cannot read it as JSON (No such file or directory)"),
    (["burst", "--config", "{garbage}"], "cannot read it as JSON"),
    (["burst", "--config", "{list_json}"], "expected a JSON object with a 'scenario' object"),
    (["burst", "--config", "{unknown_field}"], "--config: unknown field(s) colour"),
    (["burst", "--config", "{bad_value}"], "--users must be a whole number from 1 to 10,000,000 (got -3)"),
    (["compare", "--strategies", "setnx,nope"], "--strategies: 'nope' is unknown"),
    (["compare", "--strategies", ","], "--strategies names no strategy"),
    (["compare", "--repeat", "0"], "--repeat must be from 1 to 100"),
    (["compare", "--hold-ms", "-5"], "--hold-ms must be a finite number from 0"),
    (["clean", "--run", "zz"], "--run 'zz' is not a simlib run id"),
    (["clean"], "one of the arguments --run --all-runs is required"),
    (["clean", "--run", "abcdef", "--all-runs"], "not allowed with argument"),
    (["clean", "--all-runs", "--redis-url", "{url}"], "is given twice: name each server once"),
]

# invocations whose --redis-url is itself the mistake (so {url} is not added)
BAD_URLS = [
    ("http://127.0.0.1:1", "has scheme 'http': use redis://, rediss://, unix://"),
    ("127.0.0.1:6379", "has scheme '(none)'"),
    ("redis://127.0.0.1:notaport", "cannot be parsed"),
    ("redis://127.0.0.1:99999", "cannot be parsed"),
    ("redis://127.0.0.1:1/x", "the path must be a database number such as /0"),
    ("redis://", "names no host"),
    ("unix://", "names no socket"),
    ("redis://127.0.0.1:1/0?colour=red", "unknown query parameter 'colour'"),
]


@pytest.fixture(scope="module")
def sentinel():
    """A server that every bad invocation names; it must never see a connection from them."""
    with other_server("sentinel") as server:
        client = client_of(server)
        yield server, client
        client.close()


@pytest.fixture
def places(tmp_path, sentinel):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    (tmp_path / "garbage.json").write_bytes(b"\x81\x00{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "unknown.json").write_text(json.dumps({"scenario": {"users": 10, "colour": "red"}}))
    (tmp_path / "bad.json").write_text(json.dumps({"run_id": "abc", "scenario": {"users": -3}}))
    return {
        "url": sentinel[0].url, "file": str(tmp_path / "a-file"), "full_dir": str(tmp_path / "full"),
        "missing": str(tmp_path / "nope.json"), "garbage": str(tmp_path / "garbage.json"),
        "list_json": str(tmp_path / "list.json"), "unknown_field": str(tmp_path / "unknown.json"),
        "bad_value": str(tmp_path / "bad.json"),
    }


def invoke(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_usage_error(code: int, out: str, err: str, expected: str, password: str) -> None:
    assert code == EXIT_USAGE, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("simlib: "), err
    assert expected in err, err
    assert "Traceback" not in err and password not in err


@pytest.mark.parametrize("argv, expected", BAD_INVOCATIONS, ids=[" ".join(a) for a, _ in BAD_INVOCATIONS])
def test_a_bad_invocation_is_one_line_exit_2_and_no_connection(argv, expected, places, sentinel, capsys):
    server, client = sentinel
    argv = [a.format(**places) for a in argv] + ["--redis-url", server.url]
    if argv[0] == "compare" or (argv[0] == "burst" and "--quiet" not in argv):
        argv.append("--quiet")
    before = connections_received(client)
    code, out, err = invoke(argv, capsys)
    assert_one_line_usage_error(code, out, err, expected, server.password)
    assert connections_received(client) == before, "validation must come before any connection"


@pytest.mark.parametrize("url, expected", BAD_URLS)
@pytest.mark.parametrize("command", [["burst", "--redis-url"], ["clean", "--all-runs", "--redis-url"]])
def test_a_malformed_url_is_a_usage_error(command, url, expected, capsys):
    code, out, err = invoke([*command, url], capsys)
    assert_one_line_usage_error(code, out, err, expected, "never-a-password")


def test_a_password_typed_on_a_bad_command_line_is_masked(capsys):
    code, _, err = invoke(["burst", "--redis-url", "redis://:hunter2@127.0.0.1:1/0", "redis://:hunter2@127.0.0.1:2"],
                          capsys)
    assert_one_line_usage_error(code, "", err, "unrecognized arguments: redis://:***@127.0.0.1:2", "hunter2")


def test_the_real_process_exits_2_with_one_line_and_no_traceback():
    done = subprocess.run([sys.executable, "-m", "simlib", "burst", "--ttl-ms", "nan"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "simlib: --ttl-ms must be a finite number from 1 to 86,400,000 (got nan)\n"


# ---- the library raises the same typed errors ------------------------------------------------------------------
def test_the_library_raises_the_same_message_as_the_cli(capsys):
    with pytest.raises(UsageError) as raised:
        simlib.run_burst_sync(strategy="setnx", ttl_ms=float("nan"))
    code, _, err = invoke(["burst", "--ttl-ms", "nan"], capsys)
    assert err == f"simlib: {raised.value}\n" and code == raised.value.exit_code == EXIT_USAGE


def test_in_ipython_an_error_renders_as_one_line():
    error = UsageError("--users must be a whole number from 1 to 10,000,000 (got 0)")
    assert error._render_traceback_() == ["UsageError: --users must be a whole number from 1 to 10,000,000 (got 0)"]


def test_did_you_mean_also_for_the_library():
    with pytest.raises(UsageError, match="did you mean 'optimistic'"):
        simlib.Scenario(strategy="optimist").validate()


def test_help_states_each_numeric_range(capsys):
    code, out, _ = invoke(["burst", "--help"], capsys)
    text = " ".join(out.split())  # argparse wraps to the terminal width
    assert code == 0
    assert "lock lease [30000] (a finite number from 1 to 86,400,000)" in text
    assert "[5] (a whole number from 3 to 15)" in text


def test_a_lab_built_by_hand_checks_its_urls_before_connecting(sentinel):
    server, client = sentinel
    before = connections_received(client)
    with pytest.raises(UsageError, match="--lock-url ftp://127.0.0.1:1 has scheme 'ftp'"):
        simlib.Lab(redis_url=server.url, lock_urls=[server.url, "ftp://127.0.0.1:1", "redis://127.0.0.1:2"]).start()
    assert connections_received(client) == before
