"""Typed configuration errors of the research pipeline, one place for how violations read.

The config errors are :class:`pycontrol.ConfigError` subclasses, so callers catching the
core's config errors catch these too; ``violations`` lists every problem found, not just the
first. Bad model input data (not config) is a :class:`SequenceInputError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from pycontrol._core import ConfigError, CoreError


class PipelineConfigError(ConfigError):
    """A research-pipeline configuration is invalid; ``violations`` lists every problem."""

    violations: list[str]


class LabelConfigError(PipelineConfigError):
    """A label configuration (direction, triple barrier, regime) is invalid."""


class SplitConfigError(PipelineConfigError):
    """A walk-forward splitter configuration, or the data it is asked to split, is invalid."""


class SequenceConfigError(PipelineConfigError):
    """A sequence-model configuration (or its construction arguments) is invalid."""


class SequenceInputError(CoreError, ValueError):
    """Data given to a sequence model is unusable (wrong shape, NaN/inf, unknown label).

    A ``ValueError`` too, so generic callers that catch bad values catch it; ``path`` names
    the method and argument, ``violations`` what is wrong with it."""

    violations: list[str]


def bad_input(where: str, violations: Sequence[str]) -> NoReturn:
    """Raises :class:`SequenceInputError` naming ``where`` and every violation."""
    err = SequenceInputError(f"{where}: " + "; ".join(violations))
    err.path = where
    err.record = None
    err.offset = None
    err.violations = list(violations)
    raise err


def fail(cls: type[PipelineConfigError], where: str, violations: Sequence[str]) -> NoReturn:
    """Raises ``cls`` naming ``where`` and every violation, with the attributes core errors
    carry (``path``, ``record``, ``offset``) so one handler fits both."""
    err = cls(f"{where}: " + "; ".join(violations))
    err.path = where
    err.record = None
    err.offset = None
    err.violations = list(violations)
    raise err


def unknown_fields(data: Mapping[str, Any], known: Sequence[str]) -> list[str]:
    """Violations for unknown keys in ``data`` (typos must not silently become defaults)."""
    return [f"unknown field {k!r} (known: {', '.join(known)})" for k in data if k not in known]
