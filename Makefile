# GNU make. Needs only python3 on a fresh clone: `make test` / `make reproduce`
# build the virtual environment first.

SHELL   := /bin/bash
VENV    := .venv
PY      := $(VENV)/bin/python
PIP     := $(VENV)/bin/pip
PAPERMILL := $(VENV)/bin/papermill
STAMP   := $(VENV)/.installed
BUILD   := build
NB_OUT  := $(BUILD)/notebooks

NOTEBOOKS  := $(sort $(wildcard notebooks/[0-9]*.ipynb))
BENCHMARKS := $(sort $(wildcard benchmarks/*.py))

export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg
# The data directory (mbe.data): ../shared/data, the offline copies of the paper's text
# benchmarks, where it exists; an MBE_DATA_DIR set by the caller wins.
SHARED_DATA := $(abspath $(wildcard ../shared/data))
ifneq ($(SHARED_DATA),)
export MBE_DATA_DIR ?= $(SHARED_DATA)
endif
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv test reproduce benchmark clean fashion-mnist

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -e .
	touch $@

test: $(STAMP)
	$(PY) -m pytest -m "not slow"

# Fashion-MNIST (the vision stand-ins' data) from Debian's dataset-fashion-mnist, unless the
# data directory already holds it.
FASHION := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
fashion-mnist:
	@test -f $(FASHION) || test -f "$$MBE_DATA_DIR/fashion-mnist/t10k-labels-idx1-ubyte.gz" || \
		{ echo "==> installing Debian's dataset-fashion-mnist"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }

reproduce: $(STAMP) fashion-mnist
	@mkdir -p $(NB_OUT)
	@set -e; for nb in $(NOTEBOOKS); do \
		echo "==> $$nb"; start=$$SECONDS; \
		$(PAPERMILL) -k python3 --cwd . "$$nb" "$(NB_OUT)/$$(basename "$$nb")"; \
		$(PY) -m nbconvert --to html --log-level WARN "$(NB_OUT)/$$(basename "$$nb")"; \
		echo "    $$nb: $$((SECONDS - start)) s"; \
	done
	$(PY) -m mbe.viz.report

benchmark: $(STAMP)
	@set -e; for b in $(BENCHMARKS); do \
		echo "==> $$b"; \
		$(PY) "$$b"; \
	done

clean:
	rm -rf $(BUILD) .pytest_cache .cache
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints -o -name '*.egg-info' \) -print0 | xargs -0 rm -rf

# The explorer's browser check (slow, so not part of `make test`): JupyterLab in headless
# Chromium. Installs what it needs: Debian's chromium via apt-get, and the PyPI playwright
# package into the venv (never `playwright install`, which downloads a browser). About 1 min.
.PHONY: ui-test
ui-test: $(STAMP)
	@command -v chromium >/dev/null || { echo "==> installing Debian's chromium"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@$(PY) -c "import playwright" 2>/dev/null || $(PIP) install -q playwright
	MBE_UI_REQUIRED=1 $(PY) -m pytest tests/ui
