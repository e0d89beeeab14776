# Two commands: `make demo` (set up; a simulated cluster with an incident, serve and the board) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo lint test bench clean

setup: $(VENV)/.installed

# The tests' setup: everything, with the test and lint tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.demo

# The demo's: only what serve, the board and the report need (no browser driver, no test tools).
$(VENV)/.demo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

demo: $(VENV)/.demo
	$(BIN)/podslo demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Two workers (pytest-xdist), each taking whole test files: a file's module fixtures (a serve, a
# board) start once, and the waits of one file's services overlap the other's work.
test: lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: setup
	$(BIN)/podslo bench verdicts --pods 100000

clean:
	rm -rf $(VENV) data build *.egg-info
