# Two commands do all set-up on a fresh clone: `make run` and `make test`.
# PYTHON is the oldest Python that requires-python admits (3.11); the suite runs on the newest too.
PYTHON ?= python3
NEWEST_PYTHON ?= $(shell for p in $(HOME)/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	[ -x "$$p" ] && "$$p" -c '' 2>/dev/null && { echo "$$p"; break; }; done)
NEWEST_VENV := .venv-newest
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CATALOGS := $(wildcard incident_service/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run test test-fast lint format screenshots bench install translations i18n-extract clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

$(NEWEST_VENV)/.installed: pyproject.toml
	$(NEWEST_PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/pip install --quiet --upgrade pip
	$(NEWEST_VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

translations: $(COMPILED)

.env:
	printf 'APP_ENV=development\n' > .env

run: install translations .env
	APP_ENV=development $(BIN)/flask --app wsgi dev serve

# The suite runs on SQLite, then on PostgreSQL (a throwaway server from Debian's binaries) when
# they are installed, and the browser tests run when Debian's chromium is installed. `.ci/run`
# installs both; here a missing one is said loudly, never passed over in silence.
HAVE_PG := $(shell ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && echo yes)
HAVE_CHROMIUM := $(shell test -x /usr/bin/chromium && echo yes)
HAVE_REDIS := $(shell command -v redis-server >/dev/null && echo yes)
HAVE_NGINX := $(shell { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null && echo yes)
BROWSER_FILTER := $(if $(HAVE_CHROMIUM),,-m "not browser")

# Before the tests: lint errors and formatting (ruff), strict types on the package (mypy, pyproject
# [tool.mypy]) and the package's import boundaries (pyproject [tool.importlinter]).
# `make format` rewrites what `ruff format --check` refuses.
LINTED := incident_service tests bench config.py wsgi.py gunicorn.conf.py
lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/lint-imports

# The screenshots in docs/ (console pages at 1280 px, both languages), taken by the browser tests;
# an ordinary test run takes them into a temporary folder instead.
screenshots: install translations
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/pytest -m browser tests/browser -q

format: install
	$(BIN)/ruff format $(LINTED)

# The matrix: the oldest Python on SQLite (with the browser tests and coverage), the newest on SQLite
# and on PostgreSQL (each Python's own sqlite3 module matters; psycopg is the same code on both).
# Without a newest Python, the oldest runs PostgreSQL too.
test: install translations lint
	$(BIN)/pytest $(BROWSER_FILTER) --cov=incident_service --cov-report=term $(PYTEST_ARGS)
ifeq ($(HAVE_PG),)
	@echo "*** PostgreSQL is not installed (apt-get install postgresql): the PostgreSQL run was NOT done."
endif
ifneq ($(HAVE_CHROMIUM),yes)
	@echo "*** chromium is not installed (apt-get install chromium): the browser tests were NOT run."
endif
ifneq ($(HAVE_REDIS),yes)
	@echo "*** redis-server is not installed (apt-get install redis-server): the Redis tests were NOT run."
endif
ifneq ($(NEWEST_PYTHON),)
	$(MAKE) --no-print-directory $(NEWEST_VENV)/.installed
	$(NEWEST_VENV)/bin/pytest -m "not browser" $(PYTEST_ARGS)
ifeq ($(HAVE_PG),yes)
	TEST_DATABASE=postgresql $(NEWEST_VENV)/bin/pytest -m "not browser" $(PYTEST_ARGS)
endif
else
	@echo "*** Python 3.13 was not found (pyenv install 3.13): the suite did NOT run on the newest Python."
ifeq ($(HAVE_PG),yes)
	TEST_DATABASE=postgresql $(BIN)/pytest -m "not browser" $(PYTEST_ARGS)
endif
endif
# The production shape (tests/production): nginx with TLS, gunicorn x3, PostgreSQL, Redis, the worker and
# the listener as processes, driven through https by chromium; on the newest Python when there is one.
ifeq ($(HAVE_PG)$(HAVE_REDIS)$(HAVE_NGINX)$(HAVE_CHROMIUM),yesyesyesyes)
	TEST_SHAPE=production $(if $(NEWEST_PYTHON),$(NEWEST_VENV),$(VENV))/bin/pytest tests/production $(PYTEST_ARGS)
else
	@echo "*** the production-shape tests were NOT run: they need postgresql, redis-server, nginx and chromium."
endif

# The inner loop: lint, then everything but the slow tests, on SQLite and this Python only. Not a
# substitute for `make test`, which CI runs.
test-fast: install translations lint
	$(BIN)/pytest -m "not slow" -q $(PYTEST_ARGS)

# Speed is measured, not asserted: figures next to baselines from the same run, into docs/benchmarks.md.
bench: install translations
	$(BIN)/python -m bench

# Refresh the catalogs after adding or changing a user-facing string.
i18n-extract: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o incident_service/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i incident_service/translations/messages.pot -d incident_service/translations --no-fuzzy-matching --ignore-obsolete --width 100
	$(BIN)/python scripts/fill_english_catalog.py
	@echo "Now translate the empty entries in incident_service/translations/vi/LC_MESSAGES/messages.po"

clean:
	rm -rf $(VENV) $(NEWEST_VENV) instance .pytest_cache
