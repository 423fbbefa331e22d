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

.PHONY: venv test reproduce benchmark clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -e .
	touch $@

test: $(STAMP)
	$(PY) -m pytest -m "not slow"

reproduce: $(STAMP)
	@mkdir -p $(NB_OUT)
	@set -e; for nb in $(NOTEBOOKS); do \
		echo "==> $$nb"; \
		$(PAPERMILL) -k python3 --cwd . "$$nb" "$(NB_OUT)/$$(basename "$$nb")"; \
		$(PY) -m nbconvert --to html --log-level WARN "$(NB_OUT)/$$(basename "$$nb")"; \
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
UI_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: ui-test
ui-test: $(STAMP)
	@command -v chromium >/dev/null || { echo "==> installing Debian's chromium"; \
		$(UI_SUDO) apt-get update -qq && \
		$(UI_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@$(PY) -c "import playwright" 2>/dev/null || $(PIP) install -q playwright
	MBE_UI_REQUIRED=1 $(PY) -m pytest tests/ui
