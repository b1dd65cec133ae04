# Two commands on a fresh machine: `make demo` and `make test`. Everything else is set up on demand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_output
PIPELINE := build/test-pipeline

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

# One pipeline (synthetic data -> tiny trained model -> every export -> golden files) feeds pytest,
# the benchmark smoke run, the Kotlin core tests and the Swift package tests. The Swift chroot is
# built in the background meanwhile (it is mostly download and unpack, the pipeline is CPU).
test: setup
	@mkdir -p build
	rm -rf $(PIPELINE)
	@set -e; \
	bash ios_demo/run_swift_tests.sh --setup > build/swift-setup.log 2>&1 & swift_setup=$$!; \
	$(PY) -m tests.pipeline $(PIPELINE); \
	PETFACE_PIPELINE_DIR=$(PIPELINE) $(PY) -m pytest tests; \
	$(PY) -m pytest benchmarks --benchmark-disable --bench-mode quick --export-dir $(PIPELINE)/export -q; \
	bash android_demo/run_core_tests.sh $(PIPELINE)/golden; \
	wait $$swift_setup || { cat build/swift-setup.log; exit 1; }; \
	bash ios_demo/run_swift_tests.sh $(PIPELINE)/golden

bench: setup
	$(PY) -m pytest benchmarks

clean:
	rm -rf $(VENV) build $(DEMO_DIR)
