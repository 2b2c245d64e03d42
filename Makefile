# The habits of this project. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test check bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,redis,grpc,granian]'
	@rm -f $(VENV)/.installed-*; touch $@

## demo: start the example orders service with the whole production stack
demo: venv
	HTTP_ADDR=$${HTTP_ADDR:-127.0.0.1:8080} $(BIN)/python -m examples.orders

## test: the whole suite (unit and integration; needs redis-server and prometheus)
test: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

## check: lint and type-check
check: venv
	$(BIN)/ruff check src tests examples bench
	$(BIN)/mypy

## bench: Bastion against FastAPI and Litestar, in-process, in one run
bench: venv
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
