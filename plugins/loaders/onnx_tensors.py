"""The tensors of an ONNX graph as affine functions of one hidden vector.

Between two ReLU layers every operator nnv lowers is affine, so each tensor the graph
computes is ``weight @ h + bias``, flattened in C order, where ``h`` is the output of the
last ReLU layer (or the network's input). Operators compose these maps; a Relu turns the
map of its input into a layer of the network and starts a new ``h``. Maps are dense or
scipy.sparse CSR: convolutions, pooling and index shuffles are mostly zeros, and stay
sparse until a dense operator (Gemm, MatMul) meets them. scipy.sparse is imported where a
sparse map is built, so that dense graphs (ACAS Xu) never load it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from nnv.core.runtime.sparse import issparse

if TYPE_CHECKING:
    import scipy.sparse as sp

# A map: a dense np.ndarray or a scipy.sparse.csr_array (scipy has no type stubs).
Matrix: TypeAlias = Any

# Sparse layer weights of at most this many entries are stored dense anyway (BLAS is faster).
SMALL = 2**16

# ... and so are those with more than this fraction of nonzeros.
DENSE_FROM = 0.25


def product(first: Matrix, second: Matrix) -> Matrix:
    """``first @ second``: sparse when both are, else dense."""
    result = first @ second
    if not issparse(result):
        return np.asarray(result)
    import scipy.sparse as sp

    return sp.csr_array(result)


def add(first: Matrix, second: Matrix) -> Matrix:
    if issparse(first) and issparse(second):
        import scipy.sparse as sp

        return sp.csr_array(first + second)
    return _dense(first) + _dense(second)


def _dense(matrix: Matrix) -> np.ndarray:
    return matrix.toarray() if issparse(matrix) else matrix


def stack(blocks: list[Matrix]) -> Matrix:
    """The blocks one above the other: sparse when all are, else dense."""
    if all(issparse(block) for block in blocks):
        import scipy.sparse as sp

        return sp.csr_array(sp.vstack(blocks, format="csr"))
    return np.vstack([_dense(block) for block in blocks])


def selection(index: np.ndarray, columns: int) -> sp.csr_array:
    """The 0/1 matrix whose row ``i`` picks entry ``index[i]`` (a zero row where it is < 0)."""
    import scipy.sparse as sp

    rows = np.flatnonzero(index >= 0)
    ones = np.ones(rows.size)
    return sp.csr_array((ones, (rows, index[rows])), shape=(index.size, columns))


def layer_weights(matrix: Matrix) -> Matrix:
    """How a layer stores a map: sparse only when it is large and mostly zeros."""
    if not issparse(matrix):
        return np.ascontiguousarray(matrix)  # products with sparse maps come out transposed
    size = matrix.shape[0] * matrix.shape[1]
    if size <= SMALL or matrix.nnz > DENSE_FROM * size:
        return matrix.toarray()
    matrix.eliminate_zeros()
    return matrix


@dataclass(frozen=True)
class Affine:
    """A tensor of shape ``shape`` whose values are ``weight @ h + bias`` (``None``: ``h``).

    ``generation`` counts the layers made before ``h``: 0 when ``h`` is the network's input.
    """

    shape: tuple[int, ...]
    weight: Matrix | None
    bias: np.ndarray
    generation: int

    @classmethod
    def hidden(cls, shape: tuple[int, ...], generation: int) -> Affine:
        """``h`` itself, viewed with ``shape``."""
        return cls(tuple(shape), None, np.zeros(math.prod(shape)), generation)

    @property
    def size(self) -> int:
        return int(self.bias.size)

    @property
    def n_hidden(self) -> int:
        return self.size if self.weight is None else int(self.weight.shape[1])

    def matrix(self) -> Matrix:
        """The weights, with the identity made explicit (sparse)."""
        if self.weight is None:
            import scipy.sparse as sp

            return sp.identity(self.size, format="csr")
        return self.weight

    def reshaped(self, shape: tuple[int, ...] | list[int]) -> Affine:
        """The same values in C order, another shape."""
        shape = tuple(int(size) for size in shape)
        assert math.prod(shape) == self.size, (shape, self.shape)
        return Affine(shape, self.weight, self.bias, self.generation)

    def mapped(self, matrix: Matrix, shape: tuple[int, ...]) -> Affine:
        """``matrix`` (rows: the new tensor's values) applied to this tensor."""
        weight = matrix if self.weight is None else product(matrix, self.weight)
        return Affine(tuple(shape), weight, np.asarray(matrix @ self.bias), self.generation)

    def gather(
        self, index: np.ndarray, shape: tuple[int, ...], fill: float | np.ndarray = 0.0
    ) -> Affine:
        """The tensor whose value ``i`` is this one's ``index[i]``, or ``fill`` where < 0."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        missing = index < 0
        if (
            not missing.any()
            and index.size == self.size
            and np.array_equal(index, np.arange(self.size))
        ):
            return self.reshaped(shape)
        bias = np.where(missing, fill, self.bias[np.maximum(index, 0)])
        if self.weight is None or issparse(self.weight):
            weight: Matrix = selection(index, self.size)
            if self.weight is not None:
                weight = product(weight, self.weight)
        else:
            weight = self.weight[np.maximum(index, 0)]
            weight[missing] = 0.0
        return Affine(tuple(shape), weight, bias, self.generation)

    def broadcast(self, shape: tuple[int, ...]) -> Affine:
        """This tensor broadcast (numpy style) to ``shape``."""
        if tuple(shape) == self.shape:
            return self
        index = np.broadcast_to(np.arange(self.size).reshape(self.shape), shape)
        return self.gather(index.reshape(-1), tuple(shape))

    def scaled(self, factor: np.ndarray) -> Affine:
        """Each value times its entry of ``factor`` (one per value)."""
        factor = np.asarray(factor, dtype=np.float64).reshape(-1)
        if self.weight is not None and not issparse(self.weight):
            weight: Matrix = self.weight * factor[:, None]
        else:
            import scipy.sparse as sp

            if self.weight is None:
                weight = sp.csr_array(sp.diags_array(factor, format="csr"))
            else:
                weight = sp.csr_array(self.weight.multiply(factor[:, None]))
        return Affine(self.shape, weight, self.bias * factor, self.generation)

    def shifted(self, offset: np.ndarray) -> Affine:
        offset = np.asarray(offset, dtype=np.float64).reshape(-1)
        return Affine(self.shape, self.weight, self.bias + offset, self.generation)

    def plus(self, other: Affine) -> Affine:
        """The sum of two tensors of the same shape and generation."""
        assert self.shape == other.shape and self.generation == other.generation
        weight = add(self.matrix(), other.matrix())
        return Affine(self.shape, weight, self.bias + other.bias, self.generation)

    def nonnegative(self) -> np.ndarray:
        """Per value, whether it is >= 0 whatever the input: a nonnegative combination of
        ReLU outputs plus a nonnegative constant. Nothing is known about the input itself."""
        if self.generation == 0:
            return np.zeros(self.size, dtype=bool)
        if self.weight is None:
            rows_ok = np.ones(self.size, dtype=bool)
        elif issparse(self.weight):
            rows_ok = np.asarray((self.weight < 0).sum(axis=1)).reshape(-1) == 0
        else:
            rows_ok = (self.weight >= 0).all(axis=1)
        return rows_ok & (self.bias >= 0)
