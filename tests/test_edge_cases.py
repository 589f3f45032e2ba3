"""Cases a newcomer found by hand: each ends in a clear line and the right exit status."""
import http.server
import json
import subprocess
import sys
import threading

import pytest
import redis

from simlib.servers import start_server

pytestmark = pytest.mark.integration


def simlib(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "simlib", *args], capture_output=True, text=True, timeout=timeout, **kw)


def test_a_port_that_speaks_http_is_exit_3_in_one_line():
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        proc = simlib("burst", "--redis-url", f"redis://127.0.0.1:{server.server_port}/0", "--quiet")
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 3, proc.stderr
    assert "does not speak the Redis protocol" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_failed_check_stays_exit_1_when_the_reader_goes_away():
    proc = subprocess.run(
        f"{sys.executable} -m simlib burst --strategy naive --users 400 --hold-ms 5 --check --quiet | true; "
        "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr


def test_a_key_that_only_looks_like_ours_is_foreign_and_survives_clean():
    server = start_server("foreign")
    try:
        client = redis.Redis.from_url(server.url)
        client.set("simlib:important", "theirs")
        refused = simlib("burst", "--redis-url", server.url, "--users", "10", "--quiet")
        assert refused.returncode == 4 and "--allow-foreign" in refused.stderr
        cleaned = simlib("clean", "--redis-url", server.url, "--all-runs")
        assert cleaned.returncode == 0 and "removed 0" in cleaned.stdout
        assert client.get("simlib:important") == b"theirs"
        client.close()
    finally:
        server.stop()


def test_compare_refuses_a_strategy_named_twice():
    proc = simlib("compare", "--strategies", "naive,naive", "--users", "10")
    assert proc.returncode == 2 and "more than once" in proc.stderr and "--repeat" in proc.stderr


@pytest.mark.parametrize("content", ["{}", '{"scenario": {}}', ""])
def test_config_without_a_scenario_is_refused(tmp_path, content):
    path = tmp_path / "config.json"
    path.write_text(content)
    proc = simlib("burst", "--config", str(path), "--quiet")
    assert proc.returncode == 2 and "--config" in proc.stderr


def test_an_empty_config_path_is_refused():
    proc = simlib("burst", "--config", "", "--quiet")
    assert proc.returncode == 2 and "--config" in proc.stderr


def test_a_tight_command_timeout_is_recorded_not_fatal():
    proc = simlib("burst", "--users", "500", "--timeout-ms", "20", "--quiet", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["attempts"] == 500 and summary["audit_valid"] is True
