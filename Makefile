# churnltv developer commands. Everything installs into ./.venv from pyproject.toml,
# constrained by requirements.lock so every machine gets the same versions.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint typecheck bench lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,spark]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install churnltv with its pinned dependencies

demo: $(STAMP)  ## run the whole main job on a generated demo base (embedded defaults)
	$(BIN)/churnltv demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck  ## lint, type-check and run the full test suite
	$(BIN)/python -m pytest

test-fast: $(STAMP)  ## the suite without tests marked slow
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)  ## run the benchmarks (prints wall time, peak RSS and ratios vs baselines)
	$(BIN)/python -m benchmarks

lock:  ## refresh requirements.lock from the current .venv
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v -e '^churnltv' -e '^pip==' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
