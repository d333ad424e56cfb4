# Every target bootstraps what it needs: a fresh machine has Python and pip, nothing else.
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --locked

.PHONY: install serve emulator test test-fast lint fmt typecheck sizes check bench clients

install: $(UV)
	$(UV) sync --locked

$(UV):
	python3 -m pip install --user --quiet uv 2>/dev/null \
	  || python3 -m pip install --user --quiet --break-system-packages uv 2>/dev/null \
	  || python3 -m pip install --quiet uv

serve: install          ## run the gateway on its embedded default (or ./polyrelay.yaml)
	$(RUN) polyrelay serve

emulator: install       ## run the provider emulator on :8090
	$(RUN) polyrelay emulator

test: install           ## the whole suite: lint, types, sizes, unit and integration tests
	$(MAKE) --no-print-directory check
	$(RUN) pytest -q

test-fast: install
	$(RUN) pytest -q -x tests/unit

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check src tests scripts bench

fmt: install
	$(RUN) ruff format src tests scripts bench
	$(RUN) ruff check --fix .

typecheck: install
	$(RUN) mypy

sizes: install
	$(RUN) python scripts/check_sizes.py

check: lint typecheck sizes
	$(RUN) python scripts/check_import_time.py

# BENCH_PYTHON=/path/to/python3.11 runs the benchmark, and so both gateways, on that
# interpreter, from an environment of its own (bench/.venv-python): bench/README.md shows
# what an interpreter's build changes.
bench: install
ifeq ($(strip $(BENCH_PYTHON)),)
	$(RUN) python bench/run.py $(BENCH_ARGS)
else
	UV_PROJECT_ENVIRONMENT=bench/.venv-python $(RUN) --python $(BENCH_PYTHON) \
		python bench/run.py $(BENCH_ARGS)
endif
