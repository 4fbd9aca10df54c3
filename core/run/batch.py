"""One benchmark instance in a process of its own, and the batch's record of finished rows.

Each instance runs as ``python -m nnv.cli verify NETWORK PROPERTY --timeout T --result-file FILE``:
the same command a user runs for one instance, so the result file is the same, the time is
whole-process wall time (as VNN-COMP measures it), and killing the process frees everything.
The process is killed (its whole process group) a little after its timeout
(:func:`~nnv.core.runtime.isolation.kill_after`) and the row recorded as ``timeout``.

The record is ``results.csv`` in the output folder, rewritten atomically after every row.
On a rerun, a row whose key (:class:`~nnv.core.run.instances.InstanceKeys`) and result file
are unchanged is taken from it, but a stored ``sat`` is only kept when its counterexample
still replays on the network (the result file is the record, not a proof).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nnv.core.run.instances import VERDICTS, Instance
from nnv.core.runtime.files import write_text_atomic
from nnv.core.runtime.isolation import kill_after

# the instance processes running in this process's threads, for stop_all
_RUNNING: set[subprocess.Popen[str]] = set()

RESULTS_FILE = "results.csv"
RESULTS_FOLDER = "results"
COLUMNS = (
    "line", "family", "network", "property", "timeout", "verdict", "time", "expected",
    "check", "result_file", "key", "message",
)  # fmt: skip


@dataclass(frozen=True)
class InstanceJob:
    """What a worker needs to run one instance (plain data: it travels to dask workers)."""

    network: str
    prop: str
    timeout: float
    options: tuple[str, ...]


@dataclass(frozen=True)
class InstanceOutcome:
    """What the instance's process left: its verdict, wall time and result file's text."""

    verdict: str
    seconds: float
    text: str
    message: str = ""


def run_instance(job: InstanceJob) -> InstanceOutcome:
    """Run one instance in a child process; killed (with its children) past its time."""
    with tempfile.TemporaryDirectory(prefix="nnv-instance-") as folder:
        result = Path(folder) / "result.txt"
        command = [
            sys.executable, "-m", "nnv.cli", "verify", job.network, job.prop,
            "--timeout", repr(job.timeout), "--result-file", str(result), "--json", *job.options,
        ]  # fmt: skip
        started = time.monotonic()
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,  # its own process group, so a kill reaches its children
        )  # fmt: skip
        _RUNNING.add(child)
        try:
            out, err = child.communicate(timeout=kill_after(job.timeout))
        except subprocess.TimeoutExpired:
            _kill(child)
            seconds = time.monotonic() - started
            return InstanceOutcome("timeout", seconds, "timeout\n", "killed past its timeout")
        finally:
            _RUNNING.discard(child)
        seconds = time.monotonic() - started
        if child.returncode != 0 or not result.is_file():
            why = (err.strip().splitlines() or [f"exit code {child.returncode}"])[-1]
            return InstanceOutcome("error", seconds, "error\n", why)
        text = result.read_text(encoding="utf-8")
        message = _message(out)
        return InstanceOutcome(text.split("\n", 1)[0].strip(), seconds, text, message)


def _kill(child: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.communicate()


def stop_all() -> None:
    """Kill every instance process still running (Ctrl-C, or an error in the batch)."""
    for child in list(_RUNNING):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)


def _message(stdout: str) -> str:
    """The verifier's message from the JSON line ``nnv verify --json`` prints last."""
    lines = stdout.strip().splitlines()
    try:
        return str(json.loads(lines[-1]).get("message", "")) if lines else ""
    except ValueError:
        return ""


@dataclass
class Record:
    """One row of results.csv."""

    line: int
    family: str
    network: str
    property: str
    timeout: float
    verdict: str
    time: float
    expected: str
    check: str
    result_file: str
    key: str
    message: str = ""


def check(verdict: str, expected: str | None) -> str:
    """``right`` or ``wrong`` against the known answer; ``unknown`` when either is missing."""
    if verdict not in VERDICTS or expected is None:
        return "unknown"
    return "right" if verdict == expected else "wrong"


def make_record(instance: Instance, key: str, outcome: InstanceOutcome, result: str) -> Record:
    return Record(
        line=instance.line,
        family=instance.family or "",
        network=str(instance.network),
        property=str(instance.prop),
        timeout=instance.timeout,
        verdict=outcome.verdict,
        time=round(outcome.seconds, 3),
        expected=instance.expected or "",
        check=check(outcome.verdict, instance.expected),
        result_file=result,
        key=key,
        message=" ".join(outcome.message.split()),
    )


def write_records(out: Path, records: list[Record]) -> None:
    """results.csv, in the CSV's row order."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in sorted(records, key=lambda r: r.line):
        writer.writerow(asdict(record))
    write_text_atomic(out / RESULTS_FILE, buffer.getvalue())


def read_records(out: Path) -> dict[str, Record]:
    """An earlier run's rows by key; none when there is no readable results.csv."""
    path = out / RESULTS_FILE
    if not path.is_file():
        return {}
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        records = [_record(row) for row in rows]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return {}  # not ours, or damaged: every row is run again
    return {record.key: record for record in records}


def _record(row: dict[str, str]) -> Record:
    texts = {name: row[name] for name in COLUMNS if name not in ("line", "timeout", "time")}
    return Record(
        line=int(row["line"]), timeout=float(row["timeout"]), time=float(row["time"]), **texts
    )


_ASSIGNMENT = re.compile(r"\(\s*X_(\d+)\s+([^\s()]+)\s*\)")


def counterexample(text: str) -> np.ndarray | None:
    """The inputs ``(X_i v)`` of a VNN-COMP ``sat`` result file, or None if it has none."""
    try:
        pairs = {int(index): float(value) for index, value in _ASSIGNMENT.findall(text)}
    except ValueError:
        return None
    if not pairs or sorted(pairs) != list(range(len(pairs))):
        return None
    return np.array([pairs[i] for i in range(len(pairs))], dtype=np.float64)
