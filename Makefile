# Ladder: `make run` serves the demo, `make test` runs lint, type checks and the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run lint format test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Ladder needs Python 3.11; set PYTHON=/path/to/python3.11")'
	@echo "Installing Ladder and its dependencies into $(VENV) (a few minutes the first time)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar on -e '.[dev]' | grep --line-buffered -E '^(Collecting|Successfully installed)' | sed -u 's/^Collecting /  fetching /'; test $${PIPESTATUS[0]} -eq 0
	@touch $@

# The demo runs with DEBUG on, SQLite under var/ and tasks in-process unless the environment says otherwise. Links in
# e-mails and webhooks point at the address it serves on unless PUBLIC_BASE_URL says otherwise.
run: export DEBUG := $(or $(DEBUG),true)
run: export PUBLIC_BASE_URL := $(or $(PUBLIC_BASE_URL),http://$(HOST):$(PORT))
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_seed
	@echo "Ladder is serving on http://$(HOST):$(PORT)/admin/ (Ctrl-C stops it)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	DATABASE_URL=sqlite://:memory: DJANGO_SETTINGS_MODULE=config.test_settings $(BIN)/python manage.py makemigrations --check --dry-run

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var staticfiles .mypy_cache .ruff_cache
