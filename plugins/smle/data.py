"""The data SMLE trains on, in named splits: regression (.npz), multi-label (.arff) or one
forecasting series (.csv).

- ``.npz``: arrays ``x_<split>`` and ``y_<split>`` (``X_``/``Y_`` also accepted) with at least
  ``train`` and ``test`` (the SMLE synthetic tasks add ``test_inter`` and ``test_extra``);
  pickled objects are refused.
- ``.arff``: a multi-label data set (see :mod:`.arff`), split 80/20 with a fixed seed so that
  every run and every method sees the same test set.
- ``.csv``: the M4 forecasting series (see :mod:`.forecasting`); ``series`` picks one, cut
  into standardised windows of 8 in and 4 out, split chronologically 80/20.

Inputs are not rescaled here: the model standardises them itself (with the training split's
mean and deviation), so that the exported model takes the data as it is in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnv.core import InputError
from nnv.core.model.dataset import read_npz

from .arff import read_arff
from .forecasting import LEVEL, read_series, split_series

SPLIT_SEED = 0
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Task:
    """``splits[name] = (X, Y)``; ``kind`` is ``"regression"`` or ``"multilabel"``.

    ``steps`` (forecasting only) are the absolute one-step differences of the standardised
    training part of the series: the property's bound is one of their quantiles, and the
    quantile is only known when the property is made. ``level`` (forecasting only: the last
    input) is the input column the models predict relative to, unless told not to.
    """

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    kind: str
    steps: np.ndarray | None = None
    level: int | None = None

    @property
    def n_inputs(self) -> int:
        return int(self.splits["train"][0].shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.splits["train"][1].shape[1])


def load_task(path: Path, series: str | None = None) -> Task:
    """The splits of ``path``; ``series`` names the series of a forecasting .csv file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv" or series is not None:
        return _forecasting(path, series)
    if suffix == ".npz":
        return _checked(_npz(path), "regression", path)
    if suffix == ".arff":
        X, Y, _ = read_arff(path)
        return _checked(_split(X, Y), "multilabel", path)
    raise InputError(
        f"{path}: data must be .npz (regression), .arff (multi-label) or .csv (forecasting)"
    )


def _forecasting(path: Path, series: str | None) -> Task:
    """One series of a forecasting file, as windows and the steps its property is drawn from."""
    if path.suffix.lower() != ".csv":
        raise InputError("--series applies to forecasting data (.csv) only")
    if series is None:
        raise InputError(f"{path}: forecasting data (.csv) needs --series ID")
    windows = split_series(read_series(path, series), f"series {series!r}")
    task = _checked(windows.splits, "regression", path)
    return Task(task.splits, task.kind, windows.steps, LEVEL)


def _npz(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The splits of an ``.npz`` file read by core's reader (which refuses pickles): its
    ``x_<split>``/``y_<split>`` pairs (``X_``/``Y_`` too, unlike core's labelled data)."""
    arrays = read_npz(path)
    lowered = {key[0].lower() + key[1:]: value for key, value in arrays.items()}
    splits = {}
    for key, X in lowered.items():
        if key.startswith("x_") and f"y_{key[2:]}" in lowered:
            splits[key[2:]] = (X, lowered[f"y_{key[2:]}"])
    return splits


def _split(X: np.ndarray, Y: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    order = np.random.default_rng(SPLIT_SEED).permutation(X.shape[0])
    held = int(round(TEST_FRACTION * X.shape[0]))
    train, test = order[held:], order[:held]
    return {"train": (X[train], Y[train]), "test": (X[test], Y[test])}


def _checked(splits: dict[str, tuple[np.ndarray, np.ndarray]], kind: str, path: Path) -> Task:
    for required in ("train", "test"):
        if required not in splits:
            raise InputError(f"{path}: no {required} split (x_{required} and y_{required})")
    checked = {}
    for name, (X, Y) in splits.items():
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        if X.ndim != 2 or X.shape[0] != Y.shape[0] or Y.ndim != 2:
            raise InputError(f"{path}: split {name!r} has inputs {X.shape} and outputs {Y.shape}")
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            raise InputError(f"{path}: split {name!r} has NaN or infinite values")
        checked[name] = (X, Y)
    widths = {(X.shape[1], Y.shape[1]) for X, Y in checked.values()}
    if len(widths) > 1:
        raise InputError(f"{path}: the splits disagree on the number of inputs or outputs")
    if checked["train"][0].shape[0] < 2:
        raise InputError(f"{path}: the training split needs at least 2 rows")
    return Task(checked, kind)
