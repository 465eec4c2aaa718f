# One command to see it work, one to test it. Everything lands in ./.venv, ./target and
# examples/cdk/node_modules.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# The deployable artifact, built by cargo-lambda (from .venv, with Zig) for x86_64.
BINARY := target/lambda/iam-password-rotation/bootstrap
# What the demos run: the same code built quickly (profile `demo` in Cargo.toml).
DEMO_BINARY := target/demo/iam-password-rotation

.PHONY: demo demo-break-glass test unit-tests python-tests build demo-build bench lint clean

## demo: build, start the local AWS emulator, and rotate a demo user's password, step by step
demo: demo-build
	$(PY) scripts/demo.py --binary $(DEMO_BINARY)

## demo-break-glass: a console sign-in of an enrolled user leads to a delayed reset, end to end
demo-break-glass: demo-build
	$(PY) scripts/demo_break_glass.py --binary $(DEMO_BINARY)

## test: every test: Rust unit and adapter tests, the release build, emulator, end-to-end,
## reliability suite and deployment checks
test: unit-tests build python-tests

## unit-tests: Rust unit tests and SDK adapter tests
unit-tests:
	cargo test

## build: the release `bootstrap` (cargo lambda build --release, x86_64)
build: $(VENV)/.build-tools
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --x86-64

# The demos' build (Cargo.toml, profile `demo`: the same code, unoptimised, never
# deployed) while the emulator's packages install: a fresh clone waits for the compiler alone.
demo-build:
	$(MAKE) --no-print-directory $(VENV)/.emulator & \
	cargo build --profile demo && wait $$!

## python-tests: the Python suites against the release bootstrap and the emulator
python-tests: $(VENV)/.installed
	ROTATION_BINARY=$(BINARY) $(PY) -m pytest tests

## bench: cold start against the floor and a Python baseline, size, memory with TLS, AWS calls,
## a fleet under IAM throttling; rewrites the tables of docs/performance.md
bench: build $(VENV)/.emulator
	cd bench/runtime-floor && CARGO_TARGET_DIR=$(CURDIR)/target cargo build --release
	$(PY) scripts/bench.py --binary $(BINARY) $(BENCH_ARGS)

## lint: formatting and clippy, as CI runs them
lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

# In parts, so that each command installs only what it runs: the emulator (`make demo`),
# the build toolchain (`make build`), and for `make test` also the deployment checks' linters.
$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.emulator: tests/requirements.txt | $(PY)
	$(PIP) -r tests/requirements.txt
	touch $@

$(VENV)/.build-tools: build-requirements.txt | $(PY)
	$(PIP) -r build-requirements.txt
	touch $@

$(VENV)/.installed: tests/deploy/requirements.txt $(VENV)/.emulator $(VENV)/.build-tools
	$(PIP) -r tests/deploy/requirements.txt
	touch $@

# One pip at a time in .venv, even under `make -j`.
.NOTPARALLEL:

clean:
	rm -rf $(VENV) target tests/.logs examples/cdk/node_modules examples/cdk/cdk.out
