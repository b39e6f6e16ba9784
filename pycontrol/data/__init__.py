"""Market data: synthetic generation, ingestion and loaders."""

from pycontrol.data.manifest import Manifest

__all__ = ["Manifest"]
