"""``simlib report``: execute every story notebook into ``results/``, with HTML, PNGs and an index.

Like a newspaper's print run: the stories are written in ``notebooks/`` (no outputs), and the report runs each one
top to bottom in a fresh kernel with papermill (each notebook starts and stops its own servers through
:class:`simlib.Lab`), renders it to HTML with the figures embedded, and writes ``results/README.md``: the headline
table (strategy x correctness x p50/p99) and links to everything.

What the report owns in ``results/``: ``README.md`` and, per notebook ``NN_name``, the folder ``NN_name/`` (PNG,
CSV, ``summary.json``) and ``NN_name.ipynb`` / ``NN_name.html``. Nothing else there is touched (a benchmark table
written by another command stays). Everything is first built in ``results/.report-staging/`` and moved into place
only when every notebook succeeded, so a failed run leaves the previous report intact and its own partial output
in the staging folder for inspection. Progress goes to stderr: a bar per notebook (cells, from papermill) and one
per burst, relayed from the kernel through a small file (see :class:`ProgressRelay`).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EXIT_CHECK_FAILED, SimlibError, UsageError

STAGING = ".report-staging"
INDEX = "README.md"
KERNEL = "python3"
CELL_TIMEOUT_S = 1800

#: Small sizes for CI (``--quick``): every notebook still tells its story, in seconds instead of minutes.
QUICK_PARAMETERS: dict[str, dict[str, Any]] = {
    "01_the_race": {"big_users": 1_000},
    "02_burst_10k": {"users": 500, "venue_seats": 20},
    "03_contention_sweep": {
        "users_grid": [200, 500], "seats_grid": [1, 20], "hold_ms_grid": [0.0, 2.0], "pool_size_grid": [1, 10, 50],
        "budget_s": 60.0,
    },
    "04_reproduce_the_seed": {"vus": 10, "duration_s": 2.0, "think_ms": 200.0},
    "05_when_locks_lie": {"runs": 1, "delays_ms": [0, 10], "sweep_users": 200,
                          "sweep_strategies": ["naive", "setnx-fenced"]},
}

#: The notebook whose ``headline`` records make the index's headline table, and its figure shown on top.
HEADLINE_NOTEBOOK = "02_burst_10k"
HEADLINE_FIGURES = ("correctness-hot-seat.png", "latency-cdf-venue.png")


class NotebookFailed(SimlibError):
    """A notebook raised: the message names the notebook, the cell and the error, in one line (exit 1)."""

    exit_code = EXIT_CHECK_FAILED


@dataclass
class Ran:
    """One executed notebook."""

    stem: str
    seconds: float
    summary: dict = field(default_factory=dict)


def default_notebooks_dir() -> Path:
    """``notebooks/`` next to the package (a source checkout), else in the working directory."""
    beside = Path(__file__).resolve().parent.parent / "notebooks"
    return beside if beside.is_dir() else Path.cwd() / "notebooks"


def story_notebooks(folder: Path) -> list[Path]:
    """The numbered stories (``NN_name.ipynb``), in order."""
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.is_file())
    if not found:
        raise UsageError(f"--notebooks {folder}: no numbered notebooks (NN_name.ipynb) there")
    return found


def owned_paths(out: Path, stems: list[str]) -> list[Path]:
    """Everything in ``out`` that a report over ``stems`` writes, and so may replace."""
    paths = [out / INDEX]
    for stem in stems:
        paths += [out / stem, out / f"{stem}.ipynb", out / f"{stem}.html"]
    return paths


def parameters_for(stem: str, out_dir: Path, *, quick: bool) -> dict[str, Any]:
    parameters = dict(QUICK_PARAMETERS.get(stem, {})) if quick else {}
    parameters["out_dir"] = str(out_dir)
    return parameters


def describe_failure(stem: str, error: BaseException, executed: Path) -> str:
    """One line: notebook, cell, error, and where the executed copy is."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        first_line = next((line.strip() for line in error.source.splitlines() if line.strip()), "")
        evalue = " ".join(str(error.evalue).split())
        cell = f"cell In [{error.exec_count}]" if error.exec_count else f"cell #{error.cell_index}"
        return (f"notebook {stem}.ipynb failed in {cell} ({first_line[:60]!r}): {error.ename}: {evalue[:300]}; "
                f"executed copy: {executed}")
    text = " ".join(str(error).split()) or type(error).__name__
    return f"notebook {stem}.ipynb failed: {type(error).__name__}: {text[:300]}; executed copy: {executed}"


