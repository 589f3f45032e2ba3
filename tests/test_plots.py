"""Figures, tables, the notebook helpers and the seed comparison, on hand-made attempt tables. No server needed."""
import json

import numpy as np
import pandas as pd
import pytest

from simlib import plots
from simlib.race import describe_command, describe_transaction, key_kind
from simlib.record import ATTEMPT_COLUMNS
from simlib.seed import SEED_K6, first_vs_later, k6_figures, k6_side_by_side
from simlib.story import SUMMARY_FILE, Story, read_summary, watermark
from simlib.sweep import grid_cells


def attempts(strategy: str, count: int = 200, *, winners: int = 1, seed: int = 0, vus: int | None = None):
    """A plausible attempts table: ``winners`` ok rows, the rest fail, times in ns from t=0."""
    rng = np.random.default_rng(seed)
    started = np.sort(rng.integers(0, 50_000_000, size=count))
    latency_ns = rng.integers(100_000, 5_000_000, size=count)
    users = np.arange(count) % vus if vus else np.arange(count)
    frame = pd.DataFrame({
        "run_id": "r", "strategy": strategy, "user_id": users, "seat_id": 0, "scheduled_s": 0.0,
        "started_ns": started, "ended_ns": started + latency_ns, "lag_ms": started / 1e6,
        "latency_ms": latency_ns / 1e6, "response_ms": (started + latency_ns) / 1e6,
        "outcome": ["ok"] * winners + ["fail"] * (count - winners),
        "reason": ["booked"] * winners + ["lock_contended"] * (count - winners),
        "retries": 0, "round_trips": 1, "lock_token": "", "fence_token": None, "error": "",
    })
    return frame[list(ATTEMPT_COLUMNS)]


def summary(strategy: str, *, valid: bool = True, double: int = 0, seats: int = 1) -> dict:
    return {
        "strategy": strategy, "users": 200, "seats": seats, "attempts": 200, "booked": 1 + double,
        "seats_sold": 1, "double_booked_seats": double, "oversold": double, "lost": double, "unsold": 0,
        "audit_valid": valid, "outcomes": {"ok": 1 + double, "fail": 199 - double, "info": 0},
        "latency_ms": {"p50": 1.5, "p99": 4.0}, "response_ms": {"p99": 40.0},
    }


def assert_labelled(fig) -> None:
    """Title, labelled axes with units, and a legend (or a colour bar) on every figure."""
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    suptitle = fig._suptitle.get_text() if fig._suptitle else ""
    assert suptitle or all(ax.get_title() for ax in axes), "every figure needs a title"
    assert any(ax.get_xlabel() for ax in axes) and any(ax.get_ylabel() for ax in axes)
    labels = [ax.get_xlabel() for ax in axes if ax.get_xlabel()] + [ax.get_ylabel() for ax in axes if ax.get_ylabel()]
    assert all("(" in label for label in labels), f"axis labels carry units in brackets: {labels}"
    assert any(ax.get_legend() for ax in fig.axes) or any(ax.get_ylabel() for ax in colorbars), "legend or colour bar"


BY_STRATEGY = {"naive": attempts("naive", winners=7), "setnx": attempts("setnx", seed=1)}


@pytest.mark.parametrize("make", [
    lambda: plots.correctness_chart([summary("naive", valid=False, double=1), summary("setnx")], title="c"),
    lambda: plots.latency_cdf(BY_STRATEGY, title="l"),
    lambda: plots.outcomes_over_time(BY_STRATEGY, title="o", bin_ms=5),
    lambda: plots.throughput_chart(BY_STRATEGY, title="t", bin_ms=5),
    lambda: plots.schedule_lag_chart(BY_STRATEGY, title="s"),
    lambda: plots.cumulative_yours_chart(BY_STRATEGY, seats=1, title="y"),
    lambda: plots.heatmap(pd.DataFrame([[1, 5], [np.nan, 9]], index=[0, 5], columns=[10, 50]), title="h",
                          xlabel="pool (connections)", ylabel="hold (ms)", cbar_label="oversold (fans)"),
    lambda: plots.heatmap(pd.DataFrame([[0.5, 50.0]], index=[1], columns=[10, 50]), title="h", log=True,
                          xlabel="pool (connections)", ylabel="hold (ms)", cbar_label="p99 (ms)"),
    lambda: plots.sweep_lines(pd.DataFrame({"x": [1, 2, 1, 2], "y": [1, 3, 2, 5], "by": ["a", "a", "b", "b"]}),
                              x="x", y="y", by="by", title="s", xlabel="x (ms)", ylabel="y (count)"),
    lambda: plots.k6_duration_chart(SEED_K6, SEED_K6, title="k6"),
], ids=["correctness", "latency-cdf", "outcomes", "throughput", "lag", "told-yours", "heatmap", "heatmap-log",
        "sweep-lines", "k6"])
