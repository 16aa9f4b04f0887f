# The two commands of the README: `make run` and `make test`. Everything else is their plumbing.
SHELL := /bin/bash
UV_VERSION := 0.13.8

# uv from PATH, or a private copy installed from PyPI on first use (a fresh machine has pip only).
ifeq ($(shell command -v uv 2>/dev/null),)
UV := .tools/bin/uv
UV_DEP := .tools/bin/uv
else
UV := uv
UV_DEP :=
endif

# The second test pass runs on PostgreSQL + Redis (a fresh database is created per run).
PG_TEST_URL ?= $(or $(TEST_DATABASE_URL),$(DATABASE_URL),postgresql://127.0.0.1:5432/test)
PG_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/0)
PYTEST_ARGS ?=

.PHONY: run test lint typecheck test-embedded test-postgres worker clean

run: .venv/.synced  ## start the service: migrations, API and in-process worker on :3000
	$(UV) run --frozen --no-sync opside-hub serve --migrate

test: lint typecheck test-embedded test-postgres  ## lint, type check, the suite on both backends

lint: .venv/.synced
	$(UV) run --frozen --no-sync ruff format --check .
	$(UV) run --frozen --no-sync ruff check .

typecheck: .venv/.synced
	$(UV) run --frozen --no-sync mypy

test-embedded: .venv/.synced  ## SQLite + embedded Redis (the embedded default)
	env -u DATABASE_URL -u TEST_DATABASE_URL -u REDIS_URL \
		$(UV) run --frozen --no-sync pytest $(PYTEST_ARGS)

test-postgres: .venv/.synced  ## PostgreSQL + Redis
	TEST_DATABASE_URL=$(PG_TEST_URL) REDIS_URL=$(PG_REDIS_URL) \
		$(UV) run --frozen --no-sync pytest $(PYTEST_ARGS)

worker: .venv/.synced  ## a separate worker process (production shape)
	$(UV) run --frozen --no-sync opside-hub worker

.venv/.synced: pyproject.toml uv.lock $(UV_DEP)
	$(UV) sync --frozen
	@touch $@

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

clean:
	rm -rf .venv .tools .mypy_cache .ruff_cache .pytest_cache
