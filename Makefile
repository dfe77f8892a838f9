# Two commands on a fresh Debian/Ubuntu machine: `make run` and `make test`.
# Each bootstraps what it needs (Debian packages, .venv, Python dependencies) by itself.

VENV      := .venv
PYTHON    := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
BOOTSTRAP := packaging/bootstrap.sh

.PHONY: run serve lint test test-fast bench screenshots bundle deb tarball icons clean

# The PyInstaller bundle (one folder) and the .deb made from it; both are rebuilt only when a
# source of theirs changed. `make test` builds them first: tests/packaging runs the real bundle.
BUNDLE_DIR := dist/pbx-companion
BUNDLE     := $(BUNDLE_DIR)/pbx-companion
BUNDLE_SRC := $(shell find app resources packaging/pyinstaller -type f -not -path '*/__pycache__/*') build.spec \
              pyproject.toml packaging/bundle.sh
DEB_STAMP  := dist/.deb-built
TAR_STAMP  := dist/.tarball-built
DEB_SRC    := $(shell find packaging/linux -type f) LICENSE

$(STAMP): pyproject.toml $(BOOTSTRAP)
	@bash $(BOOTSTRAP)
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/pbx-companion

serve: $(STAMP)
	$(VENV)/bin/pbx-companion serve

# ruff (lint and import order) over the code and the tests, then mypy over app/ (config in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check app tests
	$(VENV)/bin/mypy

# lint first: listed before the bundle so that a lint error fails in seconds, not after a build
test: $(STAMP) lint bundle deb tarball
	$(PYTHON) -m pytest

test-fast: $(STAMP) lint
	$(PYTHON) -m pytest -m "not slow and not packaging"

$(BUNDLE): $(STAMP) $(BUNDLE_SRC)
	bash packaging/bundle.sh

bundle: $(BUNDLE)

$(DEB_STAMP): $(BUNDLE) $(DEB_SRC)
	bash packaging/linux/build-deb.sh $(BUNDLE_DIR) dist
	@touch $(DEB_STAMP)

deb: $(DEB_STAMP)

$(TAR_STAMP): $(BUNDLE) $(DEB_SRC)
	bash packaging/linux/build-tarball.sh $(BUNDLE_DIR) dist
	@touch $(TAR_STAMP)

tarball: $(TAR_STAMP)

icons: $(STAMP)
	$(PYTHON) packaging/icons.py

bench: $(STAMP)
	$(PYTHON) -m tests.bench.run
	$(PYTHON) -m tests.bench.team_bench
	$(PYTHON) -m tests.bench.ui_bench
	$(PYTHON) -m tests.bench.team_app_bench
	$(PYTHON) -m tests.bench.hostile_bench

screenshots: $(STAMP)
	$(PYTHON) -m tests.ui.x11.screenshots --out docs/screenshots

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