def execute(notebook: Path, executed: Path, parameters: dict[str, Any], *, quiet: bool) -> None:
    """Run one notebook with papermill in a fresh ``python3`` kernel, cwd = the notebooks folder.

    The kernel inherits this process's environment: unless ``quiet``, :data:`PROGRESS_ENV` names a file where the
    notebook's :meth:`Story.progress` appends its counts, and a :class:`ProgressRelay` draws them as a bar per burst
    below the bar per notebook.
    """
    import papermill

    from .story import PROGRESS_ENV

    os.environ.pop(PROGRESS_ENV, None)
    relay = None if quiet else ProgressRelay(executed.with_suffix(".progress").resolve())  # the kernel runs elsewhere
    if relay is not None:
        os.environ[PROGRESS_ENV] = str(relay.path)
    progress: bool | dict = False if quiet else {
        "desc": notebook.stem, "file": sys.stderr, "leave": True, "dynamic_ncols": True,
    }
    try:
        papermill.execute_notebook(
            str(notebook), str(executed), parameters=parameters, kernel_name=KERNEL, cwd=str(notebook.parent),
            progress_bar=progress, log_output=False, execution_timeout=CELL_TIMEOUT_S,
        )
    finally:
        os.environ.pop(PROGRESS_ENV, None)
        if relay is not None:
            relay.stop()


class ProgressRelay:
    """Follows the JSON lines a kernel's :class:`simlib.story.Progress` appends, and draws one tqdm bar per label."""

    POLL_S = 0.3

    def __init__(self, path: Path):
        import threading

        self.path = path
        self.path.write_text("")
        self.bars: dict[str, Any] = {}
        self.offset = 0
        self.lock = threading.Lock()  # drain() runs in the relay thread, and once more from stop()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._follow, name="simlib-progress-relay", daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        while not self.stopping.wait(self.POLL_S):
            self.drain()
        self.drain()

    def drain(self) -> None:
        with self.lock:
            with open(self.path, "rb") as source:
                source.seek(self.offset)
                data = source.read()
            complete = data[: data.rfind(b"\n") + 1]  # a half-written last line is read next time
            self.offset += len(complete)
            for line in complete.decode("utf-8").splitlines():
                self._show(json.loads(line))

    def _show(self, update: dict) -> None:
        from tqdm import tqdm

        bar = self.bars.get(update["label"])
        if bar is None:
            bar = self.bars[update["label"]] = tqdm(
                total=update["total"], desc=f"  {update['label']}", unit=update["unit"], file=sys.stderr,
                leave=False, dynamic_ncols=True, position=1)
        bar.update(update["n"] - bar.n)
        if update["done"]:
            bar.close()
            del self.bars[update["label"]]

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        for bar in self.bars.values():
            bar.close()
        self.path.unlink(missing_ok=True)


