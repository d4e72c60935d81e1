# Two commands set everything up on a fresh machine: `make run` and `make test`.
UV ?= $(shell command -v uv 2>/dev/null || echo .venv-bootstrap/bin/uv)
export UV_PYTHON ?= python3

.PHONY: run test lint importlint typecheck check up clean

$(UV):
	python3 -m venv .venv-bootstrap
	.venv-bootstrap/bin/pip install --quiet uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

run: .venv/.synced
	.venv/bin/optiinfra run

up: .venv/.synced
	.venv/bin/optiinfra up

test: .venv/.synced
	.venv/bin/pytest

lint: .venv/.synced
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

importlint: .venv/.synced
	.venv/bin/lint-imports

typecheck: .venv/.synced
	.venv/bin/mypy

check: lint importlint typecheck test

clean:
	rm -rf .venv .venv-bootstrap .optiinfra
