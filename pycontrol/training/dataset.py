"""The dataset of a training run: bars (resampled if the config says so), features from the
Rust engine (:func:`pycontrol.compute_features`, the code the live core runs), labels, and
the rows a model may use.

Features are rounded to float32 once here: the engine feeds float32 to the exported model,
so training, evaluation and the parity check all see exactly the values it will see.
A usable row has a label and finite features over its whole input window (``lookback``
bars, 1 for tabular models): warm-up rows are dropped before splitting, never imputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import pycontrol
from pycontrol.data.manifest import sha256_file
from pycontrol.training.config import DataConfig, FeaturesConfig, TrainConfig, TrainConfigError
from pycontrol.training.errors import fail
from pycontrol.training.labels import (
    DirectionConfig,
    RegimeConfig,
    TripleBarrierConfig,
    direction_labels,
    regime_labels,
    triple_barrier_labels,
)
from pycontrol.training.splits import PurgedWalkForward, feature_lookback

Arr = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Dataset:
    """``features`` (bars x features, float32 values held as float64, NaN = not warmed up)
    covers every bar; ``rows`` are the usable bar indices in time order and ``y``,
    ``last_return`` (the last completed one-bar return), ``next_change`` (``close[t+1] -
    close[t]``, the report strategy's P&L per unit) are aligned with ``rows``."""

    bars: pl.DataFrame
    features: Arr
    names: list[str]
    feature_set: pycontrol.FeatureSet
    rows: Arr
    y: Arr
    classes: Arr
    last_return: Arr
    next_change: Arr
    label_end: Arr
    timeframe: str
    lookback: int
    data_sha256: list[str]

    def splitter(self, config: TrainConfig) -> PurgedWalkForward:
        """The walk-forward over ``rows``: purge covers the label horizon plus the feature
        lookback plus the sequence window (a window reaches ``lookback - 1`` rows further
        back than its last row's features)."""
        h = config.labels.horizon
        s = config.split
        return PurgedWalkForward(
            n_folds=s.n_folds,
            label_horizon=h,
            feature_lookback=feature_lookback(self.feature_set.specs(), self.timeframe)
            + self.lookback
            - 1,
            embargo=h if s.embargo is None else s.embargo,
            min_train=s.min_train,
            window=s.window,  # type: ignore[arg-type]
            train_size=s.train_size,
        )


def input_sha256(path: Path) -> list[str]:
    """sha256 of every input file (a folder: each file in name order), as the data
    manifest records them."""
    if path.is_dir():
        return [sha256_file(p) for p in sorted(path.iterdir()) if p.is_file()]
    return [sha256_file(path)]


def load_model_bars(data: DataConfig, data_root: Path | None = None) -> tuple[pl.DataFrame, Path]:
    """The bars the model trains on (OHLCV only) and the resolved input path."""
    path = data.resolve(data_root)
    if not path.exists():
        fail(TrainConfigError, "[data] path", [f"{path} does not exist (set SHARED_DATA?)"])
    if data.source == "trades":
        return trade_bars(path, data), path
    return model_bars(pycontrol.load_bars(path, contract=data.contract), data), path


def trade_bars(path: Path, data: DataConfig) -> pl.DataFrame:
    """OHLCV of one instrument's trades in the DBN file ``path`` at ``data.timeframe``."""
    raw: pl.DataFrame = pycontrol.build_bars(path, data.timeframe)
    ids = sorted(set(raw["instrument_id"].to_list()))
    if data.instrument_id is not None:
        if data.instrument_id not in ids:
            fail(
                TrainConfigError,
                "[data] instrument_id",
                [f"{data.instrument_id} has no trades in {path} (instruments: {ids})"],
            )
        raw = raw.filter(pl.col("instrument_id") == data.instrument_id)
    elif len(ids) != 1:
        fail(
            TrainConfigError,
            "[data] instrument_id",
            [f"{path} has trades of {len(ids)} instruments {ids}: pick one"],
        )
    return raw.select("ts", "open", "high", "low", "close", "volume")


def model_bars(raw: pl.DataFrame, data: DataConfig) -> pl.DataFrame:
    """OHLCV of ``raw`` at the model timeframe (resampled by the Rust resampler)."""
    bars = raw.select("ts", "open", "high", "low", "close", "volume")
    if data.resample is not None:
        bars = pycontrol.resample_bars(bars, data.resample)
    return bars


def feature_set(config: FeaturesConfig) -> pycontrol.FeatureSet:
    """The configured feature set: explicit names, or the default set's features of the
    chosen timeframes whose warm-up fits ``max_warmup``."""
    if config.names is not None:
        try:
            return pycontrol.FeatureSet(list(config.names))
        except pycontrol.ConfigError as e:
            fail(TrainConfigError, "[features] names", [str(e)])
    specs = pycontrol.FeatureSet.default().specs()
    names = [
        s["name"]
        for s in specs
        if s["timeframe"] in config.timeframes and int(s["warmup"]) <= config.max_warmup
    ]
    if not names:
        fail(
            TrainConfigError,
            "[features]",
            [
                f"no default feature has timeframe in {config.timeframes} and warm-up <= "
                f"{config.max_warmup}"
            ],
        )
    return pycontrol.FeatureSet(names)


def _labels(
    bars: pl.DataFrame, cfg: RegimeConfig | DirectionConfig | TripleBarrierConfig
) -> tuple[Arr, Arr]:
    if isinstance(cfg, RegimeConfig):
        df = regime_labels(bars, cfg)
        y = df["regime_code"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    elif isinstance(cfg, TripleBarrierConfig):
        df = triple_barrier_labels(bars, cfg)
        y = df["tb_label"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    else:
        df = direction_labels(bars, cfg)
        y = df["label"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    return y, df["label_end"].to_numpy()


def build_dataset(
    bars: pl.DataFrame,
    config: TrainConfig,
    *,
    lookback: int = 1,
    data_sha256: list[str] | None = None,
) -> Dataset:
    """Features, labels and usable rows of ``bars`` (already at the model timeframe)."""
    fs = feature_set(config.features)
    tf = config.data.model_timeframe
    feats = pycontrol.compute_features(bars, fs, tf)
    names = fs.names()
    X = feats.select(names).to_numpy().astype(np.float32).astype(np.float64)
    y, label_end = _labels(bars, config.labels)
    close = bars["close"].cast(pl.Float64).to_numpy()
    last = np.full(len(close), np.nan)
    last[1:] = np.diff(close)
    nxt = np.full(len(close), np.nan)
    nxt[:-1] = np.diff(close)
    finite = np.isfinite(X).all(axis=1)
    # a window is usable when all of its `lookback` rows are: a run of finite rows that long
    run = np.zeros(len(finite), dtype=np.int64)
    count = 0
    for i, ok in enumerate(finite):
        count = count + 1 if ok else 0
        run[i] = count
    usable = (run >= lookback) & np.isfinite(y) & np.isfinite(last)
    rows = np.flatnonzero(usable)
    if rows.size == 0:
        fail(
            TrainConfigError,
            "dataset",
            [
                f"no usable rows: {bars.height} bars, features warm up over "
                f"{int((~finite).sum())} rows, {int(np.isfinite(y).sum())} labelled"
            ],
        )
    return Dataset(
        bars=bars,
        features=X,
        names=names,
        feature_set=fs,
        rows=rows,
        y=y[rows].astype(np.int64),
        classes=np.unique(y[rows]).astype(np.int64),
        last_return=last[rows],
        next_change=nxt[rows],
        label_end=label_end[rows],
        timeframe=tf,
        lookback=lookback,
        data_sha256=list(data_sha256 or []),
    )