def test_every_figure_is_labelled(make):
    assert_labelled(make())


def race_steps(labels: list[tuple[int, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"fan": f, "role": "store", "command": "X", "kind": k, "label": lab, "start_ms": t,
                          "end_ms": t + 0.5} for f, k, lab, t in labels])


def test_swimlane_shouts_when_a_seat_is_sold_twice():
    steps = race_steps([(0, "read", "GET seat → free", 0), (1, "read", "GET seat → free", 10),
                        (0, "write", "SET seat := fan 0", 60), (1, "write", "SET seat := fan 1", 70)])
    fig = plots.swimlane(steps, attempts("naive", 2, winners=2), final_owner=1, title="naive")
    assert_labelled(fig)
    ax = fig.axes[0]
    assert "DOUBLE BOOKING: 2 fans" in ax.get_title()
    texts = [t.get_text() for t in ax.texts]
    assert sum("sold twice" in t for t in texts) == 2 and any("overwritten" in t for t in texts)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["fan 0", "fan 1 (final owner)"]


def test_swimlane_of_a_lock_shows_one_winner_and_the_409s():
    steps = race_steps([(0, "lock", "SET NX lock → got it", 0), (1, "lock", "SET NX lock → busy", 10),
                        (0, "write", "SET seat := fan 0", 60), (0, "release", "release lock", 61)])
    fig = plots.swimlane(steps, attempts("setnx", 2, winners=1), final_owner=0, title="setnx")
    assert "sold once" in fig.axes[0].get_title()
    assert any("409 lock busy" in t.get_text() for t in fig.axes[0].texts)


def test_percentile_table_and_headline():
    table = plots.percentile_table(BY_STRATEGY)
    assert list(table.index) == ["naive", "setnx"]
    assert (table["service_p50_ms"] <= table["service_p99_ms"]).all()
    assert (table["response_p99_ms"] <= table["response_max_ms"]).all()
    headline = plots.headline_table([summary("naive", valid=False, double=1), summary("setnx", seats=100)])
    assert headline["audit"].tolist() == ["INVALID", "valid"]
    assert headline["workload"].tolist() == ["200 fans → 1 seat", "200 fans → 100 seats"]


def test_markdown_table_formats_numbers_and_escapes_pipes():
    text = plots.markdown_table(pd.DataFrame({"a": [1234, 5], "b": [1.5, np.nan], "c": ["x|y", True]}))
    lines = text.splitlines()
    assert lines[0] == "| a | b | c |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| 1,234 | 1.50 | x\\|y |" and lines[3] == "| 5 |  | yes |"


def test_strategy_colours_are_stable_and_cover_unknown_names():
    assert plots.strategy_color("naive") == plots.STRATEGY_COLORS["naive"]
    assert plots.strategy_color("setnx-fenced") == plots.strategy_color("setnx-fenced")


# ---- the traced race's vocabulary ---------------------------------------------------------------------------------
def test_commands_become_steps_a_student_reads():
    seat, lock = "simlib:ab12:seat:0", "simlib:ab12:lock:0"
    assert key_kind(seat) == "seat" and key_kind(b"simlib:ab12:ledger") == "ledger" and key_kind("other") == ""
    assert describe_command(("GET", seat), None) == ("read", "GET seat → free")
    assert describe_command(("GET", seat), b"7") == ("read", "GET seat → taken (fan 7)")
    assert describe_command(("SET", lock, "t", "NX", "PX", 30000), True) == ("lock", "SET NX lock → got it")
    assert describe_command(("SET", lock, "t", "NX", "PX", 30000), None) == ("lock", "SET NX lock → busy")
    assert describe_command(("EVALSHA", "sha", 1, lock, "t"), 1) == ("release", "release lock")
    book = ("EVALSHA", "sha", 2, seat, "simlib:ab12:ledger", 3)
    assert describe_command(book, 1) == ("write", "book script → yours")
    assert describe_command(("INCR", "simlib:ab12:fence:0"), 1) == ("other", "INCR")
    assert describe_transaction([("SET", seat, 3), ("RPUSH", "simlib:ab12:ledger", "0:3:")], [True, 1]) == (
        "write", "SET seat := fan 3")


