# Two commands on a fresh machine that has only Python: `make train` and `make test`.
# Each sets up .venv on first use (torch first, then this package with its test extras).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
# The torch build to install. On this project's CI machines `torch==2.13.0` is a CPU wheel kept on disk;
# from PyPI on Linux it is the CUDA build. See docs/configuration.md#installing-torch for CPU-only or other CUDA builds.
TORCH ?= torch==2.13.0
ARGS ?=
PYTEST_ARGS ?= -q
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup train test test-slow test-all lint format bench tensorboard gpu-check clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip uninstall --quiet --yes hydra-optuna-sweeper 2>/dev/null || true  # pins optuna<3
	$(BIN)/python -m pip install --quiet -e ".[test,optuna,postgresql,slurm]"
	touch $(STAMP)

setup: $(STAMP)

train: $(STAMP)
	$(BIN)/python train.py $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py --out bench-results/bench.json $(ARGS)

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir outputs

# The GPU tests and the GPU benchmark, on a machine with a CUDA GPU and torch, lightning, tensorboard, matplotlib,
# scipy, numpy and pytest already installed (no network needed): missing pure-Python wheels (hydra-core, omegaconf,
# antlr4-python3-runtime, hydra-joblib-launcher, joblib) are installed from .whl/ into .gpu-site/. Writes
# $(GPU_OUT)/log.txt and bench.json.
GPU_OUT ?= gpu-check
gpu-check:
	@mkdir -p $(GPU_OUT)
	@set -o pipefail; ( \
	  export PYTHONPATH="$$PWD/src:$$PWD/.gpu-site$${PYTHONPATH:+:$$PYTHONPATH}"; \
	  $(PYTHON) -c "import hydra, omegaconf, hydra_plugins.hydra_joblib_launcher" 2>/dev/null || \
	    $(PYTHON) -m pip install -q --no-index --no-deps --target .gpu-site .whl/*.whl || exit 2; \
	  $(PYTHON) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
	    'gpu-check: no CUDA GPU is visible (torch ' + torch.__version__ + ')')" || exit 2; \
	  $(PYTHON) -c "import torch; print('gpu-check on', torch.cuda.get_device_name(), 'torch', torch.__version__)"; \
	  $(PYTHON) -m pytest -m gpu -v -p no:cacheprovider tests/test_gpu.py || exit 1; \
	  $(PYTHON) benchmarks/bench.py --device gpu --seeds 1 --only data,steps,seeds,sweeps,inversion,compile --out $(GPU_OUT)/bench.json \
	) 2>&1 | tee $(GPU_OUT)/log.txt

clean:
	rm -rf outputs multirun bench-results gpu-check .gpu-site .pytest_cache
