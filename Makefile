# Two commands do all the set-up on a fresh machine:
#   make run    install into .venv and serve on 127.0.0.1:8080 (in-memory backend, no MongoDB needed; PORT=, HOST=)
#   make test   install everything the tests need, then lint, type-check and run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
# Every install comes from the hashed, universal locks in requirements/ (written by `make lock`): runtime.txt for
# the service ([fast]), test.txt for the tests too ([fast,test]). pip installs only uv, itself from a hashed lock.
UV_INSTALL := $(UV) pip install --quiet --python $(BIN)/python
LOCK := $(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 --custom-compile-command "make lock"

.PHONY: run test install install-test system-packages container-packages image node-packages lint bench lock lock-upgrade mutate messages settings-table

$(UV): requirements/uv.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/uv.txt
	@touch $(UV)

install: $(UV)
	$(UV_INSTALL) --require-hashes -r requirements/runtime.txt
	$(UV_INSTALL) --no-deps -e .

install-test: $(UV)
	$(UV_INSTALL) --require-hashes -r requirements/test.txt
	$(UV_INSTALL) --no-deps -e .

# After editing dependencies in pyproject.toml: keeps every other pin. lock-upgrade moves every pin to the newest
# version pyproject.toml allows.
lock: $(UV)
	$(LOCK) $(LOCK_FLAGS) requirements/uv.in -o requirements/uv.txt
	$(LOCK) $(LOCK_FLAGS) --extra fast pyproject.toml -o requirements/runtime.txt
	$(LOCK) $(LOCK_FLAGS) --extra fast --extra test pyproject.toml -o requirements/test.txt

lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

# make run PORT=8081 HOST=0.0.0.0 to serve elsewhere.
HOST ?= 127.0.0.1
PORT ?= 8080
run: install
	$(BIN)/authsvc serve --host $(HOST) --port $(PORT)

# nginx and caddy for the gateway end-to-end tests, wrk for the benchmarks, chromium and chromium-driver (its
# chromedriver) for the browser tests of the portal and /docs (Debian packages; needs root or sudo).
system-packages:
	@missing=""; for tool in nginx caddy wrk chromium chromium-driver:chromedriver; do \
		package=$${tool%%:*}; binary=$${tool##*:}; \
		command -v $$binary >/dev/null || [ -x /usr/sbin/$$binary ] || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# podman and what it needs to build and run the image without a Docker engine or a registry (Debian packages; root):
# tests/e2e/test_image.py and test_compose.py, and `make image`.
CONTAINER_PACKAGES := podman buildah runc slirp4netns uidmap debootstrap netavark aardvark-dns iptables
container-packages:
	@missing=""; for package in $(CONTAINER_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The Dockerfile, built as `docker build -t authsvc:local .` would, with podman (tools/image/build.sh: the local
# stand-in for the base image, this machine's podman settings). Root; cold 3-6 min (the base's bootstrap included,
# cached after), warm about 10 s.
image: container-packages
	tools/image/build.sh authsvc:local

# The NestJS tutorial's own libraries (node bcrypt 5, mongodb) for tests/node/tutorial_users.js, from the lock file.
# bcrypt is compiled here against the local Node.js headers: its install would otherwise fetch a prebuilt binary.
NODE_DIR := tests/node
NODE_HEADERS := $(if $(wildcard /usr/include/node/node.h),npm_config_nodedir=/usr)
$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm g++ make >/dev/null; }
	cd $(NODE_DIR) && npm_config_build_from_source=true $(NODE_HEADERS) npm ci --no-audit --no-fund --loglevel=error

node-packages: $(NODE_DIR)/node_modules/.package-lock.json

lint: install-test
	$(BIN)/ruff check authsvc tests tools/mutate.py tools/settings_table.py $(wildcard bench)
	$(BIN)/ruff format --check authsvc tests tools/mutate.py tools/settings_table.py $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: install-test system-packages container-packages node-packages lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Mutation testing of the security core against the fast tests (not part of CI): docs/mutation.md. After a change,
# make mutate ARGS="--rerun-survivors" runs only survivors, new mutants and mutants of changed functions.
# The README's configuration table, from the settings' schema in authsvc/config.py (a unit test fails until it is run).
settings-table: install-test
	$(BIN)/python tools/settings_table.py

mutate: install-test
	$(BIN)/python tools/mutate.py $(ARGS)

bench: install-test system-packages
	$(BIN)/python -m bench

# The portal's message catalogues: German and French texts (tools/portal_translations.py) into .po, compiled to the
# .mo files that ship in the package (tests/unit/test_portal_i18n.py checks both are complete and in step).
messages: install-test
	$(BIN)/python tools/portal_translations.py
	$(BIN)/pybabel compile -D portal -d authsvc/web/pages/locales
