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

# The whole product on the built-in synthetic set: data -> the recommended edge model (MobileFaceNet-112)
# -> every format in FP32, FP16 and INT8, verified -> evaluation of the checkpoint and its artifacts ->
# benchmarks -> the results tables. About 15 minutes on 2 CPU cores; everything lands in $(DEMO_DIR)/.
DEMO_EPOCHS ?= 10
demo: setup
	@set -e; d=$(DEMO_DIR); bin=$(VENV)/bin; \
	$$bin/petface-synth --out $$d/data --identities 300 --images-per-identity 6 --size 112 --seed 0 --overwrite; \
	$(PY) -m petface_edge.models.summary; \
	$$bin/petface-train --data-dir $$d/data --output-dir $$d/train --backbone mobilefacenet --image-size 112 \
		--epochs $(DEMO_EPOCHS) --batch-size 64 --lr 2e-3 --overwrite; \
	$$bin/petface-export --checkpoint $$d/train/pet_embedder.pt --output-dir $$d/export --fp16 --int8 \
		--data-dir $$d/data --splits $$d/train/splits.json \
		|| echo "petface-export: some artifacts missed their gate; they stay out of the ship list (see $$d/export/report.md)"; \
	models=""; for spec in pytorch-fp32:train/pet_embedder.pt onnx-fp32:export/pet_embedder_fp32.onnx \
			tflite-fp32:export/pet_embedder_fp32.tflite onnx-int8:export/pet_embedder_int8.onnx \
			tflite-int8:export/pet_embedder_int8.tflite torchscript-int8:export/pet_embedder_int8.ptl; do \
		name=$${spec%%:*}; m=$${spec#*:}; \
		$$bin/petface-eval --model $$d/$$m --data-dir $$d/data --splits $$d/train/splits.json \
			--output-dir $$d/eval/$$name --no-progress > $$d/eval-$$name.log; \
		models="$$models $$name:$$d/eval/$$name"; \
	done; \
	$$bin/petface-compare --models $$models --output $$d/eval/compare.md; \
	$(PY) -m benchmarks.openset_acceptance $$d/export --work $$d/openset --json $$d/openset/results.json \
		> $$d/openset.md || echo "openset_acceptance: a gallery size missed FPIR <= 2 x target (see $$d/openset.md)"; \
	$(PY) -m pytest benchmarks -q -p no:cacheprovider --export-dir $$d/export --bench-mode quick \
		--bench-table $$d/benchmarks.md > $$d/benchmarks.log || { tail -n 30 $$d/benchmarks.log; exit 1; }; \
	echo; echo "==== benchmarks ($$d/benchmarks.md) ===="; cat $$d/benchmarks.md; \
	echo; echo "==== evaluation on the test split ($$d/eval/compare.md) ===="; cat $$d/eval/compare.md; \
	echo; echo "==== open-set identify, default policy, fresh synthetic pets ($$d/openset.md) ===="; cat $$d/openset.md; \
	echo; echo "==== export ($$d/export/report.md) ===="; cat $$d/export/report.md

# One pipeline (synthetic data -> tiny trained model -> every export -> golden files) feeds pytest,
# the benchmark smoke run, the Kotlin core tests and the Swift package tests. The Swift chroot and the
# isolated MediaPipe venv (tests/mediapipe_env.py) are built in the background meanwhile, once, and
# cached under .tools/ (they are mostly download and unpack, the pipeline is CPU).
test: setup
	@mkdir -p build
	rm -rf $(PIPELINE)
	@set -e; \
	bash ios_demo/run_swift_tests.sh --setup > build/swift-setup.log 2>&1 & swift_setup=$$!; \
	$(PY) -m tests.mediapipe_env > build/mediapipe-setup.log 2>&1 & mediapipe_setup=$$!; \
	$(PY) -m tests.pipeline $(PIPELINE); \
	wait $$mediapipe_setup || { cat build/mediapipe-setup.log; exit 1; }; \
	PETFACE_PIPELINE_DIR=$(PIPELINE) $(PY) -m pytest tests; \
	$(PY) -m pytest benchmarks --benchmark-disable --bench-mode quick --export-dir $(PIPELINE)/export -q; \
	bash android_demo/run_core_tests.sh $(PIPELINE)/golden; \
	wait $$swift_setup || { cat build/swift-setup.log; exit 1; }; \
	bash ios_demo/run_swift_tests.sh $(PIPELINE)/golden

bench: setup
	$(PY) -m pytest benchmarks

clean:
	rm -rf $(VENV) build $(DEMO_DIR)
