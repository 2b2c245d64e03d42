# The habits of this project. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstalled when the project or its C module changes (the install compiles it).
HASH   := $(shell cat pyproject.toml hatch_build.py src/bastion/log/_native.c src/bastion/otel/_native.c | cksum | cut -d' ' -f1)
# `make demo` installs what the demo runs; the tests and checks add the dev extras.
DEMO_STAMP := $(VENV)/.installed-demo-$(HASH)
DEV_STAMP  := $(VENV)/.installed-dev-$(HASH)
DEV_EXTRAS := dev,redis,grpc
# uv (bootstrapped from PyPI into the venv) installs in seconds; pip when uv cannot be had.
install = if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install -q --python $(BIN)/python $(1); \
          else $(BIN)/python -m pip install -q $(1); fi

.PHONY: demo test check bench bench-served bench-bodies venv system-deps clean

venv: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q uv >/dev/null 2>&1 || echo "uv unavailable: installing with pip"

# The demo serves HTTP and gRPC, so it needs the grpc extra.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@$(call install,-e '.[grpc]')
	@rm -f $(VENV)/.installed-demo-*; touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@$(call install,-e '.[$(DEV_EXTRAS)]')
	@rm -f $(VENV)/.installed-*; touch $@ $(DEMO_STAMP)

## system-deps: the Debian packages the integration tests start, when missing
system-deps:
	@scripts/install-system-deps

## demo: start the example orders service with the whole production stack
demo: $(DEMO_STAMP)
	HTTP_ADDR=$${HTTP_ADDR:-127.0.0.1:8080} GRPC_ADDR=$${GRPC_ADDR:-127.0.0.1:8082} \
		$(BIN)/python -m examples.orders

## test: the whole suite (unit and integration, against real servers on 127.0.0.1)
test: system-deps venv
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

## check: lint and type-check
check: venv
	$(BIN)/ruff check src tests examples bench hatch_build.py
	$(BIN)/mypy

## bench: Bastion against FastAPI and Litestar, in-process, in one run
bench: venv
	@$(call install,-e '.[bench]')
	$(BIN)/python -m bench.run $(BENCH_ARGS)

## bench-served: the same peers over real sockets with wrk, table and chart (a few minutes)
bench-served: system-deps venv
	@$(call install,-e '.[bench]')
	$(BIN)/python -m bench.served $(BENCH_ARGS)

## bench-bodies: 1 GiB up and 1 GiB down through a real server, its peak RSS (a minute)
bench-bodies: venv
	$(BIN)/python -m bench.bodies $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
