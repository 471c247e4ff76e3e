# The two README commands: `make demo` (the main job) and `make test`.
# Each one does all of its own set-up on a fresh machine (scripts/setup_env.sh is
# idempotent: seconds when nothing changed).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export SIM2ART_VENV := $(abspath $(VENV))

.PHONY: env test lint demo clean-env

env:
	bash scripts/setup_env.sh

lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: env
	bash scripts/run_tests.sh

demo: env
	bash scripts/run_demo.sh

clean-env:
	rm -rf $(VENV)
