"""QueryBuilder: accumulate a Query's variables and constraints block by block."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nnv.core.query.form import Query, empty_matrix


class QueryBuilder:
    """Accumulates variables and constraints block by block, then freezes them into a Query."""

    def __init__(self) -> None:
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self._rows: list[sp.coo_matrix] = []
        self._row_lb: list[np.ndarray] = []
        self._row_ub: list[np.ndarray] = []
        self._relu: list[np.ndarray] = []
        self._bilinear: list[np.ndarray] = []
        self._ind_var: list[np.ndarray] = []
        self._ind_rows: list[sp.coo_matrix] = []
        self._ind_lb: list[np.ndarray] = []
        self._ind_ub: list[np.ndarray] = []
        self.n_vars = 0

    def add_vars(
        self,
        count: int,
        lb: float | np.ndarray = -np.inf,
        ub: float | np.ndarray = np.inf,
        integer: bool = False,
    ) -> np.ndarray:
        """Add ``count`` variables; returns their indices."""
        index = np.arange(self.n_vars, self.n_vars + count)
        self._lb.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), (count,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), (count,)).copy())
        self._int.append(np.full(count, integer))
        self.n_vars += count
        return index

    def add_binaries(self, count: int) -> np.ndarray:
        return self.add_vars(count, 0.0, 1.0, integer=True)

    def tighten(self, index: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> None:
        """Intersect the bounds of existing variables with ``[lb, ub]``."""
        all_lb, all_ub = np.concatenate(self._lb), np.concatenate(self._ub)
        all_lb[index] = np.maximum(all_lb[index], lb)
        all_ub[index] = np.minimum(all_ub[index], ub)
        self._lb, self._ub = [all_lb], [all_ub]
        self._int = [np.concatenate(self._int)]

    def add_rows(
        self,
        coefficients: sp.spmatrix | np.ndarray,
        columns: np.ndarray | None,
        lb: float | np.ndarray,
        ub: float | np.ndarray,
    ) -> None:
        """Add rows ``lb <= coefficients @ v[columns] <= ub`` (``columns=None``: all variables)."""
        matrix = self._placed(coefficients, columns)
        self._rows.append(matrix)
        self._row_lb.append(_per_row(lb, matrix.shape[0]))
        self._row_ub.append(_per_row(ub, matrix.shape[0]))

    def _placed(
        self, coefficients: sp.spmatrix | np.ndarray, columns: np.ndarray | None
    ) -> sp.coo_matrix:
        """``coefficients`` as rows over every variable: its column ``j`` is ``columns[j]``."""
        matrix = sp.coo_matrix(coefficients)
        if columns is None:
            return matrix
        return sp.coo_matrix(
            (matrix.data, (matrix.row, np.asarray(columns)[matrix.col])),
            shape=(matrix.shape[0], max(self.n_vars, 1)),
        )

    def add_relu(self, outputs: np.ndarray, inputs: np.ndarray) -> None:
        self._relu.append(np.column_stack([outputs, inputs]).astype(np.int64))

    def add_bilinear(self, products: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
        self._bilinear.append(np.column_stack([products, left, right]).astype(np.int64))

    def add_indicators(
        self,
        binaries: np.ndarray,
        coefficients: sp.spmatrix | np.ndarray,
        columns: np.ndarray | None,
        lb: float | np.ndarray,
        ub: float | np.ndarray,
    ) -> None:
        """Add ``v[binaries[r]] = 1 -> lb[r] <= coefficients[r] @ v[columns] <= ub[r]``."""
        matrix = self._placed(coefficients, columns)
        count = matrix.shape[0]
        self._ind_var.append(np.asarray(binaries, dtype=np.int64).reshape(count))
        self._ind_rows.append(matrix)
        self._ind_lb.append(_per_row(lb, count))
        self._ind_ub.append(_per_row(ub, count))

    def build(self, **extra: object) -> Query:
        """Freeze into a Query; ``extra`` sets objective, soft constraints and the like."""
        n = self.n_vars
        return Query(
            lb=np.concatenate(self._lb) if self._lb else np.zeros(0),
            ub=np.concatenate(self._ub) if self._ub else np.zeros(0),
            integer=np.concatenate(self._int) if self._int else np.zeros(0, dtype=bool),
            A=_stack(self._rows, n),
            row_lb=np.concatenate(self._row_lb) if self._row_lb else np.zeros(0),
            row_ub=np.concatenate(self._row_ub) if self._row_ub else np.zeros(0),
            relu=np.concatenate(self._relu) if self._relu else np.zeros((0, 2), dtype=np.int64),
            bilinear=(
                np.concatenate(self._bilinear)
                if self._bilinear
                else np.zeros((0, 3), dtype=np.int64)
            ),
            ind_var=(
                np.concatenate(self._ind_var) if self._ind_var else np.zeros(0, dtype=np.int64)
            ),
            ind_A=_stack(self._ind_rows, n) if self._ind_rows else None,
            ind_lb=np.concatenate(self._ind_lb) if self._ind_lb else np.zeros(0),
            ind_ub=np.concatenate(self._ind_ub) if self._ind_ub else np.zeros(0),
            **extra,  # type: ignore[arg-type]
        )


def _stack(blocks: list[sp.coo_matrix], n: int) -> sp.csr_matrix:
    if not blocks:
        return empty_matrix(n)
    resized = [sp.coo_matrix((b.data, (b.row, b.col)), shape=(b.shape[0], n)) for b in blocks]
    return sp.vstack(resized, format="csr")


def _per_row(bound: float | np.ndarray, count: int) -> np.ndarray:
    """A row bound given once or per row, as ``count`` floats of its own."""
    return np.broadcast_to(np.asarray(bound, dtype=np.float64), (count,)).copy()
