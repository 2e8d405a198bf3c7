# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test install bench lint clean pg-start pg-stop

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## demo: install, then run the whole job on an embedded SQLite ledger under demo/out/
demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash demo/run.sh

## test: install, start a throwaway PostgreSQL on 127.0.0.1 (and make sure PDFBox Preflight, Chromium and axe-core are there), run the suite on SQLite and PostgreSQL
test: $(STAMP)
	bash scripts/with-postgres.sh bash scripts/pdfa-validator.sh bash scripts/web-test-deps.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: run the benchmarks in bench/ (prints figures and ratios; not a test)
bench: $(STAMP)
	bash scripts/with-postgres.sh $(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo/out .pytest_cache .hypothesis
