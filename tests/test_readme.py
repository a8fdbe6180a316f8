"""The README's two set-up commands: one line each, a .venv, root or sudo, and CI runs the test one as written."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()


def setup_commands() -> list[str]:
    section = README.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_two_one_line_commands_that_create_and_use_a_venv():
    commands = setup_commands()
    assert len(commands) == 2, commands
    for command in commands:
        assert "\n" not in command, command
        assert "python3 -m venv .venv && . .venv/bin/activate && pip install -r requirements" in command
        assert "apt-get install -y python3-venv" in command  # Debian's python3 has no venv module by default
        assert not re.search(r"(^|[;&|]\s*)sudo ", command), "a bare sudo fails as root (no sudo installed)"
    assert commands[0].endswith("streamlit run app.py")
    assert "chromium" in commands[1] and commands[1].endswith("python -m pytest -q")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(("uid", "prefix"), [("0", ""), ("1000", "sudo")])
def test_the_privilege_prefix_is_sudo_only_for_a_normal_user(uid, prefix):
    command = setup_commands()[1]
    choose = command.split(";", 1)[0]  # S=$([ "$(id -u)" -eq 0 ] || echo sudo)
    script = f'id() {{ echo {uid}; }}; {choose}; printf "%s" "$S"'
    assert subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout == prefix


@pytest.mark.skipif(shutil.which("awk") is None, reason="needs awk")
def test_ci_runs_the_readme_test_command_as_written():
    extract = re.search(r"test_command=\$\((awk .*README\.md)\)", CI)
    assert extract, "CI must read its test command from the README"
    found = subprocess.run(["bash", "-c", extract.group(1)], cwd=ROOT, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == setup_commands()[1]
    assert 'bash -c "$test_command"' in CI
