# imaginebot — every command the README names. `make run` and `make test` set everything up on a fresh clone.
# Installs come from the lock files: torch==$(TORCH_VERSION) first (the default Linux wheel carries CUDA; a
# CPU-only build works the same), then requirements/runtime.lock, then the project itself without resolving.
# `make run` gets the runtime set only; `make test`/`make lint` add requirements/dev.lock.
# Optional extras (not locked) go on top: $(PIP) install -e ".[NAME]".
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed

.PHONY: install install-runtime run test lint bench train lock check-image clean

$(RUNTIME): pyproject.toml requirements/runtime.lock
	test -x $(PY) || python3 -m venv $(VENV)
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: torch==$(TORCH_VERSION) runs on it"; \
	else \
		echo "No NVIDIA GPU: torch==$(TORCH_VERSION) runs on the CPU"; \
	fi
	$(PIP) install "torch==$(TORCH_VERSION)"
	$(PIP) install -r requirements/runtime.lock
	$(PIP) install --no-deps -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME) requirements/dev.lock
	$(PIP) install -r requirements/runtime.lock -r requirements/dev.lock
	touch $(STAMP)

install-runtime: $(RUNTIME)

install: $(STAMP)

run: $(RUNTIME)
	$(PY) -m bot

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check bot engine tests bench requirements
	$(PY) -m ruff format --check bot engine tests bench requirements
	$(PY) -m mypy

bench: $(STAMP)
	for f in bench/*.py; do $(PY) $$f || exit 1; done

train: $(RUNTIME)
	$(PY) -m engine.training all --out engine/models/default

# Re-resolve requirements/*.lock after changing the dependencies in pyproject.toml.
lock: $(RUNTIME)
	$(PY) requirements/compile.py $(TORCH_VERSION)

# What the Dockerfile installs, in a fresh venv: every pipeline class imports, the shipped model renders.
check-image:
	python3 tests/container/check_install.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
