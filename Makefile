# One command to see it work, one to test it. Everything lands in ./.venv and ./target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQUIREMENTS := tests/requirements.txt $(wildcard tests/deploy/requirements.txt)
BINARY := target/release/iam-password-rotation

.PHONY: demo test unit-tests python-tests build bench lint clean

## demo: build, start the local AWS emulator, and rotate a demo user's password, step by step
demo: $(VENV)/.installed build
	$(PY) scripts/demo.py --binary $(BINARY)

## test: every test: Rust unit and adapter tests, emulator, integration, reliability suite, deployment checks
test: unit-tests python-tests

## unit-tests: Rust tests (release profile, so the binary the Python suites run is built once)
unit-tests:
	cargo test --release

## python-tests: the Python suites against the release binary and the emulator
python-tests: $(VENV)/.installed
	ROTATION_BINARY=$(BINARY) $(PY) -m pytest -q tests/emulator tests/integration $(wildcard tests/suite) $(wildcard tests/deploy)

## build: the release binary
build:
	cargo build --release

## bench: measure binary size, cold start, memory and AWS calls per rotation
bench: $(VENV)/.installed build
	$(PY) scripts/bench.py --binary $(BINARY)

## lint: formatting and clippy, as CI runs them
lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

$(VENV)/.installed: $(REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(addprefix -r ,$(REQUIREMENTS))
	touch $@

clean:
	rm -rf $(VENV) target tests/.logs
