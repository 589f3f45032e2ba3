"""The command line as users meet it: real processes, real servers, the JSON contract and exit statuses."""
import csv
import json
import subprocess
import sys
from collections import defaultdict

import pytest

pytestmark = pytest.mark.integration

JSON_KEYS = {
    "schema_version", "strategy", "users", "vus", "seats", "attempts", "outcomes", "reasons", "booked", "seats_sold",
    "double_booked_seats", "oversold", "lost", "unsold", "audit_valid", "latency_ms", "response_ms", "lag_ms",
    "achieved_rate_per_s", "schedule_kept", "wall_s", "servers",
}


def simlib(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "simlib", *args], capture_output=True, text=True, timeout=timeout)


def test_version():
    from simlib import __version__

    proc = simlib("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"simlib {__version__}"


def test_burst_json_is_one_object_with_the_contract():
    proc = simlib("burst", "--strategy", "setnx", "--users", "2000", "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # exactly one JSON document: json.loads rejects trailing text
    assert JSON_KEYS <= set(summary)
    assert summary["attempts"] == 2000 and summary["booked"] == 1 and summary["audit_valid"] is True
    assert set(summary["outcomes"]) == {"ok", "fail", "info"}
    assert set(summary["reasons"]) == {"booked", "seat_taken", "lock_contended", "gave_up", "timeout", "error"}
    assert set(summary["latency_ms"]) == {"avg", "p50", "p90", "p95", "p99", "max"}
    assert set(summary["response_ms"]) == {"avg", "p50", "p95", "p99", "max"}
    assert set(summary["lag_ms"]) == {"p50", "p99", "max"}
    assert summary["servers"][0]["role"] == "store" and summary["servers"][0]["version"]


def test_naive_check_fails_with_evidence_in_the_text_summary():
    proc = simlib("burst", "--strategy", "naive", "--users", "1000", "--hold-ms", "5", "--check", "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert "INVALID" in proc.stdout and "seat 0:" in proc.stdout and "told 'yours'" in proc.stdout


def test_threshold_failure_exits_1_and_says_which():
    proc = simlib("burst", "--strategy", "atomic", "--users", "300", "--threshold", "p95<0", "--quiet")
    assert proc.returncode == 1
    assert "✗ p95<0" in proc.stdout


def test_out_folder_csv_agrees_with_the_summary(tmp_path):
    out = tmp_path / "run"
    proc = simlib("burst", "--strategy", "naive", "--users", "1500", "--seats", "3", "--seat-choice", "uniform",
                  "--hold-ms", "3", "--out", str(out), "--quiet", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary == {k: v for k, v in json.loads(proc.stdout).items() if k != "thresholds"}
    with open(out / "attempts.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "run_id", "strategy", "user_id", "seat_id", "scheduled_s", "started_ns", "ended_ns", "lag_ms", "latency_ms",
        "response_ms", "outcome", "reason", "retries", "round_trips", "lock_token", "fence_token", "error",
    ]
    ok_fans = defaultdict(set)
    for row in rows:
        if row["outcome"] == "ok":
            ok_fans[row["seat_id"]].add(row["user_id"])
    doubles = sum(1 for fans in ok_fans.values() if len(fans) > 1)
    assert len(rows) == 1500 and doubles == summary["double_booked_seats"] and doubles >= 1
    config = json.loads((out / "config.json").read_text())
    assert config["scenario"]["users"] == 1500 and config["machine"]["redis_py"]


def test_out_refuses_a_non_empty_folder_without_force(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    proc = simlib("burst", "--users", "10", "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 2 and "--out" in proc.stderr and "--force" in proc.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_config_replays_the_same_workload(tmp_path):
    first = tmp_path / "first"
    assert simlib("burst", "--strategy", "atomic", "--users", "400", "--seats", "20", "--seat-choice", "hot",
                  "--arrival", "poisson", "--window-s", "0.2", "--seed", "11", "--out", str(first), "--quiet").returncode == 0
    second = tmp_path / "second"
    proc = simlib("burst", "--config", str(first / "config.json"), "--out", str(second), "--quiet")
    assert proc.returncode == 0, proc.stderr

    def requests(folder):
        with open(folder / "attempts.csv", newline="") as handle:
            return [(r["user_id"], r["seat_id"], r["scheduled_s"]) for r in csv.DictReader(handle)]

    assert requests(first) == requests(second)


def test_compare_json_is_an_array_of_bursts():
    proc = simlib("compare", "--users", "500", "--seats", "10", "--strategies", "naive,atomic", "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr
    bursts = json.loads(proc.stdout)
    assert [b["strategy"] for b in bursts] == ["naive", "atomic"]
    assert bursts[1]["audit_valid"] is True and bursts[1]["booked"] <= 10


def test_compare_table_lists_every_strategy():
    from simlib import strategy_names

    proc = simlib("compare", "--users", "300", "--seats", "5", "--quiet")
    assert proc.returncode == 0, proc.stderr
    for name in strategy_names():
        assert name in proc.stdout


def test_json_errors_leave_stdout_empty():
    proc = simlib("burst", "--users", "0", "--json")
    assert proc.returncode == 2 and proc.stdout == "" and "--users" in proc.stderr


def test_closed_model_reproduces_the_seed_shape():
    proc = simlib("burst", "--vus", "10", "--duration-s", "1", "--think-ms", "100", "--json", "--quiet")
    summary = json.loads(proc.stdout)
    assert summary["vus"] == 10 and summary["users"] is None
    assert summary["booked"] == 1 and summary["outcomes"]["fail"] == summary["attempts"] - 1
    assert 50 <= summary["attempts"] <= 120  # 10 VUs x ~10 iterations of (request + 100 ms think) in 1 s


def test_stream_writes_the_csv_as_it_goes_and_summarises_from_aggregates(tmp_path):
    out = tmp_path / "streamed"
    proc = simlib("burst", "--strategy", "setnx", "--client", "mux", "--users", "3000", "--seats", "10",
                  "--stream", "--out", str(out), "--quiet", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    with open(out / "attempts.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary["attempts"] == 3000
    assert sum(1 for r in rows if r["outcome"] == "ok") == summary["booked"] <= 10
    assert summary["audit_valid"] is True
