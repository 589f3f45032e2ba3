# Thin on purpose: each target is a one-liner into Python. The venv is made and filled on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: report test bench lab clean-venv

report: $(STAMP)  ## the main job: run every notebook at 10,000 fans into results/ (QUICK=1 for small sizes)
	$(PY) -m simlib report $(if $(QUICK),--quick)

test: $(STAMP)  ## the whole test suite, against real servers simlib starts
	$(PY) -m pytest

bench: $(STAMP)  ## redis-benchmark and simlib side by side; writes results/benchmarks.md
	$(PY) benchmarks/bench.py

lab: $(STAMP)  ## JupyterLab on notebooks/ (each notebook starts and stops its own servers)
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,notebooks,test]'
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
