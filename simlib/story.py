"""What a notebook leaves behind: its figures as PNG, its tables as CSV, a ``summary.json``, and a watermark.

Like a lab notebook's inside cover: where the figures went, what was checked, and the instruments used. A story
notebook makes one :class:`Story` for its output folder; the report and the tests read the ``summary.json`` it
writes (:data:`SUMMARY_FILE`) instead of parsing cells.

    story = Story("results/02_burst_10k")
    story.figure(fig, "correctness-hot-seat")      # saves correctness-hot-seat.png, returns fig for display
    story.finish(checks={"naive double-books": True}, headline=[...])
    print(watermark(lab))
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd

SUMMARY_FILE = "summary.json"
#: Set by ``simlib report`` for the kernels it starts: a file where :class:`Progress` appends its counts, which the
#: report draws as bars on its own terminal (a kernel's stderr would land in the executed notebook instead).
PROGRESS_ENV = "SIMLIB_REPORT_PROGRESS"
PROGRESS_EVERY_S = 0.5
SUMMARY_SCHEMA = 1
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def _plain(value: Any) -> Any:
    """JSON-friendly copy: numpy scalars to Python, NaN to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Story:
    """The output folder of one notebook run. Figures and tables are named in lowercase-kebab (``latency-cdf``)."""

    def __init__(self, out_dir: str | Path, *, notebook: str = ""):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.notebook = notebook
        self.figures: list[str] = []
        self.tables: list[str] = []

    def _file(self, name: str, suffix: str) -> Path:
        if not _NAME.match(name):
            raise ValueError(f"output name {name!r}: use lowercase letters, digits, '-', '_' or '.'")
        return self.out / f"{name}{suffix}"

    def figure(self, fig, name: str):
        """Save ``fig`` as ``<name>.png`` and return it (a notebook displays it as the cell's value)."""
        path = self._file(name, ".png")
        fig.savefig(path, dpi=fig.dpi, metadata={"Software": None})
        self.figures.append(path.name)
        return fig

    def table(self, frame: pd.DataFrame, name: str, *, index: bool = True) -> pd.DataFrame:
        """Save ``frame`` as ``<name>.csv`` and return it."""
        path = self._file(name, ".csv")
        frame.to_csv(path, index=index)
        self.tables.append(path.name)
        return frame

    def progress(self, label: str, total: int | None = None, *, unit: str = "fan") -> "Progress":
        """A progress callback for ``lab.burst(progress=...)``: drawn as a bar on the terminal that runs
        ``simlib report``, so the executed notebook stays clean; a silent no-op everywhere else."""
        return Progress(label, total, unit=unit, sink=os.environ.get(PROGRESS_ENV) or None)

    def finish(self, *, checks: dict[str, bool], **facts: Any) -> Path:
        """Write ``summary.json``: the checks the notebook asserted, the files it wrote, and any facts to share."""
        summary = {
            "schema_version": SUMMARY_SCHEMA,
            "notebook": self.notebook,
            "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "checks": {name: bool(ok) for name, ok in checks.items()},
            "all_checks_passed": all(checks.values()),
            "figures": self.figures,
            "tables": self.tables,
            **_plain(facts),
        }
        path = self.out / SUMMARY_FILE
        path.write_text(json.dumps(summary, indent=2) + "\n")
        return path


class Progress:
    """Counts for a progress bar, appended as JSON lines to ``sink`` at most every :data:`PROGRESS_EVERY_S`.

    Call it with a count (or with anything: ``run_sweep``'s ``on_cell`` passes the cell); it closes itself when the
    total is reached. Without a sink it does nothing.
    """

    def __init__(self, label: str, total: int | None, *, unit: str = "fan", sink: str | None = None,
                 clock=time.monotonic):
        self.label, self.total, self.unit, self.sink, self.clock = label, total, unit, sink, clock
        self.count, self.sent_at, self.closed = 0, float("-inf"), sink is None

    def _send(self, done: bool = False) -> None:
        line = {"label": self.label, "total": self.total, "unit": self.unit, "n": self.count, "done": done}
        try:
            with open(self.sink, "a", encoding="utf-8") as sink:
                sink.write(json.dumps(line) + "\n")
        except OSError:
            self.closed = True  # a progress bar never fails a run: without its file, it goes quiet
        self.sent_at = self.clock()

    def __call__(self, count: Any = 1) -> None:
        if self.closed:
            return
        self.count += count if isinstance(count, int) else 1
        if self.total is not None and self.count >= self.total:
            self.close()
        elif self.clock() - self.sent_at >= PROGRESS_EVERY_S:
            self._send()

    def close(self) -> None:
        if not self.closed:
            self._send(done=True)
            self.closed = True


def read_summary(out_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / SUMMARY_FILE).read_text())


def binary_facts() -> dict[str, str]:
    """The server binary simlib starts by default: its name and the version it reports."""
    import subprocess

    from .servers import find_binary

    binary = find_binary()
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    version = next((word.split("=", 1)[1] for word in out.split() if word.startswith("v=")), out.strip())
    return {"binary": os.path.basename(binary), "version": version}


def watermark_facts(lab=None) -> dict[str, Any]:
    """simlib, redis-py, Python and machine, plus each server the lab runs (role, binary, version)."""
    from .lab import machine

    facts = dict(machine())
    if lab is not None:
        facts["servers"] = [endpoint.describe() for endpoint in lab.endpoints]
    else:  # the notebook's runs start their own servers: name the binary they use
        facts["servers"] = [{"role": "started per run", **binary_facts()}]
    for server in facts["servers"]:
        server.pop("url", None)  # ports change every run and say nothing about the result
    facts["when_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return facts


def watermark(lab=None) -> str:
    """A few lines to end a notebook with: what produced these figures."""
    facts = watermark_facts(lab)
    servers = {f"{s['binary']} {s['version']}" for s in facts["servers"]} or {"(none started)"}
    return "\n".join([
        f"simlib      {facts['simlib']}",
        f"redis-py    {facts['redis_py']}",
        f"servers     {', '.join(sorted(servers))} ({len(facts['servers'])} processes)",
        f"python      {facts['python']}",
        f"machine     {facts['platform']} · {facts['machine']} · {facts['cpus']} CPUs",
        f"run at      {facts['when_utc']}",
    ])
