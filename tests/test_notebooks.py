"""The story notebooks: committed without outputs, executed headless at small sizes against real servers (through
``simlib report --quick``, end to end, as a user runs it), each one's summary checked, and the report's promises:
it owns only what it writes, a rerun replaces it, a failing notebook is named in one line."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from simlib.notebook_report import QUICK_PARAMETERS, index_markdown, owned_paths, Ran

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STEMS = [p.stem for p in NOTEBOOKS]
REPORT_TIMEOUT_S = 900


def test_the_five_stories_are_there():
    assert STEMS == ["01_the_race", "02_burst_10k", "03_contention_sweep", "04_reproduce_the_seed", "05_when_locks_lie"]
    assert set(QUICK_PARAMETERS) == set(STEMS), "every notebook needs quick sizes for CI"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=STEMS)
def test_committed_notebooks_are_clean_stories(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; clear them before committing"
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "What you will learn" in nb.cells[0].source
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "seed" in tagged[0].source and "out_dir" in tagged[0].source
    inferred = papermill.inspect_notebook(str(path))  # what papermill sees: a comment it cannot parse hides a name
    assert "out_dir" in inferred and "seed" in inferred
    missing = set(QUICK_PARAMETERS[path.stem]) - set(inferred)
    assert not missing, f"quick parameters {missing} are not in the parameters cell"
    last = nb.cells[-1]
    assert last.cell_type == "code" and "watermark(" in last.source
    opens_a_lab = any("Lab(" in c.source for c in nb.cells if c.cell_type == "code")
    assert opens_a_lab == ("lab.close()" in last.source), "a notebook that starts a Lab stops it in its last cell"
    assert any("assert not failed" in c.source for c in nb.cells if c.cell_type == "code")


def report(*args: str, quiet: bool = True) -> subprocess.CompletedProcess:
    quiet_flag = ["--quiet"] if quiet else []
    return subprocess.run([sys.executable, "-m", "simlib", "report", *quiet_flag, *args], capture_output=True,
                          text=True, timeout=REPORT_TIMEOUT_S, cwd=ROOT)


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """``simlib report --quick`` into a fresh folder that already holds a file the report does not own."""
    out = tmp_path_factory.mktemp("report") / "results"
    out.mkdir()
    (out / "benchmarks.md").write_text("written by another command\n")
    done = report("--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"wrote {out / 'README.md'}" in done.stdout
    return out


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.integration
@pytest.mark.parametrize("stem", STEMS)
def test_each_notebook_runs_headless_and_passes_its_checks(quick_results, stem):
    summary = json.loads((quick_results / stem / "summary.json").read_text())
    assert summary["notebook"] == stem
    assert summary["checks"] and summary["all_checks_passed"], summary["checks"]
    for figure in summary["figures"]:
        assert (quick_results / stem / figure).read_bytes()[:4] == b"\x89PNG"
    executed = nbformat.read(quick_results / f"{stem}.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= len(summary["figures"]), "every saved figure is also shown in the executed notebook"
    html = (quick_results / f"{stem}.html").read_text()
    assert html.count("data:image/png;base64") >= len(summary["figures"])
    assert summary["watermark"]["servers"] and summary["watermark"]["redis_py"]


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.integration
def test_the_index_links_everything_and_shows_the_headline(quick_results):
    index = (quick_results / "README.md").read_text()
    assert "quick" in index and "| strategy | workload | audit |" in index
    assert "| naive | 500 fans → 1 seat | INVALID |" in index
    for stem in STEMS:
        assert f"[html]({stem}.html)" in index and f"[ipynb]({stem}.ipynb)" in index
    assert (quick_results / "benchmarks.md").read_text() == "written by another command\n"
    assert not (quick_results / ".report-staging").exists()


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.integration
def test_a_rerun_replaces_what_it_owns_and_nothing_else(quick_results):
    stale = quick_results / "04_reproduce_the_seed" / "stale.png"
    stale.write_bytes(b"old")
    done = report("--quick", "--only", "04", "--out", str(quick_results))
    assert done.returncode == 0, done.stderr[-2000:]
    assert not stale.exists()
    assert (quick_results / "04_reproduce_the_seed" / "summary.json").is_file()
    assert (quick_results / "benchmarks.md").is_file()
    assert (quick_results / "01_the_race" / "summary.json").is_file(), "notebooks not rerun are left as they were"
    index = (quick_results / "README.md").read_text()
    assert all(f"[html]({stem}.html)" in index for stem in STEMS), "the index still lists the notebooks not rerun"


@pytest.mark.notebooks
@pytest.mark.integration
def test_a_failing_notebook_is_named_in_one_line(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# broken"),
        nbformat.v4.new_code_cell("out_dir = '.'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from simlib.story import Story\nbar = Story(out_dir).progress('burst', 2)\nbar(2)"),
        nbformat.v4.new_code_cell("seats = 1\nseats / 0"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "01_broken.ipynb")
    out = tmp_path / "results"
    out.mkdir()
    (out / "README.md").write_text("the previous report\n")
    done = report("--notebooks", str(folder), "--out", str(out), quiet=False)  # progress relayed, then the failure
    assert done.returncode == 1
    assert "  burst:" in done.stderr, "the per-burst bar is relayed from the kernel"
    lines = [line for line in done.stderr.splitlines() if line.startswith("simlib:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "01_broken.ipynb" in lines[0] and "cell In [" in lines[0] and "ZeroDivisionError" in lines[0]
    assert (out / "README.md").read_text() == "the previous report\n", "a failed run leaves the last report alone"
    assert (out / ".report-staging" / "01_broken.ipynb").is_file()


def test_owned_paths_are_the_index_and_each_notebooks_outputs(tmp_path):
    paths = {p.name for p in owned_paths(tmp_path, ["01_x"])}
    assert paths == {"README.md", "01_x", "01_x.ipynb", "01_x.html"}


def test_the_index_reports_failed_checks_and_times():
    ran = [Ran(stem="01_x", seconds=75.2, summary={"checks": {"a": True, "b": False}, "figures": ["f.png"],
                                                    "report": {"mode": "full", "seconds": 75.2}})]
    text = index_markdown(ran)
    assert "full (10,000 fans)" in text and "1 min 15 s" in text
    assert "| **01_x** | 1/2 passed |" in text and "- ✗ b" in text and "[f](01_x/f.png)" in text
