# Every target builds what it needs; the first run creates .venv (irtool + the test extra).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache
export PYTHONDONTWRITEBYTECODE := 1

SAMPLE ?= samples/digits_cnn.xml
OUT := out

.PHONY: test demo bench fuzz samples conformance models clean

# numba's cache of irtool's kernels is keyed by the contents of the kernel's own file and of the helpers
# kernels in other files inline (kernels/_*.py; irtool/runtime/jit_cache.py), so a helper edit no longer
# leaves stale machine code behind (it once segfaulted); emptying the caches on such an edit, or a fresh
# checkout, stays as a second guard (and clears caches older than that keying)
.numba_helpers: $(wildcard irtool/runtime/kernels/_*.py)
	rm -rf .numba_cache bench-out/*/numba_cache
	touch $@

$(BIN)/irtool: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

test: $(BIN)/irtool .numba_helpers
	$(BIN)/python -m pytest -q

# The main job on the shipped digits CNN (trained on scikit-learn's digits): quantize with irtool,
# check the INT8 IR, run FP32 and INT8 on the validation set (top-1) with per-layer counters.
demo: $(BIN)/irtool .numba_helpers
	@mkdir -p $(OUT)
	$(BIN)/irtool info $(SAMPLE)
	$(BIN)/irtool quantize $(SAMPLE) --data $(SAMPLE:.xml=_calib.npz) -o $(OUT)/digits_cnn_int8.xml
	$(BIN)/irtool validate $(OUT)/digits_cnn_int8.xml
	$(BIN)/irtool info $(OUT)/digits_cnn_int8.xml
	$(BIN)/irtool run $(SAMPLE) -i $(SAMPLE:.xml=_val.npz) -o $(OUT)/fp32_outputs.npz
	$(BIN)/irtool run $(OUT)/digits_cnn_int8.xml -i $(SAMPLE:.xml=_val.npz) -o $(OUT)/int8_outputs.npz --perf-counters --sort
	$(BIN)/irtool benchmark $(SAMPLE) -t 2
	$(BIN)/irtool benchmark $(OUT)/digits_cnn_int8.xml -t 2
	# FP32 vs INT8 side by side: accuracy, latency, size, and the error each layer introduces
	$(BIN)/irtool compare $(SAMPLE) $(OUT)/digits_cnn_int8.xml --val $(SAMPLE:.xml=_val.npz) --html $(OUT)/compare.html
	# accuracy-aware on a model made fragile on purpose: Default loses ~15 points, the search gets them back
	$(BIN)/irtool quantize samples/digits_cnn_fragile.xml --data samples/digits_cnn_calib.npz \
		--method accuracy-aware --val samples/digits_cnn_val.npz --max-drop 0.01 -o $(OUT)/digits_cnn_fragile_int8.xml

# Runs the op-by-op conformance cases against OpenVINO and records each outcome in
# schemas/conformance.json, the table `irtool ops` prints (commit it with the cases)
conformance: $(BIN)/irtool .numba_helpers
	IRTOOL_RECORD_CONFORMANCE=1 $(BIN)/python -m pytest -q tests/conformance
	$(BIN)/python tools/readme_coverage.py  # the README quotes the summary line

# Real pretrained models not made here (PP-OCR det/rec/cls from the rapidocr-onnxruntime wheel),
# converted with OpenVINO into $$IRTOOL_MODEL_CACHE (~/.cache/irtool/models): tests/test_real_models.py
models: $(BIN)/irtool
	$(BIN)/python tools/fetch_models.py

bench: $(BIN)/irtool .numba_helpers
	$(BIN)/python benchmarks/run.py

# Mutation fuzzing of read/validate/compile/infer/quantize/CLI over the samples (tools/fuzz.py): counts
# per outcome, a reproducer in fuzz-out/ for every escape; exit 1 if any. Not part of `make test`
# (tests/test_fuzz.py runs a seeded slice of it).
FUZZ_N ?= 20000
FUZZ_SEED ?= 1
FUZZ_WORKERS ?= 2
fuzz: $(BIN)/irtool .numba_helpers
	$(BIN)/python tools/fuzz.py --n $(FUZZ_N) --seed $(FUZZ_SEED) --workers $(FUZZ_WORKERS) --out fuzz-out

# Regenerates samples/ (trains the models; needs torch, installed here only). The detector first, so
# that make_samples.py's file tables in samples/README.md see its files.
samples: $(BIN)/irtool
	$(BIN)/python -m pip install -q torch==2.13.0 scikit-learn
	$(BIN)/python samples/make_detection.py
	$(BIN)/python samples/make_samples.py
	$(BIN)/python samples/make_fragile.py  # from the digits CNN just trained

clean:
	rm -rf $(OUT) .numba_cache .numba_helpers .pytest_cache fuzz-out
