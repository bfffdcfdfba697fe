# Two commands work on a fresh machine with nothing but Python: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch is pinned here (not in pyproject.toml): this exact version is a CPU wheel on our machines,
# while an unpinned torch pulls several GB of CUDA packages.
TORCH  ?= torch==2.13.0
READY  := $(VENV)/.ready

.PHONY: demo test test-slow lint format bench bench-env clean kaggle-bundle

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

# The benchmarks' own environment: dlf plus the peers it is measured against (PyTorch
# Lightning, and fastai's core without torchvision). Peers are never project dependencies.
BENCH_VENV  := .venv-bench
BENCH_BIN   := $(BENCH_VENV)/bin
BENCH_READY := $(BENCH_VENV)/.ready
# fastai itself goes in with --no-deps (its declared deps pull torchvision and spacy); these
# are what fastai.learner / fastai.data.core / fastai.optimizer import.
FASTAI_CORE_DEPS := fastcore fasttransform fastprogress "plum-dispatch<2.10" fastdownload \
	pyyaml packaging pandas requests cloudpickle scipy scikit-learn matplotlib

$(BENCH_READY): pyproject.toml Makefile
	test -x $(BENCH_BIN)/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_BIN)/python -m pip install -q --upgrade pip
	$(BENCH_BIN)/python -m pip install -q "$(TORCH)"
	$(BENCH_BIN)/python -m pip install -q -e . "$(TORCH)"
	-$(BENCH_BIN)/python -m pip install -q lightning "$(TORCH)" || echo "lightning: not installed (the bench reports it as skipped)"
	-$(BENCH_BIN)/python -m pip install -q --no-deps fastai && \
	 $(BENCH_BIN)/python -m pip install -q $(FASTAI_CORE_DEPS) "$(TORCH)" || echo "fastai: not installed (the bench reports it as skipped)"
	$(BENCH_BIN)/python -m pip install -q py-spy || echo "py-spy: not installed (profiling only)"
	touch $(BENCH_READY)

bench-env: $(BENCH_READY)

# All benchmarks (about 15 minutes on 2 CPU cores); writes docs/benchmarks.md.
bench: $(READY) $(BENCH_READY)
	$(BIN)/python bench/run_all.py --bench-python $(BENCH_BIN)/python --out docs/benchmarks.md

# Wheels of dlf and every runtime dependency except torch (a Kaggle kernel has its own),
# at the versions of this venv, for a kernel without internet. Upload the folder as a Kaggle
# dataset; docs/kaggle.md has the two lines a kernel runs to install from it.
BUNDLE ?= dist/kaggle-bundle
kaggle-bundle: $(READY)
	rm -rf $(BUNDLE)
	$(BIN)/python -m pip freeze --exclude-editable > $(VENV)/bundle-constraints.txt
	$(BIN)/python -m pip wheel -q --no-deps -w $(BUNDLE) .
	$(BIN)/python -m pip wheel -q -w $(BUNDLE) -c $(VENV)/bundle-constraints.txt \
	  $$($(BIN)/python -c 'import tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print(" ".join(d.replace(" ", "") for d in deps if not d.startswith("torch")))')
	@ls $(BUNDLE) | sed 's/^/  /'
	@echo "wrote $(BUNDLE): upload it as a Kaggle dataset (docs/kaggle.md)"

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .ruff_cache build dist src/*.egg-info
