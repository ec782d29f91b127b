# Two commands do all the set-up on a fresh machine:
#   make run    install into .venv and serve on 127.0.0.1:8080 (in-memory backend, no MongoDB needed)
#   make test   install everything the tests need, then lint, type-check and run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test system-packages lint bench mutate

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[fast]'

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[fast,test]'

run: install
	$(BIN)/authsvc serve --host 127.0.0.1 --port 8080

# nginx for the gateway end-to-end test, wrk for the benchmarks (Debian packages; needs root or sudo).
system-packages:
	@missing=""; for tool in nginx wrk; do command -v $$tool >/dev/null || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

lint: install-test
	$(BIN)/ruff check authsvc tests tools/mutate.py $(wildcard bench)
	$(BIN)/ruff format --check authsvc tests tools/mutate.py $(wildcard bench)
	$(BIN)/mypy

test: install-test system-packages lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Mutation testing of the security core against the fast tests (minutes; not part of CI): docs/mutation.md.
mutate: install-test
	$(BIN)/python tools/mutate.py

bench: install-test system-packages
	$(BIN)/python -m bench
