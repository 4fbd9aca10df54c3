"""The two kinds of property SMLE trains for, and the input region they apply on.

- :class:`LinearInequalities`: for every x in the region, ``A y <= b`` (SMLE's synthetic and
  forecasting tasks);
- :class:`MutualExclusion`: multi-label outputs (logits; label i is predicted iff
  ``z_i > 0``) where the labels of a forbidden pair are never predicted together.

Property files are JSON: a list (or one object) of ``{name, input: {A, b}, output: {A, b}}``
for linear inequalities, or ``{name, input: null, exclusion: {labels, pairs}}`` for mutual
exclusion; ``input: null`` means every input.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnv.core import InputError, Property


@dataclass(frozen=True)
class Region:
    """The polytope ``A x <= b``, with its bounding box (it must be bounded)."""

    A: np.ndarray
    b: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def polytope(cls, A: Any, b: Any, name: str = "region") -> Region:
        """The region ``A x <= b``; an empty or unbounded one is refused.

        Core's :meth:`Property.linear` already finds a polytope's bounding box (and refuses
        open ones), so it is asked with a placeholder output condition.
        """
        A_array = _matrix(A, f"{name}: input.A")
        b_array = _vector(b, f"{name}: input.b", A_array.shape[0])
        placeholder = np.ones((1, 1))
        piece = Property.linear(A_array, b_array, placeholder, placeholder[0], name).pieces[0]
        return cls(A_array, b_array, piece.lower, piece.upper)

    @property
    def dimension(self) -> int:
        return int(self.A.shape[1])

    def contains(self, X: np.ndarray, tol: float = 0.0) -> np.ndarray:
        return np.all(np.atleast_2d(X) @ self.A.T <= self.b + tol, axis=1)

    def sample(
        self, count: int, rng: np.random.Generator, max_draws: int = 100
    ) -> tuple[np.ndarray, int]:
        """Up to ``count`` uniform points of the region by rejection from its bounding box.

        Returns the points and how many were drawn; thin regions may give fewer than asked.
        """
        kept: list[np.ndarray] = []
        drawn = found = 0
        for _ in range(max_draws):
            X = rng.uniform(self.lower, self.upper, size=(count, self.dimension))
            drawn += count
            inside = X[self.contains(X)]
            kept.append(inside)
            found += inside.shape[0]
            if found >= count:
                break
        return np.concatenate(kept)[:count], drawn


@dataclass(frozen=True)
class LinearInequalities:
    """For every input in ``region`` (every input when None), ``A y <= b``."""

    A: np.ndarray
    b: np.ndarray
    region: Region | None
    name: str = "property"

    kind = "linear"

    @property
    def n_outputs(self) -> int:
        return int(self.A.shape[1])

    def violated(self, Y: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Which rows of ``Y`` break some inequality by more than ``tol``."""
        return np.any(np.atleast_2d(Y) @ self.A.T > self.b + tol, axis=1)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input": _region_json(self.region),
            "output": {"A": self.A.tolist(), "b": self.b.tolist()},
        }


