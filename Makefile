# Two commands on a fresh machine: `make run` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PY ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_LINK_MODE ?= copy

.PHONY: run test lint typecheck bench install clean messages screenshots image-test test-slow

$(UV):
	$(PY) -m venv .tools
	.tools/bin/pip install --quiet uv

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	@touch $@

install: .venv/.synced

run: install
	.venv/bin/nubo serve

# The suite runs on both cores (pytest-xdist); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2

test: install lint
	$(UV) run pytest -n $(PYTEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

# The long end-to-end runs (the production topology with its failures), CI's second step.
test-slow: install
	$(UV) run pytest -n 0 -m slow $(PYTEST_ARGS)

lint: install
	$(UV) run ruff check src tests bench migrations
	$(UV) run mypy

# Re-extract the panel's messages; new ones appear untranslated in each catalog (a test fails
# until they are translated).
messages: install
	$(UV) run pybabel extract -F babel.cfg -k N_ --no-location --omit-header -w 100 \
		-o src/nubo/web/translations/messages.pot .
	$(UV) run pybabel update -i src/nubo/web/translations/messages.pot \
		-d src/nubo/web/translations --no-fuzzy-matching --ignore-obsolete -w 100

# The README's pictures, taken by the upload and data customer journeys in Chromium.
screenshots: install
	NUBO_SCREENSHOTS=docs/screenshots $(UV) run pytest -n 0 -q tests/web/test_journeys.py \
		tests/web/test_flight_findings_journey.py tests/web/test_data_journey.py \
		-k "upload or customer or findings"

# Build the container image from a bootstrapped Debian base and run its commands (needs root,
# buildah and debootstrap, installed when missing; see docs/deploy.md). CI runs it; `make test`
# does not.
image-test: install
	UV=$(UV) bash .ci/image-test

bench: install
	$(UV) run python -m bench $(BENCH_ARGS)

clean:
	rm -rf .venv .tools var bench/out
