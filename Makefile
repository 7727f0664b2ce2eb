# imaginebot — every command the README names. `make run` and `make test` set everything up on a fresh clone.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench train clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: installing a CUDA build of torch"; \
		$(PIP) install --index-url https://download.pytorch.org/whl/cu124 "torch>=2.4"; \
	else \
		echo "No NVIDIA GPU: installing the CPU build torch==$(TORCH_VERSION)"; \
		$(PIP) install "torch==$(TORCH_VERSION)"; \
	fi
	$(PIP) install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m bot

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check bot engine tests bench
	$(PY) -m ruff format --check bot engine tests bench
	$(PY) -m mypy

bench: $(STAMP)
	for f in bench/*.py; do $(PY) $$f || exit 1; done

train: $(STAMP)
	$(PY) -m engine.training all --out engine/models/default

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
