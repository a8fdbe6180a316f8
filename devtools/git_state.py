"""The repository's ``git status --porcelain``: recorded before a test run and compared after it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def porcelain(repo: str | Path) -> str | None:
    """``git status --porcelain`` of the work tree at ``repo``; None where git or a repository is absent."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=all"], cwd=repo, capture_output=True,
            text=True, timeout=60, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def changed_entries(before: str | None, after: str | None) -> list[str]:
    """The status lines that differ between two snapshots (added, removed or changed); [] when unknown."""
    if before is None or after is None:
        return []
    old, new = set(before.splitlines()), set(after.splitlines())
    return sorted(new ^ old)
