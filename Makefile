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
	done
	$(PY) -m mbe.report

benchmark: $(STAMP)
	@set -e; for b in $(BENCHMARKS); do \
		echo "==> $$b"; \
		$(PY) "$$b"; \
	done

clean:
	rm -rf $(BUILD) .pytest_cache .cache
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints -o -name '*.egg-info' \) -print0 | xargs -0 rm -rf
