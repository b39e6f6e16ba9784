"""Backtests: configuration, the run (engine in the Rust core, stepped in chunks), and the
run folder of docs/backtest-outputs.md."""
