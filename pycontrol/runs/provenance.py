"""What produced a run, for its report header and ``pycontrol runs``: the code commit (read
from the checkout's .git without a subprocess) and the current time. Standard library only:
the command line's ``--version`` uses it at start-up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def code_commit(repo: Path = REPO) -> str | None:
    """The checkout's HEAD commit (12 hex digits); None outside a git checkout."""
    git = repo / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = Path(git.read_text().split(":", 1)[1].strip())
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        common = git / "commondir"
        base = (git / common.read_text().strip()).resolve() if common.exists() else git
        for d in (git, base):
            if (d / ref).exists():
                return (d / ref).read_text().strip()[:12]
        packed = (base / "packed-refs").read_text().splitlines()
        hit = [ln.split()[0] for ln in packed if ln.endswith(" " + ref)]
        return hit[0][:12] if hit else None
    except (OSError, IndexError):
        return None


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