# ---- notebook helpers ---------------------------------------------------------------------------------------------
def test_story_writes_png_csv_and_summary(tmp_path):
    story = Story(tmp_path / "out", notebook="nb")
    fig = plots.throughput_chart(BY_STRATEGY, title="t")
    assert story.figure(fig, "throughput") is fig
    story.table(pd.DataFrame({"a": [1]}), "numbers", index=False)
    story.finish(checks={"fine": True, "also": np.bool_(True)}, value=np.float64(1.5), missing=float("nan"))
    data = read_summary(tmp_path / "out")
    assert data["all_checks_passed"] is True and data["figures"] == ["throughput.png"]
    assert data["tables"] == ["numbers.csv"] and data["value"] == 1.5 and data["missing"] is None
    assert (tmp_path / "out" / "throughput.png").read_bytes()[:4] == b"\x89PNG"
    json.loads((tmp_path / "out" / SUMMARY_FILE).read_text())
    with pytest.raises(ValueError, match="lowercase"):
        story.figure(fig, "Bad Name")


def test_watermark_names_versions_and_machine():
    text = watermark()
    for word in ("simlib", "redis-py", "servers", "python", "machine"):
        assert word in text


# ---- the seed ---------------------------------------------------------------------------------------------------
def test_k6_figures_in_the_seeds_vocabulary():
    frame = attempts("setnx", 100, winners=1, vus=10)
    ours = k6_figures(frame, run_s=2.0)
    assert ours["iterations"] == 100 and ours["http_reqs_per_s"] == 50.0
    assert ours["status_200"] == 1 and ours["status_409"] == 99
    assert ours["checks_succeeded"] * 2 == ours["checks_total"]
    assert ours["http_req_duration_min_ms"] <= ours["http_req_duration_med_ms"] <= ours["http_req_duration_max_ms"]
    table = k6_side_by_side(ours)
    assert table.loc["http_req_duration p(95) (ms)", "seed (k6, published)"] == "63.47"
    assert table.loc["✓ status 200 (booked)", "simlib / seed"] == "1.00×"
    split = first_vs_later(frame)
    assert split["iterations"].tolist() == [10, 90]


def test_grid_runs_fewest_fans_first_and_rejects_unknown_knobs():
    cells = grid_cells(users=[1000, 10], hold_ms=[0, 5])
    assert [c["users"] for c in cells] == [10, 10, 1000, 1000] and len(cells) == 4
    with pytest.raises(ValueError, match="unknown sweep dimension"):
        grid_cells(fans=[1])


def test_progress_without_a_sink_does_nothing_and_with_one_writes_counts(tmp_path, monkeypatch):
    from simlib.story import PROGRESS_ENV, Progress

    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    silent = Story(tmp_path / "a").progress("burst", 10)
    silent(5), silent.close()
    sink = tmp_path / "progress.jsonl"
    now = [0.0]
    bar = Progress("hot-seat naive", 3, sink=str(sink), clock=lambda: now[0])
    bar(1)
    bar(1)  # within the interval: not written
    now[0] = 1.0
    bar(1)  # reaches the total: closes itself
    bar(1)  # after closing: ignored
    lines = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [(line["n"], line["done"]) for line in lines] == [(1, False), (3, True)]
    assert lines[0]["label"] == "hot-seat naive" and lines[0]["unit"] == "fan"


def test_the_report_relays_a_kernels_counts_to_bars(tmp_path):
    from simlib.notebook_report import ProgressRelay
    from simlib.story import Progress

    relay = ProgressRelay(tmp_path / "nb.progress")
    bar = Progress("sweep", None, unit="cell", sink=str(relay.path), clock=lambda: 0.0)
    bar("cell")
    relay.drain()
    assert relay.bars["sweep"].n == 1
    bar.close()
    relay.stop()
    assert not relay.bars and not relay.path.exists()


def test_progress_goes_quiet_when_its_file_cannot_be_written(tmp_path):
    from simlib.story import Progress

    bar = Progress("burst", 10, sink=str(tmp_path / "missing-folder" / "p.jsonl"))
    bar(1)
    bar(9)
    assert bar.closed
