# make run: install if needed, seed the demo, start the app. make test: the whole suite (make test-quick:
# without the tests marked slow). make lint: ruff check, ruff format --check, import-linter.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install dev run worker test test-quick lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

dev: $(VENV)/.dev

$(VENV)/.dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The app reads paths a visitor types only inside XIL_HOME and XIL_DATA_DIRS: in a development checkout
# that is the shared data beside it (set XIL_DATA_DIRS yourself to allow other folders).
XIL_DATA_DIRS ?= $(wildcard $(abspath ../shared/data))
export XIL_DATA_DIRS

run: install
	$(VENV)/bin/xil serve

worker: install
	$(VENV)/bin/xil worker

test: dev
	$(PY) -m pytest

test-quick: dev
	$(PY) -m pytest -m "not slow"

LINT_PATHS := xil db pages tests streamlit_app.py

# ruff (errors and formatting) and import-linter (the layers: see [tool.importlinter] in pyproject.toml)
lint: dev
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/lint-imports

bench: install
	$(VENV)/bin/xil bench latency --json
	$(VENV)/bin/xil bench decoy --dataset digits --arch mlp --json
	$(VENV)/bin/xil bench decoy --dataset digits --arch cnn --json
	@if [ -d ../shared/data/mnist ]; then \
		$(VENV)/bin/xil bench decoy --dataset mnist --data ../shared/data/mnist --arch mlp --feedback-fraction 0.01,0.1,1 --json; \
		$(VENV)/bin/xil bench decoy --dataset mnist --data ../shared/data/mnist --arch cnn --json; \
	else echo "../shared/data/mnist not found: skipping the Decoy-MNIST benchmarks"; fi
	@if [ -d ../shared/data/cifar10 ]; then \
		$(VENV)/bin/xil bench decoy --dataset cifar10 --data ../shared/data/cifar10 --arch resnet18 --image-size 32 --epochs 10 --json; \
	else echo "../shared/data/cifar10 not found: skipping the Decoy-CIFAR-10 benchmark"; fi
	@if [ -d ../shared/data/rt-polarity ]; then \
		$(VENV)/bin/xil bench text-shortcut --data ../shared/data/rt-polarity --json; \
	else echo "../shared/data/rt-polarity not found: skipping the text-shortcut benchmark"; fi
	@if [ -f ../shared/data/hh-rlhf/harmless-dev.jsonl.gz ]; then \
		$(VENV)/bin/xil bench reward --train ../shared/data/hh-rlhf/harmless-dev.jsonl.gz --json; \
	else echo "../shared/data/hh-rlhf not found: skipping the reward-model benchmark"; fi
	$(VENV)/bin/xil bench rit --json
	$(VENV)/bin/xil bench dpo --json

clean:
	rm -rf $(VENV) xil-data .pytest_cache
