# CryptoPiggy — every target sets itself up from a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The whole test run is bounded too, so a hang outside any one test fails instead of stalling CI.
TEST_LIMIT ?= 60m

.PHONY: demo test unit bench profile chaos lint typecheck lock docs image image-dashboard container-test clean asyncapi users.acl

# Exactly the versions CI tested (requirements.lock, hashes checked), then the project itself.
# `pip check` fails when pyproject.toml asks for something the lock lacks: run `make lock`.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip check || { echo "requirements.lock does not cover pyproject.toml: run make lock"; exit 1; }
	touch $(STAMP)

# Regenerate requirements.lock after a pyproject.toml change (keeps existing pins that still
# fit; `make lock LOCK_ARGS=--upgrade` moves everything to the newest allowed versions).
lock:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q pip-tools==7.6.2
	$(BIN)/pip-compile -q --extra dev --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links $(LOCK_ARGS) -o requirements.lock pyproject.toml

demo: $(STAMP)
	PIGGY_HOME=$(CURDIR)/.piggy $(BIN)/piggy demo $(ARGS)

test: $(STAMP)
	timeout --kill-after=30s $(TEST_LIMIT) $(BIN)/python -m pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

chaos: $(STAMP)
	PIGGY_CHAOS_FULL=1 $(BIN)/python -m pytest -m chaos $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

# py-spy on the executor and the gateway during a paced live run and a paper backlog: flame
# graphs and top entries under bench/profiles/ (ARGS="--quick" for a short one).
profile: $(STAMP)
	$(BIN)/python -m bench.profile $(ARGS)

asyncapi: $(STAMP)
	$(BIN)/python -m piggy.asyncapi

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# docs/architecture.md's event flow, generated from the services' handler tables.
docs: $(STAMP)
	$(BIN)/python -m scripts.gen_architecture

# The images docker-compose.yml runs, built locally (nothing pulled): piggy-redis:local and
# cryptopiggy:local FROM piggy-python:local (image-dashboard: also cryptopiggy-dashboard:local,
# for `docker-compose --profile dashboard`). Uses the engine DOCKER_HOST points at.
image: $(STAMP)
	bash scripts/build-redis-image.sh piggy-redis:local
	bash scripts/build-image.sh cryptopiggy:local

image-dashboard: $(STAMP)
	bash scripts/build-redis-image.sh piggy-redis:local
	bash scripts/build-image.sh --dashboard cryptopiggy:local

# docker-compose.yml run for real: 2 gateways, 2 executors, credentials, strategy, Redis and
# the sandbox in containers (host networking, free ports), a live $2 buy through a gateway.
container-test: image
	PIGGY_CONTAINER_TEST=1 $(BIN)/python -m pytest -m container tests/container $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .piggy .pytest_cache .image

# Redis ACL users for docker-compose: passwords from PIGGY_REDIS_PASSWORD_<SERVICE> (the
# environment or .env; missing ones are generated into .env), users.acl holds only hashes.
users.acl: $(STAMP)
	$(BIN)/python -m shared.redis_acl --env-file .env --out users.acl
