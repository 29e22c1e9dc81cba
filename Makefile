# Handoff Hub — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ACTIONS_VENV := .venv-actions
APT_PACKAGES := redis-server postgresql chromium nginx

.PHONY: demo test test-sqlite test-prod lint setup embeddings system-packages actions-venv serve serve-prod bench clean

# The demo keeps one secret key across runs so logins and widget sessions survive restarts.
demo: setup
	test -s .demo-secret || $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > .demo-secret
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py setup_demo
	SECRET_KEY="$$(cat .demo-secret)" $(VENV)/bin/daphne -b 127.0.0.1 -p 8000 handoff_hub.asgi:application

test: system-packages setup embeddings actions-venv lint
	$(MAKE) test-sqlite
	$(MAKE) test-prod

test-sqlite:
	$(PY) -m pytest -q

test-prod:
	$(PY) -m tests.services -- $(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The venv is rebuilt only when requirements.txt changes.
setup: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# The optional dense-embedding featuriser (installed for the tests; `make embeddings` for users).
embeddings: $(VENV)/.embeddings-installed
$(VENV)/.embeddings-installed: requirements-embeddings.txt $(VENV)/.installed
	$(PY) -m pip install -q --no-deps -r requirements-embeddings.txt
	touch $@

actions-venv: $(ACTIONS_VENV)/.installed
$(ACTIONS_VENV)/.installed: requirements-actions.txt
	test -x $(ACTIONS_VENV)/bin/python || $(PYTHON) -m venv $(ACTIONS_VENV)
	$(ACTIONS_VENV)/bin/python -m pip install -q -r requirements-actions.txt
	touch $@

# As root with apt, install the services the suite runs against (PostgreSQL, Redis, Chromium).
system-packages:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing system packages:$$missing (install them, or run as root)"; exit 1; \
	  fi; \
	fi

serve: setup
	$(VENV)/bin/daphne -b 127.0.0.1 -p 8000 handoff_hub.asgi:application

# The production topology on loopback: PostgreSQL + Redis + $(WORKERS) hub processes + nginx.
# DATA_DIR keeps the database between runs (default: a temporary one); Ctrl-C stops it all.
WORKERS ?= 2
PORT ?= 8080
serve-prod: setup system-packages
	test -s .demo-secret || $(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > .demo-secret
	SECRET_KEY="$$(cat .demo-secret)" $(PY) -m deploy.serve_prod --workers $(WORKERS) --port $(PORT) \
	  $(if $(DATA_DIR),--data-dir $(DATA_DIR)) --demo

# The hub's benchmarks (docs/benchmarks.md); each prints progress and its figures.
bench: setup system-packages
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(ACTIONS_VENV) .models staticfiles db.sqlite3 .test-db.sqlite3
