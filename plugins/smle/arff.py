"""Multi-label ARFF files (MEKA style, dense data), read with :func:`scipy.io.arff.loadarff`.

The label count is in the ``@relation`` line: ``'Flags: -C -7'`` means the last 7 attributes
are the labels (``-C 7``: the first 7); scipy does not keep that line whole, so it is read
here. Numeric attributes are read as numbers; a nominal attribute with two values becomes one
0/1 column (its second value is 1), one with more values becomes one-hot columns. Labels must
be nominal ``{0,1}``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from scipy.io import arff

from nnv.core import InputError

_LABELS = re.compile(r"-C\s+(-?\d+)")


def read_arff(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(X, Y, label_names)`` of a multi-label ARFF file."""
    where = str(path)
    count = _label_count(Path(path))
    try:
        data, meta = arff.loadarff(path)
    except (arff.ArffError, ValueError, NotImplementedError, StopIteration) as error:
        raise InputError(f"{where}: not a readable dense ARFF file ({error})") from None
    names = meta.names()
    if not count or abs(count) >= len(names):
        raise InputError(f"{where}: the @relation line must give the label count as '-C -n'")
    labels = names[:count] if count > 0 else names[count:]
    features, targets = [], []
    for name in names:
        kind, values = meta[name]
        column = data[name]
        if name in labels:
            if kind != "nominal" or set(values) != {"0", "1"}:
                raise InputError(f"{where}: label {name!r} is not nominal {{0,1}}")
            targets.append(_codes(column, ("0", "1"), name, where).astype(np.float64))
        elif kind == "nominal":
            features.append(_one_hot(_codes(column, values, name, where), len(values)))
        else:
            numbers = np.asarray(column, dtype=np.float64)
            if not np.isfinite(numbers).all():
                raise InputError(f"{where}: missing values ('?') are not supported")
            features.append(numbers[:, None])
    if not features:
        raise InputError(f"{where}: no input attributes besides the labels")
    return np.hstack(features), np.column_stack(targets), list(labels)


def _label_count(path: Path) -> int | None:
    """The ``-C`` number of the ``@relation`` line, if any; the header must end in ``@data``."""
    count = None
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                keyword = line.strip().lower()
                if keyword.startswith("@relation"):
                    found = _LABELS.search(line)
                    count = int(found.group(1)) if found else None
                elif keyword.startswith("@data"):
                    return count
    except (OSError, UnicodeDecodeError):
        raise InputError(f"{path}: not a text ARFF file") from None
    raise InputError(f"{path}: not an ARFF file (no @data section)")


def _codes(column: np.ndarray, values: tuple[str, ...], name: str, where: str) -> np.ndarray:
    """The index of each row's value among the attribute's ``values``."""
    lookup = {value: index for index, value in enumerate(values)}
    raw = [value.decode() if isinstance(value, bytes) else str(value) for value in column]
    unknown = sorted(set(raw) - lookup.keys())
    if "?" in unknown:
        raise InputError(f"{where}: missing values ('?') are not supported")
    if unknown:
        raise InputError(f"{where}: attribute {name!r} has unknown value {unknown[0]!r}")
    return np.array([lookup[value] for value in raw], dtype=np.int64)


def _one_hot(codes: np.ndarray, size: int) -> np.ndarray:
    """One 0/1 column for two values (the second is 1), else one column per value."""
    if size == 2:
        return codes[:, None].astype(np.float64)
    return np.eye(size)[codes]
