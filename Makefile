# Two commands on a fresh machine:  `make tour` (set up + the kit's main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# On the kit's CPU machines this pin is a local CPU build; an unpinned torch could pull a multi-GB CUDA one.
TORCH ?= torch==2.13.0

.PHONY: setup tour test data clean-runs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install --quiet --progress-bar off "$(TORCH)"
	$(BIN)/pip install --quiet --progress-bar off -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

data: setup
	$(BIN)/wellread data fetch

tour: data
	$(BIN)/wellread tour

test: data
	$(BIN)/python -m pytest -q

clean-runs:
	rm -rf runs
