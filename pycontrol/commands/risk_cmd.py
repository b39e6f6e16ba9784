"""`pycontrol risk fit`: fits a GARCH(1,1)/EGARCH(1,1) (``arch``) to the close-to-close log
returns of real bars, optionally a t copula against a reference instrument's bars, and
writes the params file the engine's streaming risk model reads (``[risk_model] params``
of a backtest config; format in docs/risk.md)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from pycontrol.commands import add_command, add_sub
from pycontrol.commands.argtypes import POSITIVE, int_range

AT_LEAST_2 = int_range(2)  # a return or a correlation needs two points

_UNIT_NS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}


def register(sub: Any) -> None:
    p = add_command(sub, "risk")
    rsub = p.add_subparsers(dest="risk_command", required=True, metavar="SUBCOMMAND")
    fit = add_sub(
        rsub,
        "fit",
        "fit (E)GARCH(1,1) to bars and write the params file the engine reads",
        "pycontrol risk fit --bars ../shared/data/bars/lean-es-minute/20131007_trade.zip "
        "--timeframe 1m --out params.json",
    )
    fit.add_argument("--bars", required=True, type=Path, help="bar file (any pycontrol format)")
    fit.add_argument("--timeframe", default="1m", help="the bars' interval (1s, 1m, 5m, 1h)")
    fit.add_argument("--kind", default="garch", choices=("garch", "egarch"))
    fit.add_argument("--dist", default="t", choices=("normal", "t"))
    fit.add_argument("--contract", default=None, help="Lean bars: contract month (YYYYMM)")
    fit.add_argument(
        "--last", type=AT_LEAST_2, default=None, help="fit on the last N returns only (>= 2)"
    )
    fit.add_argument("--reference", type=Path, default=None, help="reference bars (ES, NQ)")
    fit.add_argument("--reference-contract", default=None)
    fit.add_argument("--reference-id", type=int, default=None, help="its instrument id")
    fit.add_argument("--corr-window", type=AT_LEAST_2, default=500)
    fit.add_argument("--min-bars", type=POSITIVE, default=30)
    fit.add_argument("--out", required=True, type=Path, help="params JSON to write")
    fit.set_defaults(func=_fit)


def interval_ns(timeframe: str) -> int:
    from pycontrol.risk.errors import RiskInputError

    m = re.fullmatch(r"(\d+)([smh])", timeframe)
    if not m or int(m[1]) == 0:
        raise RiskInputError(f"timeframe: expected e.g. 1s, 1m, 5m, 1h, got {timeframe!r}")
    return int(m[1]) * _UNIT_NS[m[2]]


def _closes(df: Any, what: str) -> Any:
    import numpy as np

    from pycontrol.risk.errors import RiskInputError

    c = df["close"].to_numpy().astype(np.float64)
    if c.size < 2 or not np.all(np.isfinite(c) & (c > 0)):
        raise RiskInputError(f"{what}: closes must be finite prices > 0, at least two")
    return c


def check_spacing(ts: Any, iv: int, timeframe: str, what: str) -> None:
    """Refuses bars whose typical spacing (the median gap, robust to nights and weekends) is
    not ``timeframe`` (``ts``: a polars datetime Series): a model fitted on 1-minute returns
    is no hourly model."""
    from pycontrol.risk.errors import RiskInputError

    gaps = ts.dt.epoch("ns").diff().drop_nulls()
    gaps = gaps.filter(gaps > 0)
    if gaps.len() == 0:
        return
    median = int(gaps.median())
    if median != iv:
        raise RiskInputError(
            f"{what}: bars are {median / 1e9:g} s apart (median gap) but --timeframe "
            f"{timeframe} means {iv / 1e9:g} s; resample the bars or pass the matching timeframe"
        )


def _positive(name: str, value: int | None, least: int = 1) -> None:
    from pycontrol.risk.errors import RiskInputError

    if value is not None and value < least:
        raise RiskInputError(f"--{name}: must be at least {least}, got {value}")


def fit_params(args: argparse.Namespace) -> dict[str, Any]:
    """The params dict of a ``risk fit`` command line (also used by tests)."""
    import numpy as np
    import polars as pl

    from pycontrol.bars import load_bars
    from pycontrol.risk.copula import fit_copula
    from pycontrol.risk.garch import SCALE, fit_garch, params_file

    iv = interval_ns(args.timeframe)
    _positive("last", args.last, 2)
    _positive("corr-window", args.corr_window, 2)
    _positive("min-bars", args.min_bars, 1)
    bars = load_bars(args.bars, contract=args.contract)
    check_spacing(bars["ts"], iv, args.timeframe, str(args.bars))
    r = 100.0 * np.diff(np.log(_closes(bars, str(args.bars))))
    if args.last is not None:
        r = r[-args.last :]
    fit = fit_garch(r, kind=args.kind, dist=args.dist)
    copula = None
    pairs = None
    if args.reference is not None:
        ref = load_bars(args.reference, contract=args.reference_contract)
        check_spacing(ref["ts"], iv, args.timeframe, str(args.reference))
        j = bars.select("ts", "close").join(
            ref.select("ts", pl.col("close").alias("ref")), on="ts", how="inner"
        )
        x = 100.0 * np.diff(np.log(_closes(j, "aligned bars")))
        y = 100.0 * np.diff(np.log(j["ref"].to_numpy().astype(np.float64)))
        copula = fit_copula(x, y, "t")
        pairs = int(x.size)
    meta = {
        "bars": str(args.bars),
        "timeframe": args.timeframe,
        "returns": int(r.size),
        "loglik": float(fit.result.loglikelihood),
        "start": str(bars["ts"][0]),
        "end": str(bars["ts"][-1]),
        "aligned_pairs": pairs,
        "percent_scale": fit.scale,
        "units": f"raw log returns x scale ({SCALE:g} x {fit.scale:g}) = arch's fit units",
    }
    return params_file(
        fit,
        iv,
        copula=copula,
        reference_instrument_id=args.reference_id,
        corr_window=args.corr_window,
        min_bars=args.min_bars,
        meta=meta,
    )


def _fit(args: argparse.Namespace) -> int:
    out = fit_params(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    vol = out["regime_cuts"]
    print(
        f"{out['kind']}-{out['dist']} on {out['fit']['returns']} returns: "
        f"omega {out['omega']:.4g} alpha {out['alpha']:.4f} beta {out['beta']:.4f}"
        + (f" nu {out['nu']:.2f}" if "nu" in out else "")
        + f"; in-sample vol quartiles {vol[0]:.3g} / {vol[1]:.3g}"
        + (
            f"; copula rho {out['copula']['rho']:.3f} nu {out['copula']['nu']:g}"
            if "copula" in out
            else ""
        )
        + f" -> {args.out}"
    )
    return 0
