# Two commands on a fresh machine that has only Python: `make train` and `make test`.
# Each sets up .venv on first use (torch first, then this package with its test extras).
PYTHON ?= python3
VENV ?= .venv
# The torch build to install. On this project's CI machines `torch==2.13.0` is a CPU wheel kept on disk;
# from PyPI on Linux it is the CUDA build. See README "Installing torch" for CPU-only or other CUDA builds.
TORCH ?= torch==2.13.0
ARGS ?=
PYTEST_ARGS ?= -q
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup train test test-all lint format bench tensorboard clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test,optuna]"
	touch $(STAMP)

setup: $(STAMP)

train: $(STAMP)
	$(BIN)/python train.py $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m betaae.bench $(ARGS)

tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir outputs

clean:
	rm -rf outputs multirun bench-results .pytest_cache
