"""Pre-trade risk limits from TOML (``configs/risk/default.toml``) into the Rust core.

The TOML is flat: one key per :class:`pycontrol.RiskEngine` limit (see docs/risk.md). A file
may name only the keys it changes; the rest keep the core's documented defaults. Unknown
keys, non-numeric values and invalid limits are all reported in one
:class:`pycontrol.ConfigError` naming the file, so a typo never silently drops a limit.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pycontrol import ConfigError, RiskEngine

DEFAULT_LIMITS_PATH = Path(__file__).resolve().parents[2] / "configs" / "risk" / "default.toml"


def load_risk_limits(path: str | Path | None = None) -> dict[str, float]:
    """Every limit (file values over the core's defaults), validated by the core."""
    p = Path(path) if path is not None else DEFAULT_LIMITS_PATH
    try:
        raw = tomllib.loads(p.read_text())
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from e
    bad = [
        f"{k} = {v!r} must be a number"
        for k, v in raw.items()
        if isinstance(v, bool) or not isinstance(v, int | float)
    ]
    if bad:
        raise ConfigError(f"{p}: RiskLimits: {'; '.join(bad)}")
    limits = {k: float(v) for k, v in raw.items()}
    try:
        return RiskEngine(limits).limits()
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from e


def risk_engine_from_toml(path: str | Path | None = None) -> RiskEngine:
    """A fresh :class:`pycontrol.RiskEngine` with the file's limits (ACTIVE, no denials)."""
    return RiskEngine(load_risk_limits(path))
