# Everyday commands. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
GUAJIE := $(VENV)/bin/guajie
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test test-fast lint format typecheck services trino bench bench-crawl bench-lineage bench-serve docs venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@test -x $(PY) || uv venv --quiet --python $(PYTHON) $(VENV)
	uv pip install --quiet --python $(PY) -e '.[test,trino]'
	@rm -f $(VENV)/.installed-* && touch $@

demo: venv ## generate the sample city, register and crawl it, print the catalog
	@bash scripts/demo.sh

test: venv ## install servers if missing, run the whole suite
	@bash scripts/install-system-deps.sh
	$(PY) scripts/trino.py fetch
	$(PY) -m pytest -q

test-fast: venv ## the suite without the server-backed tests
	$(PY) -m pytest -q -m "not servers"

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: venv
	$(VENV)/bin/mypy catalog guajie federation lineage

services: venv ## start PostgreSQL, MariaDB and S3 on loopback for manual work
	@bash scripts/install-system-deps.sh
	$(PY) scripts/services.py

trino: venv ## fetch Trino 476 once (~/.cache/guajie) and run one node on loopback until Ctrl-C
	$(PY) scripts/trino.py start

bench: venv ## TPC-H SF 1 over PostgreSQL, MariaDB, SQLite and Parquet: guajie vs DuckDB 1.5 scanners vs copy-then-query vs Trino (BENCH_ARGS="--quick" or "--shaped")
	@bash scripts/install-system-deps.sh
	$(PY) benchmarks/tpch_federation.py $(BENCH_ARGS)

bench-crawl: venv ## time crawling the large sample city and a 1,000-table PostgreSQL schema
	@bash scripts/install-system-deps.sh
	$(PY) benchmarks/crawl_city.py
	$(PY) benchmarks/crawl_pg_1000.py

docs: venv ## regenerate docs/cli.md from --help
	$(PY) scripts/cli_docs.py

bench-lineage: venv ## impact and usage at 100,000 runs and 10,000 datasets
	$(PY) benchmarks/lineage_scale.py

bench-serve: venv ## guajie serve under 50 concurrent clients of three scenarios for 30 s
	$(PY) benchmarks/serve_load.py

clean:
	rm -rf .demo .pytest_cache
