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
# cargo-auditable embeds the dependency list (Cargo.lock's crates and versions) in the
# binary, for `cargo audit bin` and other scanners; installed into ./.tools from crates.io.
CARGO_AUDITABLE_VERSION := 0.7.7
TOOLS := .tools
AUDITABLE := $(TOOLS)/bin/cargo-auditable
BUILD_PATH := PATH="$(CURDIR)/$(TOOLS)/bin:$(CURDIR)/$(VENV)/bin:$$PATH"
# arm64 is built only where its standard library is installed.
ARM64_TARGET := aarch64-unknown-linux-gnu
ARM64_BINARY := target/lambda-arm64/iam-password-rotation/bootstrap

.PHONY: demo demo-break-glass test unit-tests python-tests build dist demo-build bench lint clean

## demo: build, start the local AWS emulator, and rotate a demo user's password, step by step
demo: demo-build
	$(PY) scripts/demo.py --binary $(DEMO_BINARY)

## demo-break-glass: a console sign-in of an enrolled user leads to a delayed reset, end to end
demo-break-glass: demo-build
	$(PY) scripts/demo_break_glass.py --binary $(DEMO_BINARY)

## test: every test: Rust unit and adapter tests, the release build and its dist/, emulator,
## end-to-end, reliability suite and deployment checks
test: unit-tests dist python-tests

## unit-tests: Rust unit tests and SDK adapter tests
unit-tests:
	cargo test

## build: the release `bootstrap` (cargo lambda build --release, x86_64, through cargo auditable)
build: $(VENV)/.build-tools $(AUDITABLE)
	$(BUILD_PATH) cargo auditable lambda build --release --x86-64

## dist: what a release ships, in dist/: the bootstrap zip per architecture, a template per
## architecture that deploys it with no toolchain, the other templates, SHA256SUMS
dist: build
	rm -rf dist
	$(PY) scripts/dist.py package --arch x86_64 --bootstrap $(BINARY) --out dist
	@if rustup target list --installed 2>/dev/null | grep -qx $(ARM64_TARGET); then \
		echo "$(BUILD_PATH) cargo auditable lambda build --release --arm64 --lambda-dir target/lambda-arm64"; \
		$(BUILD_PATH) cargo auditable lambda build --release --arm64 --lambda-dir target/lambda-arm64 && \
		$(PY) scripts/dist.py package --arch arm64 --bootstrap $(ARM64_BINARY) --out dist; \
	else \
		echo "dist: arm64 skipped: the $(ARM64_TARGET) standard library is not installed (rustup target add $(ARM64_TARGET))"; \
	fi
	$(PY) scripts/dist.py checksums --out dist

$(AUDITABLE):
	cargo install --locked --quiet --root $(TOOLS) cargo-auditable --version $(CARGO_AUDITABLE_VERSION)

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
	rm -rf $(VENV) $(TOOLS) target dist tests/.logs examples/cdk/node_modules examples/cdk/cdk.out
