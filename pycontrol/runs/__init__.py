"""Run folders of backtests and training runs: provenance (``run.json``), discovery, and the
side-by-side comparison behind ``pycontrol runs``."""
