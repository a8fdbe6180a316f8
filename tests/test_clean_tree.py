"""The check that a test run changes no file of the repository (conftest's pytest_sessionfinish).

The check itself runs around every session; these tests show that it sees a change, so it can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devtools.git_state import changed_entries, porcelain

ROOT = Path(__file__).resolve().parents[1]
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "kept.txt").write_text("one\n")
    _git(tmp_path, "add", "kept.txt")
    _git(tmp_path, "commit", "-q", "-m", "start")
    return tmp_path


@needs_git
def test_a_modified_or_new_file_is_reported(repo):
    before = porcelain(repo)
    assert before == ""
    (repo / "kept.txt").write_text("two\n")
    (repo / "stray.png").write_bytes(b"x")
    assert changed_entries(before, porcelain(repo)) == [" M kept.txt", "?? stray.png"]


@needs_git
def test_an_unchanged_tree_reports_nothing_even_when_it_was_dirty_before(repo):
    (repo / "kept.txt").write_text("edited by the developer\n")
    before = porcelain(repo)
    assert changed_entries(before, porcelain(repo)) == []


def test_outside_a_repository_the_check_is_off(tmp_path):
    assert porcelain(tmp_path) is None
    assert changed_entries(None, "?? x") == []


@needs_git
def test_a_session_that_writes_into_the_repository_fails(repo):
    """A whole pytest session, with the project's conftest hooks, fails when one test writes a file."""
    tests = repo / "tests"
    tests.mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", tests / "conftest.py")
    (tests / "test_writes.py").write_text(textwrap.dedent("""
        from pathlib import Path

        def test_writes_a_file():
            (Path(__file__).resolve().parents[1] / "kept.txt").write_text("changed by a test\\n")
    """))
    _git(repo, "add", "tests")
    _git(repo, "commit", "-q", "-m", "tests")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_writes.py"], cwd=repo,
        capture_output=True, text=True, timeout=300, env={**_env(), "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "M kept.txt" in done.stdout, done.stdout


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
