"""Model registry: manifests validated against models/contracts/, JSON-Logic promotion gates
(models/gates/<family>.json, evaluated by the Rust core), versions with candidate -> staging ->
production aliases and an append-only, hash-chained audit trail (docs/registry.md)."""

from pycontrol.registry.contract import check_export, manifest_violations, validate_manifest
from pycontrol.registry.errors import (
    AuditTrailError,
    GateConfigError,
    IntegrityError,
    ManifestError,
    PromotionRefusedError,
    RegistryError,
)
from pycontrol.registry.gates import GateConfig, engine_feature_set, load_gates
from pycontrol.registry.jsonlogic import apply as json_logic
from pycontrol.registry.store import ALIASES, ROOT_ENV, Registry

__all__ = [
    "ALIASES",
    "ROOT_ENV",
    "AuditTrailError",
    "GateConfig",
    "GateConfigError",
    "IntegrityError",
    "ManifestError",
    "PromotionRefusedError",
    "Registry",
    "RegistryError",
    "check_export",
    "engine_feature_set",
    "json_logic",
    "load_gates",
    "manifest_violations",
    "validate_manifest",
]
