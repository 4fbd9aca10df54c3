"""Running the real ``nnv`` entry point from tests, and what bad input must look like."""

from __future__ import annotations

import subprocess
import sys


def nnv(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real `nnv` entry point in a subprocess, as a user would."""
    command = [sys.executable, "-c", "from nnv.cli.main import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def assert_bad_input(done: subprocess.CompletedProcess[str], fragment: str) -> None:
    """Exit code 2 and one line on stderr, ``nnv: error: ...`` naming ``fragment``."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnv: error:"), done.stderr
    assert fragment in lines[0]
    assert "Traceback" not in done.stderr
