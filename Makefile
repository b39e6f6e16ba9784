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

.PHONY: setup demo test test-rust test-py lint fmt bench clean train browser fuzz

# Set-up steps print what they do and pip/cargo show their progress: a first `make demo` on a
# fresh machine takes minutes (PyPI downloads, then the release build of the Rust core).
STEP = @echo "==> [$$(date -u +%H:%M:%S)]"

setup: $(VENV)/.deps $(VENV)/.ext

$(VENV)/.deps: requirements.lock
	$(STEP) "setup 1/3: virtualenv $(VENV)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(STEP) "setup 2/3: pinned Python packages (requirements.lock; torch and lightgbm are large)"
	$(PY) -m pip install --progress-bar off $(FIND_LINKS) -r requirements.lock
	touch $@

$(VENV)/.ext: $(VENV)/.deps $(RUST_SRC)
	$(STEP) "setup 3/3: Rust core, release build with LTO (several minutes on 2 cores)"
	$(BIN)/maturin develop --release
	touch $@

# Headless Chromium for the browser tests (tests/browser): Debian's packages, installed only
# when missing (apt-get needs root; sudo is used otherwise).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "==> installing chromium and chromium-driver (browser tests)"; \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	fi

demo: setup
	$(STEP) "demo: pycontrol demo (5 stages, each printed with its time)"
	$(BIN)/pycontrol demo

# One model family end to end: `make train FAMILY=regime_hourly` (configs/train/<family>.toml).
FAMILY ?= regime_hourly
train: setup
	$(BIN)/pycontrol train --config configs/train/$(FAMILY).toml

test: setup test-rust test-py

# ONNX Runtime for Rust tests and benches: the shared library inside the onnxruntime wheel
# (recursive `=`: globbed when a recipe runs, after setup installed the wheel).
ORT_DYLIB = $(firstword $(wildcard $(abspath $(VENV))/lib/python3.11/site-packages/onnxruntime/capi/libonnxruntime.so.*))

# A fixed proptest seed: the same cases in every CI run, so a failure reproduces. Cargo
# prints each crate it compiles and each test binary it runs; `-q` after `--` keeps the test
# output to a dot per test and a result line per binary (never minutes of silence).
test-rust: $(VENV)/.deps
	$(STEP) "rust tests: build, then one line of dots per test binary"
	ORT_DYLIB_PATH=$(ORT_DYLIB) PROPTEST_RNG_SEED=20261120 cargo test --workspace --exclude pycontrol-core -- -q

test-py: setup browser
	$(STEP) "python tests"
	$(BIN)/pytest -q

# The fuzz targets run briefly inside `make test` (core-rs/fuzz under cargo test, tests/fuzz
# under pytest); `make fuzz` runs them long, with fresh random seeds for the Rust targets.
FUZZ_CASES ?= 50000
FUZZ_EXAMPLES ?= 2000
fuzz: setup
	FUZZ_CASES=$(FUZZ_CASES) cargo test -p tradecore-fuzz -- --test-threads 2
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/fuzz tests/unit/test_decode_fuzz.py

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

# Peers (nautilus_trader, hftbacktest) get their own virtualenv: hftbacktest caps numpy below
# the project's pin. `make bench` stays out of `make test`; BENCH_ARGS go to criterion,
# STAGE_ROUNDS to the interleaved stage split (fewer for a large TRADECORE_BENCH_MBO file).
BENCH_VENV := .venv-bench
BENCH_ARGS ?=
STAGE_ROUNDS ?= 40
BACKTEST_ROUNDS ?= 20

$(BENCH_VENV)/.deps: bench/requirements-peers.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements-peers.txt
	touch $@

# The large-file run: 10M synthetic events (ES+NQ), generated once by our own generator.
SYNTH_10M := build/bench/synth-10m.mbo.dbn.zst

$(SYNTH_10M): | setup
	mkdir -p $(dir $@)
	$(BIN)/pycontrol data synth --out $@ --events 10000000 --seed 7 --instruments ES NQ

bench: setup $(BENCH_VENV)/.deps $(SYNTH_10M)
	cargo bench -p tradecore-bench --bench book -- $(BENCH_ARGS)
	cargo bench -p tradecore-bench --bench features -- $(BENCH_ARGS)
	cargo bench -p tradecore-bench --bench lobster -- $(BENCH_ARGS)
	cargo bench -p tradecore-bench --bench risk -- $(BENCH_ARGS)
	cargo bench -p tradecore-bench --bench broker -- $(BENCH_ARGS)
	cargo bench -p tradecore-bench --bench riskmodel -- $(BENCH_ARGS)
	cargo bench -p tradecore-bench --bench drift -- $(BENCH_ARGS)
	cargo run --quiet --release -p tradecore-bench --example risk_cpu
	cargo run --quiet --release -p tradecore-bench --example stages -- $(STAGE_ROUNDS)
	TRADECORE_BENCH_MBO=$(SYNTH_10M) cargo run --quiet --release -p tradecore-bench --example stages -- 3
	$(BENCH_VENV)/bin/python bench/peers/book_peers.py
	$(PY) bench/peers/features_polars.py
	$(PY) bench/session_zmq.py
	$(PY) bench/session_restart.py
	$(PY) bench/webhook_latency.py --alerts 500
	$(PY) bench/engine_latency.py
	cargo build --quiet --release --manifest-path bench/peers/databento_rust_live/Cargo.toml --target-dir build/bench/rust-live
	$(PY) bench/databento_live.py --rust-client build/bench/rust-live/release/databento_rust_live
	$(PY) bench/peers/make_infer_models.py --out build/bench/models
	ORT_DYLIB_PATH=$(ORT_DYLIB) cargo bench -p tradecore-bench --bench infer -- $(BENCH_ARGS)
	$(PY) bench/peers/infer_peers.py --models build/bench/models
	cargo run --quiet --release -p tradecore-bench --example backtest -- $(BACKTEST_ROUNDS)
	$(BENCH_VENV)/bin/python bench/peers/backtest_peers.py
	$(PY) bench/backtest_memory.py --runs 100

clean:
	rm -rf target $(VENV) $(BENCH_VENV) build
