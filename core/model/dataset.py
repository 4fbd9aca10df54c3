"""Labelled data in named splits (train, test, sampled), read from .npz or .csv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnv.core.errors import InputError

# The splits the repair paper weighs when it reports accuracy.
WEIGHTED_SPLITS = ("train", "test", "sampled")


@dataclass(frozen=True)
class Dataset:
    """``splits[name] = (X, y)``: ``X`` float64 of shape (m, d), ``y`` int64 of shape (m,)."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]

    @classmethod
    def load(cls, path: str | Path) -> Dataset:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if path.suffix.lower() == ".npz":
            return cls.from_npz(path)
        if path.suffix.lower() == ".csv":
            return cls.from_csv(path)
        raise InputError(f"{path}: data must be .npz or .csv")

    @classmethod
    def from_npz(cls, path: Path) -> Dataset:
        """Keys ``X_<split>`` and ``y_<split>``; pickled objects are refused."""
        arrays = read_npz(path)
        splits = {}
        for key in arrays:
            if key.startswith("X_"):
                split = key[2:]
                if f"y_{split}" not in arrays:
                    raise InputError(f"{path}: {key} has no matching y_{split}")
                splits[split] = (arrays[key], arrays[f"y_{split}"])
        if not splits:
            raise InputError(f"{path}: no X_<split>/y_<split> arrays")
        return cls._checked(splits, str(path))

    @classmethod
    def from_csv(cls, path: Path) -> Dataset:
        """A header row; feature columns, a ``label`` column, an optional ``split`` column."""
        try:
            table = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
        except ValueError as error:
            raise InputError(f"{path}: not a readable CSV file ({error})") from None
        names = list(table.dtype.names or ())
        if "label" not in names:
            raise InputError(f"{path}: the CSV needs a 'label' column")
        features = [name for name in names if name not in ("label", "split")]
        X = np.column_stack([table[name].astype(np.float64) for name in features])
        y = table["label"].astype(np.int64)
        if "split" in names:
            split_names = table["split"].astype(str)
            splits = {s: (X[split_names == s], y[split_names == s]) for s in set(split_names)}
        else:
            splits = {"train": (X, y)}
        return cls._checked(splits, str(path))

    @classmethod
    def from_arrays(cls, raw: dict[str, tuple[np.ndarray, np.ndarray]], where: str) -> Dataset:
        """Splits given as arrays, checked as a file's are (``where`` names them in errors)."""
        return cls._checked(raw, where)

    @classmethod
    def _checked(cls, raw: dict[str, tuple[np.ndarray, np.ndarray]], where: str) -> Dataset:
        splits = {}
        for split, (X, y) in raw.items():
            X = np.atleast_2d(np.asarray(X, dtype=np.float64))
            y = _class_labels(np.asarray(y).reshape(-1), f"{where}: split {split!r}")
            if X.shape[0] != y.shape[0]:
                raise InputError(
                    f"{where}: split {split!r} has {X.shape[0]} inputs, {y.shape[0]} labels"
                )
            if not np.isfinite(X).all():
                raise InputError(f"{where}: split {split!r} has NaN or infinite inputs")
            splits[split] = (X, y)
        return cls(splits)

    def check_labels(self, n_classes: int, where: str) -> None:
        """Refuse labels that name no output of a network with ``n_classes`` outputs."""
        for split, (_, y) in self.splits.items():
            outside = y[(y < 0) | (y >= n_classes)]
            if outside.size:
                raise InputError(
                    f"{where}: split {split!r} has label {int(outside[0])}, but the network "
                    f"has {n_classes} classes (labels 0 to {n_classes - 1})"
                )

    def bounding_box(self, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """The smallest box holding every split's inputs, widened by ``margin`` on each side."""
        inputs = np.concatenate([X for X, _ in self.splits.values()])
        if inputs.shape[0] == 0:
            raise InputError("the data has no inputs")
        return inputs.min(axis=0) - margin, inputs.max(axis=0) + margin

    @property
    def n_features(self) -> int:
        return next(iter(self.splits.values()))[0].shape[1]

    def save_npz(self, path: str | Path) -> None:
        arrays = {}
        for split, (X, y) in self.splits.items():
            arrays[f"X_{split}"], arrays[f"y_{split}"] = X, y
        np.savez(path, **arrays)  # type: ignore[arg-type]


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file; pickled objects are refused (they could run code)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable .npz file ({error})") from None


def _class_labels(y: np.ndarray, where: str) -> np.ndarray:
    """Labels as int64 class indices; fractional, non-finite or non-numeric ones are refused."""
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind != "f":
        raise InputError(f"{where} has labels of type {y.dtype}, not class numbers")
    if not np.isfinite(y).all() or np.any(y != np.round(y)):
        bad = y[~np.isfinite(y) | (y != np.round(y))][0]
        raise InputError(f"{where} has label {bad!r}: labels must be whole class numbers")
    return y.astype(np.int64)