@dataclass(frozen=True)
class MutualExclusion:
    """No two labels of a forbidden pair are both predicted (logit > 0) on ``region``."""

    pairs: np.ndarray  # (P, 2) label indices, i < j
    n_labels: int
    region: Region | None
    name: str = "property"

    kind = "exclusion"

    @property
    def n_outputs(self) -> int:
        return self.n_labels

    @classmethod
    def from_labels(
        cls, Y: np.ndarray, quantile: float, name: str | None = None
    ) -> MutualExclusion:
        """Forbid the pairs whose co-occurrence count in ``Y`` is at most the ``quantile`` of
        all pair counts (the SMLE paper's multi-label properties)."""
        if not 0.0 <= quantile <= 1.0:
            raise InputError(f"the quantile must lie in [0, 1], not {quantile}")
        Y = np.asarray(Y) > 0.5
        counts = Y.T.astype(np.int64) @ Y.astype(np.int64)
        i, j = np.triu_indices(Y.shape[1], k=1)
        threshold = np.quantile(counts[i, j], quantile)
        chosen = counts[i, j] <= threshold
        pairs = np.column_stack([i[chosen], j[chosen]])
        return cls(pairs, Y.shape[1], None, name or f"exclusion-q{quantile:g}")

    def predicted_pairs(self, Z: np.ndarray) -> np.ndarray:
        """How many forbidden pairs each row of logits ``Z`` predicts together."""
        positive = np.atleast_2d(Z) > 0
        return np.sum(positive[:, self.pairs[:, 0]] & positive[:, self.pairs[:, 1]], axis=1)

    def violated(self, Z: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Rows whose logits put both labels of a pair above ``-tol`` (``tol=0``: predicted)."""
        Z = np.atleast_2d(Z)
        both = np.minimum(Z[:, self.pairs[:, 0]], Z[:, self.pairs[:, 1]])
        return np.any(both > -tol, axis=1) if tol else self.predicted_pairs(Z) > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input": _region_json(self.region),
            "exclusion": {"labels": self.n_labels, "pairs": self.pairs.tolist()},
        }


Spec = LinearInequalities | MutualExclusion


def shift_invariant(spec: Spec) -> bool:
    """Whether ``A (y + c 1) = A y`` for every c: linear inequalities whose rows of A each sum
    to exactly zero (the exact sum of the float coefficients, ``math.fsum``: no tolerance,
    which a level as large as the inputs allow could multiply into a violation)."""
    if not isinstance(spec, LinearInequalities):
        return False
    return all(math.fsum(row) == 0.0 for row in np.asarray(spec.A, dtype=np.float64).tolist())


def load_spec(path: Path, name: str | None = None) -> Spec:
    """The property called ``name`` in the JSON file (the only one when ``name`` is None)."""
    try:
        document = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    entries = document if isinstance(document, list) else [document]
    if not entries or not all(isinstance(entry, dict) for entry in entries):
        raise InputError(f"{path}: expected a property object or a list of them")
    names = [str(entry.get("name", f"#{index + 1}")) for index, entry in enumerate(entries)]
    if name is None:
        if len(entries) > 1:
            raise InputError(
                f"{path} holds several properties; pick one with --property-name "
                f"({', '.join(names)})"
            )
        return parse_spec(entries[0], names[0])
    if name not in names:
        raise InputError(f"{path}: no property named {name!r} (known: {', '.join(names)})")
    return parse_spec(entries[names.index(name)], name)


def parse_spec(entry: dict[str, Any], name: str) -> Spec:
    region_entry = entry.get("input")
    region = None
    if region_entry is not None:
        if not isinstance(region_entry, dict) or "A" not in region_entry or "b" not in region_entry:
            raise InputError(f"{name}: 'input' must be null or an object with A and b")
        region = Region.polytope(region_entry["A"], region_entry["b"], name)
    if "output" in entry:
        output = entry["output"]
        if not isinstance(output, dict) or "A" not in output or "b" not in output:
            raise InputError(f"{name}: 'output' must be an object with A and b")
        A = _matrix(output["A"], f"{name}: output.A")
        return LinearInequalities(
            A, _vector(output["b"], f"{name}: output.b", A.shape[0]), region, name
        )
    if "exclusion" in entry:
        exclusion = entry["exclusion"]
        labels = int(exclusion.get("labels", 0))
        pairs = np.asarray(exclusion.get("pairs", []), dtype=np.int64).reshape(-1, 2)
        if labels < 2 or np.any(pairs < 0) or np.any(pairs >= labels):
            raise InputError(f"{name}: exclusion needs labels >= 2 and pairs of label indices")
        if np.any(pairs[:, 0] == pairs[:, 1]):
            raise InputError(f"{name}: a label cannot exclude itself")
        return MutualExclusion(np.sort(pairs, axis=1), labels, region, name)
    raise InputError(f"{name}: a property needs 'output' (linear inequalities) or 'exclusion'")


def _region_json(region: Region | None) -> dict[str, Any] | None:
    return None if region is None else {"A": region.A.tolist(), "b": region.b.tolist()}


def _matrix(value: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} is not a matrix of numbers") from None
    if array.ndim != 2 or array.size == 0 or not np.isfinite(array).all():
        raise InputError(f"{what} must be a non-empty finite matrix")
    return array


def _vector(value: Any, what: str, size: int) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{what} is not a vector of numbers") from None
    if array.shape[0] != size or not np.isfinite(array).all():
        raise InputError(f"{what} must hold {size} finite numbers")
    return array
