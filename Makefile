# tamis: `make demo` runs the example mix on embedded Spark; `make test` runs the test suite.
VENV := .venv
STAMP := $(VENV)/.tamis-installed

.PHONY: setup demo test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py scripts/setup.sh engine/native/_fastextract.pyx $(wildcard engine/native/*.pxi)
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/python mixes/sample/prepare.py
	$(VENV)/bin/tamis validate mixes/demo.yaml
	$(VENV)/bin/tamis run mixes/demo.yaml --overwrite

# the trainers' own readers for `tamis export`'s tests (torch's CPU build, megatron-core), after setup so the
# fastText build setup chose stays
TRAINERS_STAMP := $(VENV)/.tamis-trainers-installed

$(TRAINERS_STAMP): $(STAMP) pyproject.toml
	$(VENV)/bin/pip install -q -e '.[trainers]'
	touch $(TRAINERS_STAMP)

test: setup $(TRAINERS_STAMP)
	bash scripts/install_browser.sh
	$(VENV)/bin/python -m pytest -q -ra

test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not spark and not slow"

BENCH_STAMP := $(VENV)/.tamis-bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(VENV)/bin/pip install -q -e '.[bench]'
	touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP)
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf out .pytest_cache
