# Two commands on a fresh Debian/Ubuntu machine: `make run` and `make test`.
# Each bootstraps what it needs (Debian packages, .venv, Python dependencies) by itself.

VENV      := .venv
PYTHON    := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
BOOTSTRAP := packaging/bootstrap.sh

.PHONY: run serve test test-fast bench screenshots clean

$(STAMP): pyproject.toml $(BOOTSTRAP)
	@bash $(BOOTSTRAP)
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/pbx-companion

serve: $(STAMP)
	$(VENV)/bin/pbx-companion serve

test: $(STAMP)
	$(PYTHON) -m pytest

test-fast: $(STAMP)
	$(PYTHON) -m pytest -m "not slow"

bench: $(STAMP)
	$(PYTHON) -m tests.bench.run
	$(PYTHON) -m tests.bench.ui_bench

screenshots: $(STAMP)
	$(PYTHON) -m tests.ui.x11.screenshots --out docs/screenshots

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
