"""Typed errors of the model registry, one place for how refusals read.

Contract problems (a manifest against its schema, a gate file, a FeatureSet file) are
:class:`pycontrol.ConfigError` subclasses; everything else is a :class:`RegistryError`
(a :class:`pycontrol.CoreError`). Each carries ``path`` (what it is about), ``violations``
(every problem found, not just the first) and the ``record``/``offset`` attributes core
errors have, so one handler fits both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pycontrol._core import ConfigError, CoreError


class RegistryError(CoreError):
    """A registry operation failed: unknown family or version, empty alias, I/O."""

    violations: list[str]


class ManifestError(ConfigError):
    """A manifest breaks its contract (models/contracts/manifest.schema.json and the cross-field
    rules); ``violations`` lists each as ``$.json.path: message``."""

    violations: list[str]


class GateConfigError(ConfigError):
    """A gate file (models/gates/<family>.json) or the FeatureSet it names is invalid."""

    violations: list[str]


class IntegrityError(RegistryError):
    """A model file's sha256 differs from its manifest (tampered or truncated)."""


class AuditTrailError(RegistryError):
    """The audit trail is torn (a line that is not JSON), edited or reordered (the hash chain
    breaks), or does not vouch for what ``aliases.json`` says; ``violations`` lists each."""


class PromotionRefusedError(RegistryError):
    """A promotion (or rollback) was refused; ``violations`` lists every failing check with its
    evaluated value and ``evaluation`` is the full gate evaluation (None when refused before
    any evaluation, e.g. an empty alias)."""

    evaluation: dict[str, Any] | None


E = TypeVar("E", RegistryError, ManifestError, GateConfigError)


def make(cls: type[E], where: str, violations: Sequence[str], **attrs: Any) -> E:
    """``cls`` naming ``where`` and every violation, with the core errors' attributes set."""
    err = cls(f"{where}: " + "; ".join(violations))
    err.path = where
    err.record = None
    err.offset = None
    err.violations = list(violations)
    for k, v in attrs.items():
        setattr(err, k, v)
    return err
