# Every target bootstraps what it needs (Debian packages, .venv) through scripts/bootstrap.sh.
VENV := .venv
PY := $(VENV)/bin/python
BOOTSTRAP := scripts/bootstrap.sh

.PHONY: demo serve test lint bench bootstrap bootstrap-test clean

bootstrap:
	@bash $(BOOTSTRAP)

# make test also installs the test-only packages (the customers' signing tools of tests/interop)
bootstrap-test:
	@bash $(BOOTSTRAP) --test

demo: bootstrap
	$(VENV)/bin/dpa demo

# The web application on embedded defaults: development PKI (output/dev-pki), embedded TSA, register under output/;
# prints the URL and a one-time password for the user admin. Never for production (see README).
serve: bootstrap
	$(VENV)/bin/dpa serve --dev

# ruff (with C901 and T20), formatting, mypy --strict, DESIGN §2's import contracts (pyproject.toml
# [tool.importlinter]) and the 500-line limit for modules under dpa/.
lint: bootstrap
	$(VENV)/bin/ruff check dpa tests bench scripts
	$(VENV)/bin/ruff format --check dpa tests bench scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) scripts/check_module_size.py

# The suite in TEST_JOBS pytest-xdist workers (the machines have 2 cores). --dist loadfile keeps each test file on
# one worker: a file's module fixtures (signed agreements, PKIs, time-travel TSAs) are built once, and nothing real
# is shared between workers (each has its own LibreOffice, `dpa tsa serve`, SoftHSM2 tokens and temporary folders).
TEST_JOBS ?= 2
test: bootstrap-test lint
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

bench: bootstrap
	$(PY) bench/convert.py
	$(PY) bench/sign.py
	$(PY) bench/verify.py
	$(PY) bench/batch.py 100
	$(PY) bench/limits.py

clean:
	rm -rf output/* .pytest_cache .mypy_cache .ruff_cache
