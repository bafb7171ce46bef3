# Two commands set everything up: `make run` (API with demo data) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: install browser messages lock run serve migrate seed seed-large test test-dates lint format typecheck schema bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Installs exactly the pinned versions of requirements/dev.txt (runtime + dev); the code itself
# is imported from the checkout. `make lock` re-resolves the pins from pyproject.toml.
$(VENV)/.installed: requirements/dev.txt | $(BIN)/activate
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

# Upgrade every pin to the newest release pyproject.toml allows (then run `make test`, commit).
lock: install
	$(BIN)/uv pip compile pyproject.toml --upgrade --python-version 3.11 -q -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --upgrade --python-version 3.11 -q --extra dev -o requirements/dev.txt

# The JavaScript client tests' packages (tests/clients/js), pinned by its package-lock.json.
JS_CLIENTS := tests/clients/js
$(JS_CLIENTS)/node_modules/.package-lock.json: $(JS_CLIENTS)/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix $(JS_CLIENTS) --no-audit --no-fund; \
	else echo "npm not found: the JavaScript client tests will be skipped"; fi

# GraphiQL's scripts and styles (web/graphiql), pinned by its package-lock.json: the app serves
# them at /graphiql/ (no CDN); without them /graphql says how to install them.
GRAPHIQL := web/graphiql
$(GRAPHIQL)/node_modules/.package-lock.json: $(GRAPHIQL)/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix $(GRAPHIQL) --no-audit --no-fund; \
	else echo "npm not found: GraphiQL (/graphql in a browser) will not be available"; fi

# The headless browser of tests/clients/test_graphiql_browser.py: Debian's chromium package
# (as root, with apt; CI runs this). JavaScript packages never download a browser here.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else echo "chromium not installed (as root: apt-get install chromium): the GraphiQL browser test will be skipped"; fi

# Messages people read: gettext catalogs locale/<language>/LC_MESSAGES/portal.po (msgid = the
# message code), compiled to the .mo files i18n.py reads (build products, not committed).
LANGUAGES := $(patsubst locale/%/LC_MESSAGES/portal.po,%,$(wildcard locale/*/LC_MESSAGES/portal.po))
MO_FILES := $(LANGUAGES:%=locale/%/LC_MESSAGES/portal.mo)
locale/%/LC_MESSAGES/portal.mo: locale/%/LC_MESSAGES/portal.po $(VENV)/.installed
	$(BIN)/pybabel -q compile -l $* -i $< -o $@

# After adding or changing an English message: the template (locale/portal.pot) from English,
# the French and Italian catalogs updated from it (new codes untranslated, removed ones dropped),
# then compiled. tests/security/test_messages_translated.py fails until every text is there.
messages: $(VENV)/.installed $(MO_FILES)  # the CLI imports the app, which reads the .mo files
	$(PY) -m cli messages-template
	@for language in $(filter-out en,$(LANGUAGES)); do \
		$(BIN)/pybabel -q update -i locale/portal.pot -d locale -D portal -l $$language -w 100 \
			--no-fuzzy-matching --ignore-obsolete || exit 1; \
	done
	$(MAKE) --no-print-directory $(MO_FILES)

install: $(VENV)/.installed $(JS_CLIENTS)/node_modules/.package-lock.json \
	$(GRAPHIQL)/node_modules/.package-lock.json $(MO_FILES)

migrate: install
	$(PY) -m cli migrate

seed: migrate
	$(PY) -m cli seed-demo --if-empty

seed-large: migrate
	$(PY) -m cli seed-demo --scale large --if-empty

run: seed
	$(PY) -m cli serve

test: install
	$(BIN)/pytest

# The tests whose outcome depends on the date (marker `dates`), on SQLite, once per instant of
# tests/frozen_instants (which says why each is hard). `make test` runs them too, at today's date.
test-dates: install
	@grep -v -e '^#' -e '^$$' tests/frozen_instants | while read -r at why; do \
		echo "== frozen at $$at: $$why"; \
		PORTAL_FREEZE_AT=$$at DATABASE_URL= $(BIN)/pytest -m dates || exit 1; \
	done

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: install
	$(PY) -m cli export-schema

# Every figure of the performance goals in one run, ending with one summary line
# (`make bench ARGS=--small`: the small demo fleet on SQLite, about a minute).
bench: install
	$(PY) -m bench.summary $(ARGS)

clean:
	rm -rf var
