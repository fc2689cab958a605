# channelopt — set-up commands work on a fresh machine with nothing installed by hand.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
OUT    := out/demo

.PHONY: demo test bench samples clean help

help:
	@echo "make demo   - create .venv, install, fit + rank on data/samples/, write $(OUT)/decisions.parquet"
	@echo "make test   - create .venv, install with the dev extra, run the whole suite"
	@echo "make bench  - run every benchmark in benchmarks/"
	@echo "make samples - regenerate data/samples/ with the simulator"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev,plot]"
	@touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(PY) -m channelopt.apps.demo --samples data/samples --out $(OUT)

test: $(STAMP_DEV)
	$(PY) -m pytest

bench: $(STAMP_DEV)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

samples: $(STAMP_RUN)
	$(PY) scripts/make_samples.py --out data/samples

clean:
	rm -rf $(VENV) out .pytest_cache
