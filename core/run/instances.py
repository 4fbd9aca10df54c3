"""A benchmark's instances CSV: which (network, property, timeout) rows to verify.

Two layouts are read. VNN-COMP's own ``instances.csv`` has no header and three columns:
``onnx,vnnlib,timeout``. A CSV with a header names its columns instead: the network
(``onnx`` or ``network``), the property (``vnnlib`` or ``property``) and the timeout
(``timeout`` or ``timeout_s``) are required; ``expected`` (the known verdict) and ``family``
are read when present, and every other column whose name ends in ``_s`` is taken as another
tool's time on the row (empty: that tool did not solve it), for the cactus plot. Paths are
relative to the CSV's folder.

Everything is checked before anything runs: a bad row, a missing file or a bad timeout is the
user's mistake, reported with its line number.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nnv.core.errors import InputError

VERDICTS = ("sat", "unsat")
_NETWORK = ("onnx", "network")
_PROPERTY = ("vnnlib", "property")
_TIMEOUT = ("timeout", "timeout_s")


@dataclass(frozen=True)
class Instance:
    """One row: verify ``network`` against ``prop`` within ``timeout`` seconds."""

    line: int
    network: Path
    prop: Path
    timeout: float
    expected: str | None = None
    family: str | None = None
    tool_times: dict[str, float | None] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The stem of the result file: network and property, as VNN-COMP names them."""
        return f"{self.network.stem}__{self.prop.stem}"


@dataclass(frozen=True)
class InstanceTable:
    """The rows of one CSV, and the other tools named in its columns."""

    path: Path
    instances: tuple[Instance, ...]
    tools: tuple[str, ...]

    @property
    def has_family(self) -> bool:
        return any(instance.family for instance in self.instances)


def read_instances(path: Path, timeout_scale: float = 1.0) -> InstanceTable:
    """The CSV's rows, every timeout multiplied by ``timeout_scale``; InputError if any row is
    malformed or names a missing file."""
    if not math.isfinite(timeout_scale) or timeout_scale <= 0:
        raise InputError(f"--timeout-scale must be a positive number, not {timeout_scale}")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        rows = [(n, row) for n, row in enumerate(reader, 1) if any(c.strip() for c in row)]
    if not rows:
        raise InputError(f"{path}: no instances")
    columns, tools = _columns(path, rows[0][1])
    if columns is not None:
        rows = rows[1:]
    instances = tuple(
        _instance(path, number, row, columns, tools, timeout_scale) for number, row in rows
    )
    if not instances:
        raise InputError(f"{path}: no instances, only a header")
    return InstanceTable(path, instances, tools)


def _columns(path: Path, first: Sequence[str]) -> tuple[dict[str, int] | None, tuple[str, ...]]:
    """The header's column positions by role (None: no header) and the other tools' names."""
    names = [cell.strip().lower() for cell in first]
    if not set(names) & set(_NETWORK + _PROPERTY):
        return None, ()
    columns: dict[str, int] = {}
    for role, choices in (("network", _NETWORK), ("property", _PROPERTY), ("timeout", _TIMEOUT)):
        found = [names.index(name) for name in choices if name in names]
        if not found:
            raise InputError(f"{path} line 1: no {' or '.join(choices)} column in the header")
        columns[role] = found[0]
    for role in ("expected", "family"):
        if role in names:
            columns[role] = names.index(role)
    tools = tuple(
        name[: -len("_s")] for name in names if name.endswith("_s") and name not in _TIMEOUT
    )
    for tool in tools:
        columns[f"tool:{tool}"] = names.index(f"{tool}_s")
    return columns, tools


def _instance(
    path: Path,
    number: int,
    row: Sequence[str],
    columns: dict[str, int] | None,
    tools: tuple[str, ...],
    timeout_scale: float,
) -> Instance:
    where = f"{path} line {number}"
    cells = [cell.strip() for cell in row]
    if columns is None:  # VNN-COMP's layout: onnx, vnnlib, timeout (and the answer, if given)
        if len(cells) not in (3, 4):
            raise InputError(f"{where}: expected onnx,vnnlib,timeout, found {len(cells)} columns")
        columns = {"network": 0, "property": 1, "timeout": 2}
        if len(cells) == 4:
            columns["expected"] = 3
    if len(cells) <= max(columns.values()):
        raise InputError(f"{where}: {len(cells)} columns, the header names more")
    expected = cells[columns["expected"]].lower() if "expected" in columns else ""
    if expected not in (*VERDICTS, "", "unknown"):
        raise InputError(f"{where}: expected verdict {expected!r} is not sat, unsat or empty")
    return Instance(
        line=number,
        network=_file(path, where, cells[columns["network"]]),
        prop=_file(path, where, cells[columns["property"]]),
        timeout=_seconds(where, "timeout", cells[columns["timeout"]]) * timeout_scale,
        expected=expected if expected in VERDICTS else None,
        family=(cells[columns["family"]] or None) if "family" in columns else None,
        tool_times={
            tool: _seconds(where, f"{tool}_s", cell)
            if (cell := cells[columns[f"tool:{tool}"]])
            else None
            for tool in tools
        },
    )


def _file(csv_path: Path, where: str, cell: str) -> Path:
    if not cell:
        raise InputError(f"{where}: an empty file name")
    path = Path(cell) if Path(cell).is_absolute() else csv_path.parent / cell
    if not path.is_file():
        raise InputError(f"{where}: {path}: no such file")
    return path


def _seconds(where: str, column: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise InputError(f"{where}: {column} {cell!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{where}: {column} must be a positive number of seconds, not {cell}")
    return value


class InstanceKeys:
    """What a row's verdict depends on, as one hash: the network's and the property's bytes,
    the timeout, the verify options and nnv's engine (its source and solver versions).

    A resumed batch reuses a stored row only when its key is the same. File hashes are cached:
    many rows share a network or a property.
    """

    def __init__(self, options: Sequence[str], engine: str) -> None:
        self.options = list(options)
        self.engine = engine
        self._files: dict[Path, str] = {}

    def _digest(self, path: Path) -> str:
        if path not in self._files:
            self._files[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._files[path]

    def key(self, instance: Instance) -> str:
        record = [
            self._digest(instance.network),
            self._digest(instance.prop),
            repr(instance.timeout),
            self.options,
            self.engine,
        ]
        return hashlib.sha256(json.dumps(record).encode()).hexdigest()[:32]
