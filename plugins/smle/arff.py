"""A small reader for MEKA-style multi-label ARFF files (dense data only).

The label count is in the ``@relation`` line: ``'Flags: -C -7'`` means the last 7 attributes
are the labels (``-C 7``: the first 7). Numeric attributes are read as numbers; a nominal
attribute with two values becomes one 0/1 column (its second value is 1), one with more
values becomes one-hot columns. Labels must be nominal ``{0,1}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnv.core import InputError

_LABELS = re.compile(r"-C\s+(-?\d+)")
_NUMERIC = ("numeric", "real", "integer")


@dataclass(frozen=True)
class Attribute:
    name: str
    values: tuple[str, ...] | None  # None: numeric

    def columns(self) -> int:
        if self.values is None or len(self.values) == 2:
            return 1
        return len(self.values)

    def encode(self, raw: list[str], where: str) -> np.ndarray:
        """The column(s) for this attribute's raw strings."""
        if self.values is None:
            try:
                return np.asarray(raw, dtype=np.float64)[:, None]
            except ValueError:
                raise InputError(
                    f"{where}: attribute {self.name!r} has a non-numeric value"
                ) from None
        lookup = {value: index for index, value in enumerate(self.values)}
        unknown = sorted(set(raw) - lookup.keys())
        if unknown:
            raise InputError(f"{where}: attribute {self.name!r} has unknown value {unknown[0]!r}")
        codes = np.array([lookup[value] for value in raw])
        if len(self.values) == 2:
            return codes[:, None].astype(np.float64)
        return np.eye(len(self.values))[codes]


def read_arff(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(X, Y, label_names)`` of a multi-label ARFF file."""
    where = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="strict").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{where}: not a text ARFF file") from None
    attributes: list[Attribute] = []
    label_count: int | None = None
    data_start = None
    for number, line in enumerate(lines):
        text = line.strip()
        lowered = text.lower()
        if not text or text.startswith("%"):
            continue
        if lowered.startswith("@relation"):
            found = _LABELS.search(text)
            label_count = int(found.group(1)) if found else None
        elif lowered.startswith("@attribute"):
            attributes.append(_attribute(text, f"{where}:{number + 1}"))
        elif lowered.startswith("@data"):
            data_start = number + 1
            break
    if data_start is None or not attributes:
        raise InputError(f"{where}: not an ARFF file (no @attribute or @data section)")
    if not label_count or abs(label_count) >= len(attributes):
        raise InputError(f"{where}: the @relation line must give the label count as '-C -n'")
    rows = [_fields(line) for line in lines[data_start:] if line.strip() and line[0] != "%"]
    if any(row[0].startswith("{") for row in rows if row):
        raise InputError(f"{where}: sparse ARFF data is not supported")
    if any(len(row) != len(attributes) for row in rows):
        raise InputError(f"{where}: a data row does not have {len(attributes)} values")
    if any("?" in row for row in rows):
        raise InputError(f"{where}: missing values ('?') are not supported")
    count = abs(label_count)
    labels = list(range(len(attributes) - count, len(attributes)))
    if label_count > 0:
        labels = list(range(count))
    columns = list(zip(*rows, strict=True))
    features, targets = [], []
    for index, attribute in enumerate(attributes):
        if index in labels:
            if attribute.values is None or set(attribute.values) != {"0", "1"}:
                raise InputError(f"{where}: label {attribute.name!r} is not nominal {{0,1}}")
            targets.append(np.asarray(columns[index], dtype=np.float64))
        else:
            features.append(attribute.encode(list(columns[index]), where))
    return np.hstack(features), np.column_stack(targets), [attributes[i].name for i in labels]


def _attribute(text: str, where: str) -> Attribute:
    body = text[len("@attribute") :].strip()
    if body.startswith(("'", '"')):
        quote = body[0]
        end = body.index(quote, 1)
        name, kind = body[1:end], body[end + 1 :].strip()
    else:
        name, _, kind = body.partition(" ")
        kind = kind.strip()
    if kind.startswith("{") and kind.endswith("}"):
        values = tuple(_unquote(value) for value in kind[1:-1].split(","))
        return Attribute(name, values)
    if kind.lower() in _NUMERIC:
        return Attribute(name, None)
    raise InputError(f"{where}: attribute {name!r} has unsupported type {kind!r}")


def _fields(line: str) -> list[str]:
    return [_unquote(field) for field in line.split(",")]


def _unquote(value: str) -> str:
    return value.strip().strip("'\"")
