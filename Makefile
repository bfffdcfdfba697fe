# Two commands work on a fresh machine with nothing but Python: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch is pinned here (not in pyproject.toml): this exact version is a CPU wheel on our machines,
# while an unpinned torch pulls several GB of CUDA packages.
TORCH  ?= torch==2.13.0
READY  := $(VENV)/.ready

.PHONY: demo test test-slow lint format bench bench-env clean

$(READY): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(READY)

DEMO_RUN := runs/aptos-demo
DATA_HOME = $${DLF_HOME:-$$HOME/.cache/dlf}/data

# The main job: APTOS 2019 on the embedded synthetic data, from training to a scored submission.
demo: $(READY)
	$(BIN)/dlf train aptos --out $(DEMO_RUN) --overwrite
	$(BIN)/dlf predict aptos --run $(DEMO_RUN) --tta 2
	$(BIN)/dlf evaluate aptos --truth $(DATA_HOME)/aptos-synth/test_labels.csv --pred $(DEMO_RUN)/submission.csv
	@echo "submission: $(DEMO_RUN)/submission.csv   report: $(DEMO_RUN)/report.html"

test: $(READY)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/python -m pytest

test-slow: $(READY)
	$(BIN)/python -m pytest -m slow

lint: $(READY)
	$(BIN)/ruff check --fix src tests bench examples
	$(BIN)/ruff format src tests bench examples

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build src/*.egg-info
