# chatdesk: `make run` to try it, `make test` to check it.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= $(if $(CHATDESK_CONFIG),$(CHATDESK_CONFIG),examples/chatdesk.yaml)
# Who you are in the console (make run AS=lead:maija); AS is also make's assembler variable.
ifeq ($(origin AS),default)
AS := customer:ACME
endif

.PHONY: install run serve console test faults lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $@

# With no chat credentials this opens the local console channel; with Slack or Teams
# credentials in the environment it starts the HTTP server.
run: install
	$(BIN)/chatdesk db migrate
	$(BIN)/chatdesk config apply $(CONFIG)
	$(BIN)/chatdesk kb import examples/kb
	@if [ -n "$$SLACK_BOT_TOKEN$$MICROSOFT_APP_ID$$SLACK_APP_TOKEN" ]; then \
		CHATDESK_CONFIG=$(CONFIG) $(BIN)/chatdesk serve; \
	else \
		echo "No Slack or Teams credentials: opening the local console (try: /helpdesk help)."; \
		CHATDESK_CONFIG=$(CONFIG) $(BIN)/chatdesk console --as $(AS); \
	fi

serve: install
	$(BIN)/chatdesk db migrate
	$(BIN)/chatdesk config apply $(CONFIG)
	CHATDESK_CONFIG=$(CONFIG) $(BIN)/chatdesk serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy bot kb storage adapters chatdesk

# Installs PostgreSQL from Debian packages when missing, starts a throwaway cluster
# on loopback, runs lint and the whole suite against SQLite and PostgreSQL.
test: install
	bash scripts/test.sh

# The fault tests in full: 2,000 Slack events against `chatdesk serve --workers 4` while workers
# are killed, the Web API answers 429/5xx and a table is locked (make test runs a short form).
faults: install
	bash scripts/faults.sh

bench: install
	bash scripts/bench.sh

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache chatdesk.sqlite3*
