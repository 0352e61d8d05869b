# Two commands do all set-up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CATALOGS := $(wildcard incident_service/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run test install translations i18n-extract clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

translations: $(COMPILED)

.env:
	printf 'APP_ENV=development\n' > .env

run: install translations .env
	APP_ENV=development $(BIN)/flask --app wsgi dev serve

test: install translations
	$(BIN)/pytest $(PYTEST_ARGS)

# Refresh the catalogs after adding or changing a user-facing string.
i18n-extract: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o incident_service/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i incident_service/translations/messages.pot -d incident_service/translations --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) instance .pytest_cache
