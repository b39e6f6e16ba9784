"""`pycontrol train --config configs/train/<family>.toml`: one family end to end (walk-forward
evaluation over seeds beside the baselines, stacking, ONNX exports with parity, report,
MLflow tracking) into `runs/<family>/<run_id>/`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pycontrol.commands import add_command


def register(sub: Any) -> None:
    p = add_command(sub, "train")
    p.add_argument("--config", required=True, type=Path, help="configs/train/<family>.toml")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="runs root (default runs/)")
    p.add_argument(
        "--data-root", type=Path, default=None, help="root of relative data paths ($SHARED_DATA)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-tracking", action="store_true", help="skip MLflow for this run")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from pycontrol.training.config import TrainConfig
    from pycontrol.training.run import train

    config = TrainConfig.load(args.config)
    result = train(
        config,
        args.runs,
        data_root=args.data_root,
        progress=not args.no_progress,
        tracking=False if args.no_tracking else None,
    )
    print(f"run folder: {result.folder}  ({result.seconds:.1f} s)")
    for name, m in result.metrics["models"].items():
        a = m["aggregate"]
        print(
            f"{name:<16} accuracy {a['model']['accuracy']:.4f} +- {a['model']['accuracy_std']:.4f}"
            f"  best baseline {a['best_baseline']} {a['best_baseline_accuracy']:.4f}"
            f"  over it {a['accuracy_over_best_baseline']:+.4f}"
        )
    for name, man in result.manifests.items():
        par = man["parity"]
        print(
            f"export {name:<12} parity {'passed' if par['passed'] else 'FAILED'}: "
            f"{par['rows']} rows, max abs diff {par['max_abs_diff']:.2e}, "
            f"class agreement {par['class_agreement']:.4f} ({par['source']})"
        )
    if not result.parity_passed:
        print("error: an export failed its parity check (see parity.json)")
        return 1
    return 0
