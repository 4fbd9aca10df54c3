"""The SMLE paper's forecasting task: one M4 series as sliding windows, and its smoothness
property.

The data file (``../shared/benchmarks/smle/forecasting/series.csv``) holds one series a row:
``id,category,frequency,horizon,period,length,v0,v1,...``, the values first and the rest of
the row blank. It is read with the csv module, stopping at the series asked for.

- *Windows*: 8 consecutive values in, the 4 that follow out, one window per start.
- *Split*: chronological, the first 80 % of the windows train and the last 20 % test. A
  random split would put windows of the same stretch of the series on both sides. No gap is
  left between the two: the first few test windows' targets are also targets of the last
  training windows (3 of them, out of thousands), which we accept rather than drop data.
- *Scale*: the series is standardised with the mean and deviation of the values the training
  windows cover, so the training MSE is well scaled whatever the series' units. Inputs,
  outputs and the property's bound are all in these standardised units (R^2 does not change:
  it is invariant under the same affine map of targets and predictions).
- *Level*: the models predict relative to the window's last input (``LEVEL``): they see the
  inputs minus it and add it back to every output, so that a series whose test part leaves
  the training range is still forecast well. The property allows it (see below: shifting
  every output by the same value changes no difference between them).
- *Property* (no input region: it holds for every input): consecutive predictions differ by
  at most ``d``, i.e. ``y[i+1] - y[i] <= d`` and ``y[i] - y[i+1] <= d`` for i = 0..2, where
  ``d`` is the q-quantile of the absolute one-step differences of the standardised values
  the training windows cover (the paper's q-th percentile, q in {1, 0.95, 0.9}).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnv.core import InputError

from .spec import LinearInequalities

WINDOW_IN = 8
WINDOW_OUT = 4
TEST_FRACTION = 0.2
MIN_WINDOWS = 10  # fewer leaves too few training windows to hold out a validation part
DEFAULT_QUANTILE = 1.0
LEVEL = WINDOW_IN - 1  # the models predict relative to the window's last input
HEADER = ("id", "category", "frequency", "horizon", "period", "length")


@dataclass(frozen=True)
class Windows:
    """One series cut into standardised windows, with what the property is drawn from."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    steps: np.ndarray  # |one-step differences| of the standardised training values
    mean: float
    deviation: float


def read_series(path: Path, series_id: str) -> np.ndarray:
    """The values of series ``series_id`` in the CSV file ``path``."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            if tuple(field.strip() for field in header[: len(HEADER)]) != HEADER:
                raise InputError(
                    f"{path}: not a forecasting file (header must start with "
                    f"{','.join(HEADER)},v0,...)"
                )
            for number, row in enumerate(reader, start=2):
                if row and row[0].strip() == series_id:
                    return _values(row, f"{path}:{number}")
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path}: not a readable CSV file ({error})") from None
    raise InputError(f"{path}: no series with id {series_id!r}")


def _values(row: list[str], where: str) -> np.ndarray:
    """The values of a row: its fields after ``length`` up to the first blank, all numbers.

    The ``length`` column is not trusted: in the shared file it is 5 more than the values
    every row gives (D4099: 9938 against 9933, M4's 9919 training and 14 test values).
    """
    fields = [field.strip() for field in row[len(HEADER) :]]
    count = next((index for index, field in enumerate(fields) if not field), len(fields))
    if any(fields[count:]):
        raise InputError(f"{where}: a blank value inside the series")
    try:
        values = np.asarray([float(field) for field in fields[:count]], dtype=np.float64)
    except ValueError:
        raise InputError(f"{where}: a value is not a number") from None
    if not np.isfinite(values).all():
        raise InputError(f"{where}: the series has NaN or infinite values")
    return values


def make_windows(
    values: np.ndarray, n_in: int = WINDOW_IN, n_out: int = WINDOW_OUT
) -> tuple[np.ndarray, np.ndarray]:
    """``X[t] = values[t : t+n_in]``, ``Y[t] = values[t+n_in : t+n_in+n_out]``, every t."""
    frames = np.lib.stride_tricks.sliding_window_view(values, n_in + n_out)
    return frames[:, :n_in].copy(), frames[:, n_in:].copy()


def split_series(values: np.ndarray, name: str = "series") -> Windows:
    """Standardised windows, split chronologically (the first 80 % train)."""
    count = values.size - WINDOW_IN - WINDOW_OUT + 1
    if count < MIN_WINDOWS:
        raise InputError(
            f"{name} has {values.size} values; forecasting needs at least "
            f"{MIN_WINDOWS + WINDOW_IN + WINDOW_OUT - 1} ({MIN_WINDOWS} windows of "
            f"{WINDOW_IN} in and {WINDOW_OUT} out)"
        )
    n_train = count - int(round(TEST_FRACTION * count))
    covered = values[: n_train + WINDOW_IN + WINDOW_OUT - 1]
    mean, deviation = float(covered.mean()), float(covered.std())
    if deviation == 0.0:
        raise InputError(f"{name} is constant over its training windows")
    X, Y = make_windows((values - mean) / deviation)
    steps = np.abs(np.diff((covered - mean) / deviation))
    splits = {"train": (X[:n_train], Y[:n_train]), "test": (X[n_train:], Y[n_train:])}
    return Windows(splits, steps, mean, deviation)


def smoothness(steps: np.ndarray, quantile: float, name: str | None = None) -> LinearInequalities:
    """Consecutive outputs differ by at most the ``quantile`` of ``steps``, for every input."""
    if not 0.0 <= quantile <= 1.0:
        raise InputError(f"the quantile must lie in [0, 1], not {quantile}")
    bound = float(np.quantile(steps, quantile))
    rows = []
    for i in range(WINDOW_OUT - 1):
        rise = np.zeros(WINDOW_OUT)
        rise[i], rise[i + 1] = -1.0, 1.0
        rows += [rise, 0.0 - rise]  # (0.0 - x: no -0.0 in property.json)
    A = np.array(rows)
    return LinearInequalities(
        A, np.full(A.shape[0], bound), None, name or f"smoothness-q{quantile:g}"
    )