def to_html(executed: Path) -> Path:
    """The executed notebook as one HTML file with its figures embedded (data URIs)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _resources = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    path = executed.with_suffix(".html")
    path.write_text(body, encoding="utf-8")
    return path


def run_report(*, out: str | Path = "results", quick: bool = False, notebooks_dir: str | Path | None = None,
               only: list[str] | None = None, quiet: bool = False) -> Path:
    """Execute the notebooks into ``out``; return the index path. Raises :class:`NotebookFailed` on a failure."""
    from .servers import find_binary

    find_binary()  # fail fast, in one line, when there is no server to start
    folder = Path(notebooks_dir) if notebooks_dir else default_notebooks_dir()
    chosen = story_notebooks(folder)
    if only:
        unknown = [name for name in only if not any(p.stem == name or p.stem.startswith(name) for p in chosen)]
        if unknown:
            choices = ", ".join(p.stem for p in chosen)
            raise UsageError(f"--only {', '.join(unknown)}: no such notebook; choose from {choices}")
        chosen = [p for p in chosen if any(p.stem == name or p.stem.startswith(name) for name in only)]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    staging = out / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    mode = "quick" if quick else "full"
    ran: list[Ran] = []
    for notebook in chosen:
        executed = staging / notebook.name
        before = time.monotonic()
        try:
            execute(notebook, executed, parameters_for(notebook.stem, (staging / notebook.stem).resolve(), quick=quick),
                    quiet=quiet)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001  (any failure becomes one line naming notebook and cell)
            raise NotebookFailed(describe_failure(notebook.stem, error, executed)) from None
        to_html(executed)
        ran.append(stamp_summary(staging / notebook.stem, seconds=time.monotonic() - before, mode=mode))
    kept = [previous for p in story_notebooks(folder) if p not in chosen
            for previous in [read_ran(out / p.stem)] if previous is not None]
    (staging / INDEX).write_text(index_markdown(sorted(ran + kept, key=lambda r: r.stem)))
    publish(staging, out, [r.stem for r in ran])
    return out / INDEX


def stamp_summary(folder: Path, *, seconds: float, mode: str) -> Ran:
    """Add how the report ran the notebook (wall time, quick or full) to its ``summary.json``."""
    path = folder / "summary.json"
    summary = json.loads(path.read_text()) if path.is_file() else {}
    summary["report"] = {"seconds": round(seconds, 1), "mode": mode}
    if path.is_file():
        path.write_text(json.dumps(summary, indent=2) + "\n")
    return Ran(stem=folder.name, seconds=seconds, summary=summary)


def read_ran(folder: Path) -> Ran | None:
    """A notebook an earlier report ran (``--only`` left it alone): it stays in the index."""
    path = folder / "summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    return Ran(stem=folder.name, seconds=float(summary.get("report", {}).get("seconds", 0.0)), summary=summary)


def publish(staging: Path, out: Path, stems: list[str]) -> None:
    """Replace what the report owns in ``out`` with the staged copies; leave everything else alone."""
    for path in owned_paths(out, stems):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for path in owned_paths(staging, stems):
        if path.exists():
            path.rename(out / path.name)
    shutil.rmtree(staging)


# ---- the index ---------------------------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def headline_markdown(ran: list[Ran]) -> str:
    """The headline notebook's table, with the workload it ran, as Markdown."""
    import pandas as pd

    from .plots import markdown_table

    for r in ran:
        if r.stem == HEADLINE_NOTEBOOK and r.summary.get("headline"):
            s = r.summary
            workload = (f"{s.get('users', 0):,} fans all due at once, a {s.get('hold_ms', 0):g} ms race window, seed "
                        f"{s.get('seed', 0)}; the venue has {s.get('venue_seats', 0):,} seats (Zipf choice).")
            return workload + "\n\n" + markdown_table(pd.DataFrame(s["headline"]))
    return "_(the headline notebook did not run)_"


