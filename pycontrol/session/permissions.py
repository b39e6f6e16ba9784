"""What an authenticated operator may do without saying "I mean it".

Commands fall in four classes:

- ``read``: ``status``. Changes nothing; not journaled (a dashboard polls it every second).
- ``tighten``: ``halt``, ``reducing``, ``flatten``, ``set-risk-limits`` at or below the
  config's ``[risk]`` limits, ``shutdown`` (stops trading). Any operator, no override.
- ``loosen``: ``set-risk-limits`` above a config limit, ``resume`` (out of a halt, a
  breaker trip or REDUCING), ``swap-model`` (a different model trades). These need the
  command's ``override: true`` and a non-empty ``reason``; without them the command is
  refused with code ``override_required`` and nothing changes.

Every command but ``read`` is journaled (event ``command``) with the operator who sent it,
its class, and, for an override, the reason, before it runs; a refused one is journaled as
``command_refused`` with the same fields and counted by reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pycontrol.session import messages as m

READ = "read"
TIGHTEN = "tighten"
LOOSEN = "loosen"


class _Journal(Protocol):
    def append(self, kind: str, payload: dict[str, Any]) -> int: ...


@dataclass(frozen=True)
class Limits:
    """The config's ceiling: ``set-risk-limits`` above it is loosening."""

    max_order_qty: int
    max_position: int


def classify(cmd: m.Command, limits: Limits) -> tuple[str, str]:
    """(class, why) of a parsed command."""
    name = cmd.cmd
    if name == "status":
        return READ, "a query"
    if name in ("halt", "reducing", "flatten", "shutdown"):
        return TIGHTEN, "stops or reduces trading"
    if name == "set-risk-limits":
        over = [
            f"{k} {cmd.args[k]} > config {getattr(limits, k)}"
            for k in ("max_order_qty", "max_position")
            if isinstance(cmd.args.get(k), int) and cmd.args[k] > getattr(limits, k)
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
            "config_limits": {
                "max_order_qty": self.limits.max_order_qty,
                "max_position": self.limits.max_position,
            },
        }
