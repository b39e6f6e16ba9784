"""`pycontrol train` end to end for the bar_timing family with the three sequence models
(LSTM, GRU, Transformer) and their stacking meta-learner, on real ES minute bars (Lean,
7-11 Oct 2013). Small settings (one epoch, tiny nets, two seeds) keep it to seconds; the
full family runs from configs/train/bar_timing.toml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from pycontrol.cli import main
from pycontrol.registry.contract import check_export

pytestmark = pytest.mark.slow

NET = "lookback = 30, hidden = 8, layers = 1, epochs = 1, batch_size = 256, lr = 3e-3, threads = 1"
CONFIG = f"""
family = "bar_timing"
seeds = [0, 1]

[data]
path = "bars/lean-es-minute"

[features]
timeframes = ["1m"]
max_warmup = 60

[labels]
kind = "direction"
horizon = 5
dead_zone = 0.5
half_spread = 0.125
fees = 0.05

[split]
n_folds = 2
min_train = 3000
embargo = 5

[costs]
half_spread = 0.125
fees = 0.05
threshold = 0.5

[[models]]
name = "lstm"
kind = "lstm"
params = {{ {NET} }}

[[models]]
name = "gru"
kind = "gru"
params = {{ {NET} }}

[[models]]
name = "transformer"
kind = "transformer"
params = {{ {NET}, heads = 2 }}

[stacking]
recent = 200
"""


def test_bar_timing_family_trains_exports_and_stacks_sequence_models(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bar_timing_small.toml"
    config.write_text(CONFIG)
    runs = tmp_path / "runs"
    rc = main(
        ["train", "--config", str(config), "--runs", str(runs), "--data-root", str(shared_data),
         "--no-progress", "--no-tracking"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    (folder,) = [p for p in (runs / "bar_timing").iterdir() if p.is_dir()]
    exports = folder / "export"
    assert sorted(p.name for p in exports.iterdir()) == ["gru", "lstm", "stacking", "transformer"]
    for name in ("lstm", "gru", "transformer"):
        man = check_export(exports / name)  # schema, cross-field rules, file hashes
        assert man["kind"] == name and man["sequence"] == {"lookback": 30}
        n_features = len(man["feature_set"]["names"])
        assert man["onnx"]["inputs"] == [
            {"name": "input", "dtype": "float32", "shape": [-1, 30, n_features]}
        ]
        assert man["class_values"] == [-1, 0, 1]
        assert man["parity"]["passed"] and man["parity"]["rows"] >= 10_000
        assert man["seeds"] == [0, 1]
        # the graph runs on raw feature windows drawn inside the training bounds
        lo, hi = np.array(man["input_bounds"]["min"]), np.array(man["input_bounds"]["max"])
        u = np.random.default_rng(1).uniform(size=(64, 30, n_features))
        x = (lo + u * (hi - lo)).astype("f4")
        sess = ort.InferenceSession(str(exports / name / "model.onnx"))
        label, proba = sess.run(["label", "probabilities"], {"input": x})
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        assert set(label.tolist()) <= {-1, 0, 1}
    st = check_export(exports / "stacking")
    assert [m["kind"] for m in st["members"]] == ["lstm", "gru", "transformer"]
    assert st["onnx"]["inputs"][0]["shape"] == [-1, 9]
    html = (folder / "report.html").read_text()
    for needle in ("baseline: majority", "baseline: logistic", "transformer", "net of costs"):
        assert needle in html, needle
