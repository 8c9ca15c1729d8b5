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
# uv installs in a fraction of pip's time (torch: 7 s against 36 s here); pip does it where uv cannot be had. Its
# bytecode is compiled at install, as pip does: where Python may not write it (PYTHONDONTWRITEBYTECODE, read-only
# venvs) every process and kernel would otherwise compile torch and transformers from source at each import.
UV_OR_PIP := $(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python
# torch's CPU build through uv: from a local wheel folder where pip's settings name one (PIP_FIND_LINKS; uv does not
# read pip's settings), else from the CPU index.
UV_TORCH_CPU := $(if $(PIP_FIND_LINKS),$(UV_OR_PIP) --find-links $(PIP_FIND_LINKS) "$(TORCH)+cpu",false) \
  || $(UV_OR_PIP) --index-url $(TORCH_INDEX) "$(TORCH)"

.PHONY: setup tour test test-browser book data clean-runs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) uv 2>/dev/null || true
	$(BIN)/python -c "import torch" 2>/dev/null \
	  || { [ -n "$(CPU_ONLY)" ] && { $(UV_TORCH_CPU); } 2>/dev/null; } \
	  || { [ -n "$(CPU_ONLY)" ] && $(PIP) --index-url $(TORCH_INDEX) --timeout 5 --retries 0 "$(TORCH)"; } \
	  || $(PIP) "$(TORCH)"
	$(UV_OR_PIP) -e ".[test]" 2>/dev/null || $(PIP) -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

data: setup
	$(BIN)/wellread data fetch

tour: data
	$(BIN)/wellread tour

# Two workers, one per core; a test file stays on one worker (the notebook tests share their executed copies).
test: data
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# A real browser: JupyterLab runs notebooks 0 and 4 (smoke) in headless Chromium (Debian's `chromium`, driven by
# playwright), and the book's pages load when build/book exists. Without chromium it says so in one line and passes.
test-browser: data
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || { echo "make test-browser: skipped, no chromium here (Debian: apt-get install chromium)"; exit 0; }; \
	  $(BIN)/python -m pytest -q -m browser tests/test_browser.py

$(VENV)/.book: $(VENV)/.installed pyproject.toml
	$(UV_OR_PIP) -e ".[book]" 2>/dev/null || $(PIP) -e ".[book]"
	touch $@

# The executed lessons as a static site in build/book/, from the newest complete tour under runs/tour (`make tour`
# writes one; TOUR_DIR=... picks another). Any static host serves the folder.
book: $(VENV)/.book
	$(BIN)/python -m wellread.book $(if $(TOUR_DIR),--tour $(TOUR_DIR)) --out build/book

clean-runs:
	rm -rf runs
