# The two newcomer commands bootstrap .venv themselves: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
KZG_PARAMS := assets/kzgrs_test_params/kzgrs_test_params
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

run: $(STAMP) $(KZG_PARAMS)
	$(BIN)/nomos-testing run scenarios/smoke.toml

test: $(STAMP) $(KZG_PARAMS)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	-$(BIN)/nomos-testing clean
	rm -rf .runs
