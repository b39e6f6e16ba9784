# The one command surface. `make demo` and `make test` each do the whole set-up first:
# virtualenv, pinned Python deps, and the Rust extension (maturin develop --release).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# The CPU torch wheel sits beside the repo on our machines; elsewhere PyPI serves it.
FIND_LINKS := $(if $(wildcard ../shared/wheels),--find-links ../shared/wheels,)
SHARED_DATA ?= $(abspath ../shared/data)
export SHARED_DATA
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(BIN)):$(PATH)
RUST_SRC := $(shell find core-rs -name '*.rs' -o -name Cargo.toml) Cargo.toml Cargo.lock pyproject.toml

.PHONY: setup demo test test-rust test-py lint fmt bench clean

setup: $(VENV)/.deps $(VENV)/.ext

$(VENV)/.deps: requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(FIND_LINKS) -r requirements.lock
	touch $@

$(VENV)/.ext: $(VENV)/.deps $(RUST_SRC)
	$(BIN)/maturin develop --release --quiet
	touch $@

demo: setup
	$(BIN)/pycontrol demo

test: setup test-rust test-py

test-rust:
	cargo test --workspace --exclude pycontrol-core --quiet

test-py: setup
	$(BIN)/pytest -q

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(BIN)/ruff check pycontrol tests bench
	$(BIN)/ruff format --check pycontrol tests bench
	$(BIN)/mypy

fmt:
	cargo fmt --all
	$(BIN)/ruff format pycontrol tests bench
	$(BIN)/ruff check --fix pycontrol tests bench

bench: setup
	$(PY) -m pip install --quiet -r bench/requirements-peers.txt
	cargo bench -p tradecore-bench
	$(PY) bench/peers/book_peers.py
	$(PY) bench/peers/features_polars.py

clean:
	rm -rf target $(VENV) build
