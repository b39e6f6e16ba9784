"""`pycontrol data ...`: data generation and ingestion."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("data", help="synthetic data, ingestion and manifests")
    p.add_subparsers(dest="data_command", required=True)
