# Every target builds what it needs; the first run creates .venv (irtool + the test extra).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache
export PYTHONDONTWRITEBYTECODE := 1

SAMPLE ?= samples/digits_cnn.xml
OUT := out

.PHONY: test demo bench samples clean

$(BIN)/irtool: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

test: $(BIN)/irtool
	$(BIN)/python -m pytest -q

demo: $(BIN)/irtool
	@mkdir -p $(OUT)
	$(BIN)/irtool info $(SAMPLE)
	$(BIN)/irtool validate $(SAMPLE)
	$(BIN)/irtool copy $(SAMPLE) -o $(OUT)/roundtrip.xml
	cmp $(SAMPLE) $(OUT)/roundtrip.xml && cmp $(SAMPLE:.xml=.bin) $(OUT)/roundtrip.bin && \
		echo "round trip: .xml and .bin are byte-identical to the original"

bench: $(BIN)/irtool
	$(BIN)/python benchmarks/run.py

# Regenerates samples/ (trains the models; needs torch, installed here only).
samples: $(BIN)/irtool
	$(BIN)/python -m pip install -q torch==2.13.0 scikit-learn
	$(BIN)/python samples/make_samples.py

clean:
	rm -rf $(OUT) .numba_cache .pytest_cache
