# The two commands a fresh machine needs: `make run` and `make test`. Both install what they
# need into .venv first and are safe to run again.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run check-samples test scenarios lint fmt typecheck bench bench-http clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/replygate serve

check-samples: $(STAMP)
	$(BIN)/replygate check --policy policies --requests examples/requests.jsonl

test: $(STAMP)
	$(BIN)/python -m pytest -n 2

scenarios: $(STAMP)
	$(BIN)/replygate test --coverage --min-coverage 100

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p replygate.policy_dsl -p replygate.engine -p replygate.decision_log
	$(BIN)/replygate lint policies
	$(BIN)/replygate fmt --check policies

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/replygate fmt policies

typecheck: $(STAMP)
	$(BIN)/mypy -p replygate.policy_dsl -p replygate.engine -p replygate.decision_log

bench: $(STAMP)
	$(BIN)/python -m bench

bench-http: $(STAMP)
	$(BIN)/python -m bench.bench_http

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .hypothesis build *.egg-info
