# Quick start: `make demo` runs the main job, `make test` runs the test suite.
# Both create .venv and install parawire into it on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch pinned here only for the local wheel cache of the build machines; pyproject asks torch>=2.4.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: demo test test-all lint format bench clean browser pictures gpu-study gpu-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install -q $(TORCH_SPEC) || $(BIN)/pip install -q "torch>=2.4" torchvision
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/parawire demo

test: $(VENV)/.installed browser
	$(BIN)/python -m pytest -q -n auto

# Best effort: the report's browser test needs Chromium and is skipped (saying why) without it.
browser:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1)) || true

# The README's pictures and the report screenshot in docs/img (minutes: runs the demo).
pictures: $(VENV)/.installed
	$(BIN)/python benchmarks/readme_pictures.py

# On a GPU machine (benchmarks/gpu_study.py): the seed's CIFAR-10 study in at most 9 minutes,
# resumable (rerun to continue), and the GPU tests plus one network's seconds per epoch.
DATA ?= ../shared/data/cifar10/cifar10-jpg.tar.gz
gpu-study: $(VENV)/.installed
	$(BIN)/python benchmarks/gpu_study.py --data $(DATA) --out runs/gpu-study

gpu-check: $(VENV)/.installed
	$(BIN)/python benchmarks/gpu_study.py --gpu-tests
	$(BIN)/python benchmarks/gpu_study.py --timings --data $(DATA)

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(VENV)/.installed
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

test-all: $(VENV)/.installed browser
	$(BIN)/python -m pytest -q -m ""

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
