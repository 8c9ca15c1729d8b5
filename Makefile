# Two commands on a fresh machine:  `make tour` (set up + the kit's main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0
# Linux without a GPU gets torch's CPU build (~200 MB) from this index, never the default index's multi-GB CUDA one.
# Where the index does not answer, pip gives up within seconds and the default index is used.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
CPU_ONLY := $(shell [ "$$(uname -s)" = Linux ] && ! command -v nvidia-smi >/dev/null 2>&1 && echo yes)
PIP := $(BIN)/python -m pip install --quiet --progress-bar off
# uv installs the rest in about half pip's time; pip does it where uv cannot be had.
UV_OR_PIP := $(BIN)/python -m uv pip install --quiet --python $(BIN)/python

.PHONY: setup tour test data clean-runs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null \
	  || { [ -n "$(CPU_ONLY)" ] && $(PIP) --index-url $(TORCH_INDEX) --timeout 5 --retries 0 "$(TORCH)"; } \
	  || $(PIP) "$(TORCH)"
	$(PIP) uv 2>/dev/null && $(UV_OR_PIP) -e ".[test]" || $(PIP) -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

data: setup
	$(BIN)/wellread data fetch

tour: data
	$(BIN)/wellread tour

# Two workers, one per core; a test file stays on one worker (the notebook tests share their executed copies).
test: data
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

clean-runs:
	rm -rf runs
