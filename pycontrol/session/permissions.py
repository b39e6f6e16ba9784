"""What an authenticated operator may do without saying "I mean it".

Commands fall in four classes:

- ``read``: ``status``. Changes nothing; not journaled (a dashboard polls it every second).
- ``tighten``: ``halt``, ``reducing``, ``flatten``, ``set-risk-limits`` no looser than the
  limits the session started with (its config over the strategy's and the core's defaults),
  ``shutdown`` (stops trading). Any operator, no override.
- ``loosen``: ``set-risk-limits`` looser than a starting limit (a higher maximum, a lower
  ``min_*`` floor), ``resume`` (out of a halt, a
  breaker trip or REDUCING), ``swap-model`` (a different model trades). These need the
  command's ``override: true`` and a non-empty ``reason``; without them the command is
  refused with code ``override_required`` and nothing changes.

Every command but ``read`` is journaled (event ``command``) with the operator who sent it,
its class, and, for an override, the reason, before it runs; a refused one is journaled as
``command_refused`` with the same fields and counted by reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pycontrol.session import messages as m

READ = "read"
TIGHTEN = "tighten"
LOOSEN = "loosen"


class _Journal(Protocol):
    def append(self, kind: str, payload: dict[str, Any]) -> int: ...


Limits = Mapping[str, float]
"""Every limit the session started with: ``set-risk-limits`` looser than one of them is
loosening."""


def looser(key: str, value: float, start: float) -> bool:
    """Whether ``value`` for limit ``key`` allows more than ``start``: for a ``min_*`` limit
    (a confidence floor) lower is looser, for every other limit (a maximum) higher is."""
    return value < start if key.startswith("min_") else value > start


def classify(cmd: m.Command, limits: Limits) -> tuple[str, str]:
    """(class, why) of a parsed command."""
    name = cmd.cmd
    if name == "status":
        return READ, "a query"
    if name in ("halt", "reducing", "flatten", "shutdown"):
        return TIGHTEN, "stops or reduces trading"
    if name == "set-risk-limits":
        over = [
            f"{k} {v} looser than the session's {limits[k]}"
            for k, v in cmd.args.items()
            if k in limits and isinstance(v, int | float) and looser(k, float(v), limits[k])
        ]
        if over:
            return LOOSEN, "raises a limit beyond the config: " + ", ".join(over)
        return TIGHTEN, "limits within the config's"
    if name == "resume":
        return LOOSEN, "resumes trading after a halt, breaker trip or REDUCING"
    if name == "swap-model":
        return LOOSEN, "changes the model that trades"
    return LOOSEN, "unclassified command"  # a new command is loosening until said otherwise


class Gate:
    """The session's command gate: classifies, refuses loosening without an override,
    journals who sent what, and counts refusals by reason."""

    def __init__(self, limits: Limits, journal: _Journal) -> None:
        self.limits = limits
        self.journal = journal
        self.refused: dict[str, int] = {}
        self.overrides = 0
        self.by_operator: dict[str, int] = {}

    def admit(self, cmd: m.Command, operator: str) -> None:
        """Raises :class:`~pycontrol.session.messages.MessageError` (``override_required``)
        for loosening without an override; journals every admitted non-read command."""
        kind, why = classify(cmd, self.limits)
        self.by_operator[operator] = self.by_operator.get(operator, 0) + 1
        if kind == READ:
            return
        entry: dict[str, Any] = {
            "by": operator,
            "cmd": cmd.cmd,
            "args": cmd.args,
            "class": kind,
            "override": cmd.override,
        }
        if cmd.override:
            entry["reason"] = cmd.reason
        if kind == LOOSEN and not cmd.override:
            self.refused["override_required"] = self.refused.get("override_required", 0) + 1
            self.journal.append("command_refused", {**entry, "why": why})
            raise m.MessageError(
                "override_required",
                f"{cmd.cmd}: {why}; send it again with override and a reason "
                "(ctl ... --override --reason TEXT)",
            )
        if kind == LOOSEN:
            self.overrides += 1
        self.journal.append("command", entry)

    def status(self) -> dict[str, Any]:
        return {
            "refused": dict(self.refused),
            "overrides": self.overrides,
            "commands_by_operator": dict(self.by_operator),
            "config_limits": dict(self.limits),
        }
