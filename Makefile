# Two commands on a fresh machine: `make demo` and `make test`. Everything else is set up on demand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output

.PHONY: setup demo test bench clean

# The venv is rebuilt whenever the dependency files change (the stamp is older than them).
$(STAMP): pyproject.toml constraints.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[all]"
	touch $@

setup: $(STAMP)

demo: setup
	$(VENV)/bin/petface-synth --out $(DEMO_DIR)/data --identities 300 --images-per-identity 6 --size 112 --seed 0 --overwrite
	$(PY) -m petface_edge.models.summary

test: setup
	$(PY) -m pytest tests

bench: setup
	$(PY) -m pytest benchmarks

clean:
	rm -rf $(VENV) build $(DEMO_DIR)
