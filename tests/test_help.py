"""``--help`` reads as a command line: value names (PATH, INTEGER), nothing after a switch."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


def nnv(*args: str) -> subprocess.CompletedProcess[str]:
    """The entry point at a fixed terminal width (rich wraps the help to it)."""
    command = [sys.executable, "-c", "from nnv.cli.main import main; main()", *args]
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)

COMMANDS = [(), ("verify",), ("run",), ("train",), ("plugins",)]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "nnv")
def test_help_shows_no_python_types(command: tuple[str, ...]) -> None:
    done = nnv(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert not re.search(r"<(bool|str|int|float|path|list\[[^]]*\])", done.stdout)
    for line in done.stdout.splitlines():
        if "--json" in line or "--restart " in line or "--help " in line:
            # a switch: the help text follows the flag, no value name between
            assert not re.search(r"--(json|restart|help)\s+(TEXT|PATH|BOOLEAN|INTEGER)", line)


def test_values_are_named_as_command_lines_name_them() -> None:
    done = nnv("run", "--help")
    assert re.search(r"--network\s+PATH", done.stdout)
    assert re.search(r"--property\s+PATH", done.stdout)  # repeatable, but one value each
    assert re.search(r"--max-free\s+INTEGER", done.stdout)
    assert re.search(r"--timeout\s+NUMBER", done.stdout)
    assert "a weight at most M / max(1, s)" in " ".join(done.stdout.replace("│", " ").split())