def index_markdown(ran: list[Ran]) -> str:
    """``results/README.md``: how it was made, the headline table, and one section per notebook."""
    modes = {r.summary.get("report", {}).get("mode", "full") for r in ran}
    quick = "quick" in modes
    mode = {"full": "full (10,000 fans)", "quick": "quick (small sizes, for CI)"}.get(
        modes.pop() if len(modes) == 1 else "", "mixed (some notebooks quick, some full)")
    total_s = sum(r.seconds for r in ran)
    watermark = next((r.summary.get("watermark") for r in ran if r.summary.get("watermark")), {}) or {}
    servers = sorted({f"{s['binary']} {s['version']}" for s in watermark.get("servers", [])})
    lines = [
        "# simlib results",
        "",
        "Regenerated by `make report` (`simlib report`); do not edit by hand: the next run replaces this file, the",
        "notebook folders and their `.ipynb` / `.html` copies, and nothing else in `results/`.",
        "",
        f"- mode: **{mode}**; notebooks took **{_duration(total_s)}** in all ({len(ran)} notebooks, executed one "
        "after another; add about 10 s per notebook for HTML and start-up)",
        f"- machine: {watermark.get('platform', '?')}, {watermark.get('cpus', '?')} CPUs, Python "
        f"{watermark.get('python', '?')}; simlib {watermark.get('simlib', '?')}, "
        f"redis-py {watermark.get('redis_py', '?')}; "
        f"servers: {', '.join(servers) or '?'}",
        f"- finished: {max((r.summary.get('finished_at', '') for r in ran), default='?')}",
        "",
        "## Headline: every strategy, the same 10,000-fan workload" if not quick else "## Headline (quick sizes)",
        "",
    ]
    if any(r.stem == HEADLINE_NOTEBOOK for r in ran):
        lines += [f"![{name}]({HEADLINE_NOTEBOOK}/{name})" for name in HEADLINE_FIGURES] + [""]
    lines += [headline_markdown(ran), "",
              "`audit` is the verdict from the attempts and the server's final state; p50/p99 are service times "
              "(first command to answer); response p99 counts from the fan's scheduled arrival.", ""]
    lines += ["## Notebooks", "", "| notebook | checks | time | executed | figures |", "|---|---|---|---|---|"]
    for r in ran:
        checks = r.summary.get("checks", {})
        passed = sum(1 for ok in checks.values() if ok)
        figures = " · ".join(f"[{Path(f).stem}]({r.stem}/{f})" for f in r.summary.get("figures", []))
        lines.append(f"| **{r.stem}** | {passed}/{len(checks)} passed | {_duration(r.seconds)} | "
                     f"[html]({r.stem}.html) · [ipynb]({r.stem}.ipynb) | {figures} |")
    lines.append("")
    for r in ran:
        lines += [f"### {r.stem}", ""]
        lines += [f"- {'✓' if ok else '✗'} {name}" for name, ok in r.summary.get("checks", {}).items()]
        tables = r.summary.get("tables", [])
        if tables:
            lines.append("- tables: " + " · ".join(f"[{t}]({r.stem}/{t})" for t in tables))
        lines.append("")
    return "\n".join(lines)


def cmd_report(args) -> int:
    """The ``simlib report`` subcommand."""
    index = run_report(out=args.out, quick=args.quick, notebooks_dir=args.notebooks, only=args.only, quiet=args.quiet)
    print(f"simlib report: wrote {index}")
    return 0


def add_parser(sub) -> None:
    """Register ``simlib report`` on the CLI's subparsers."""
    report = sub.add_parser(
        "report", help="execute every notebook into results/ (executed .ipynb, HTML, PNG, README.md index)",
        description="Run each notebook in notebooks/ top to bottom with papermill (each starts its own servers), "
        "render HTML with the figures, and write results/README.md with the headline table. A full run "
        "uses the real sizes (10,000 fans); --quick uses small ones.",
    )
    report.add_argument("--quick", action="store_true", help="small sizes (seconds, for CI) instead of 10,000 fans")
    report.add_argument("--out", default="results", metavar="DIR", help="where the report goes [results]")
    report.add_argument("--notebooks", metavar="DIR", help="the notebooks folder [notebooks/ of this checkout]")
    report.add_argument("--only", action="append", metavar="NAME", help="run only this notebook (e.g. 02); repeat")
    report.add_argument("--quiet", action="store_true", help="no progress bars")
    report.set_defaults(func=cmd_report)
