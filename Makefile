# metalstream developer entry points. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: help install lint typecheck imports kube unit test run bench docs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## create .venv and install metalstream with its dev tools

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict over code, tests and benchmarks
	$(BIN)/mypy

imports: $(STAMP) ## import-linter layer contracts
	$(BIN)/lint-imports

kube: $(STAMP) ## build kube-apiserver and etcd from Go modules into ~/.cache/metalstream/kube (once)
	$(BIN)/python -m metalstream.devstack.kube_build

unit: $(STAMP) kube ## pytest only
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pytest

test: lint typecheck imports unit ## everything CI runs

run: $(STAMP) ## start every component and the control plane, provision 8 emulated hosts (ARGS=--hosts 3 ...)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/metalstream dev $(ARGS)

bench: $(STAMP) ## event-store benchmark (prints ratios against raw nats-py)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m bench.eventstore

docs: $(STAMP) ## regenerate generated docs (settings reference, event schemas and tables)
	$(BIN)/python -c "from metalstream import settings; print(settings.reference())" > docs/settings.md
	$(BIN)/python -m metalstream.eventdocs

clean: ## remove the virtualenv and local state
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
