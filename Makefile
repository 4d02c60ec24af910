# CryptoPiggy — every target sets itself up from a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit bench chaos lint clean asyncapi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/piggy demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

chaos: $(STAMP)
	PIGGY_CHAOS_FULL=1 $(BIN)/python -m pytest -m chaos $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

asyncapi: $(STAMP)
	$(BIN)/python -m piggy.asyncapi

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .piggy .pytest_cache

users.acl: $(STAMP)  ## Redis ACL users for docker-compose; passwords from PIGGY_REDIS_PASSWORD_<SERVICE>
	$(BIN)/python -m shared.redis_acl --out users.acl
