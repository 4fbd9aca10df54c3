"""Lowerings of the arithmetic operators: products with constant matrices, elementwise
arithmetic with constants (input normalisation), batch normalisation, and Relu.

A product or quotient of two tensors that both depend on the input is not affine and is
refused; so is a division by the input. Broadcasting follows numpy, as ONNX does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from nnv.plugins.loaders.onnx_tensors import Affine, Matrix

if TYPE_CHECKING:
    import onnx

    from nnv.plugins.loaders.onnx_graph import Handler, Lowering


def relu(lowering: Lowering, node: onnx.NodeProto) -> None:
    source = lowering.value(node)
    lowering.set(node, Affine.hidden(source.shape, lowering.new_layer(source)))


# -- products ------------------------------------------------------------------------------


def _kron(*parts: Matrix) -> Matrix:
    """A Kronecker product of identities and one matrix, sparse unless it is that matrix."""
    import scipy.sparse as sp

    result: Matrix = sp.csr_array(sp.kron(parts[0], parts[1], format="csr"))
    for part in parts[2:]:
        result = sp.csr_array(sp.kron(result, part, format="csr"))
    return result


def _identity(size: int) -> Matrix:
    import scipy.sparse as sp

    return sp.identity(size, format="csr")


def times_right(lowering: Lowering, node: onnx.NodeProto, x: Affine, w: np.ndarray) -> Affine:
    """``x @ w`` for a constant ``w`` of rank 1 or 2 (numpy's matmul)."""
    if w.ndim == 1:
        result = times_right(lowering, node, x, w[:, None])
        return result.reshaped(result.shape[:-1])
    if x.shape == () or w.ndim != 2:
        raise lowering.fail(node, f"cannot multiply a tensor {x.shape} by a constant {w.shape}")
    if len(x.shape) == 1:
        result = times_right(lowering, node, x.reshaped((1, x.size)), w)
        return result.reshaped(result.shape[1:])
    if x.shape[-1] != w.shape[0]:
        raise lowering.fail(node, f"cannot multiply a tensor {x.shape} by weights {w.shape}")
    rows = math.prod(x.shape[:-1])
    matrix = w.T if rows == 1 else _kron(_identity(rows), w.T)
    return x.mapped(matrix, (*x.shape[:-1], w.shape[1]))


def times_left(lowering: Lowering, node: onnx.NodeProto, w: np.ndarray, x: Affine) -> Affine:
    """``w @ x`` for a constant ``w`` of rank 1 or 2 (numpy's matmul)."""
    if w.ndim == 1:
        result = times_left(lowering, node, w[None, :], x)
        return result.reshaped((*result.shape[:-2], result.shape[-1]))
    if x.shape == () or w.ndim != 2:
        raise lowering.fail(node, f"cannot multiply a constant {w.shape} by a tensor {x.shape}")
    if len(x.shape) == 1:
        result = times_left(lowering, node, w, x.reshaped((x.size, 1)))
        return result.reshaped(result.shape[:-1])
    if x.shape[-2] != w.shape[1]:
        raise lowering.fail(node, f"cannot multiply weights {w.shape} by a tensor {x.shape}")
    batch, columns = math.prod(x.shape[:-2]), x.shape[-1]
    if batch == 1 and columns == 1:
        matrix: Matrix = w
    else:
        matrix = _kron(_identity(batch), w, _identity(columns))
    return x.mapped(matrix, (*x.shape[:-2], w.shape[0], columns))


def _transposed(x: Affine) -> Affine:
    """A 2-D tensor transposed."""
    index = np.arange(x.size).reshape(x.shape).T
    return x.gather(index.reshape(-1), index.shape)


def matmul(lowering: Lowering, node: onnx.NodeProto) -> None:
    first, second = lowering.operand(node, 0), lowering.operand(node, 1)
    if isinstance(first, Affine) and isinstance(second, Affine):
        raise lowering.fail(node, "multiplies two tensors that depend on the input (not affine)")
    if isinstance(first, Affine):
        lowering.set(node, times_right(lowering, node, first, lowering.floats(node, 1)))
    else:
        lowering.set(
            node, times_left(lowering, node, lowering.floats(node, 0), lowering.value(node, 1))
        )


def gemm(lowering: Lowering, node: onnx.NodeProto) -> None:
    """``alpha * A' @ B' + beta * C``; A or B depends on the input, the other is constant."""
    first, second = lowering.operand(node, 0), lowering.operand(node, 1)
    trans_a = bool(lowering.attribute(node, "transA", 0))
    trans_b = bool(lowering.attribute(node, "transB", 0))
    alpha = float(lowering.attribute(node, "alpha", 1.0))
    beta = float(lowering.attribute(node, "beta", 1.0))
    if isinstance(first, Affine) and isinstance(second, Affine):
        raise lowering.fail(node, "multiplies two tensors that depend on the input (not affine)")
    if isinstance(first, Affine):
        if len(first.shape) != 2:
            raise lowering.fail(node, f"Gemm needs a 2-D input, not {first.shape}")
        weight = lowering.floats(node, 1)
        x = _transposed(first) if trans_a else first
        result = times_right(lowering, node, x, alpha * (weight.T if trans_b else weight))
    else:
        x = lowering.value(node, 1)
        if len(x.shape) != 2:
            raise lowering.fail(node, f"Gemm needs a 2-D input, not {x.shape}")
        weight = lowering.floats(node, 0)
        x = _transposed(x) if trans_b else x
        result = times_left(lowering, node, alpha * (weight.T if trans_a else weight), x)
    if lowering.has_input(node, 2):
        offset = lowering.operand(node, 2)
        if isinstance(offset, Affine):
            result = result.plus(
                _fit(lowering, node, offset, result.shape).scaled(np.full(result.size, beta))
            )
        else:
            result = result.shifted(
                beta * _spread(lowering, node, lowering.floats(node, 2), result.shape)
            )
    lowering.set(node, result)


# -- elementwise ---------------------------------------------------------------------------


def _shape(lowering: Lowering, node: onnx.NodeProto, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise lowering.fail(
            node, f"shapes {' and '.join(map(str, shapes))} do not broadcast"
        ) from None


def _spread(
    lowering: Lowering, node: onnx.NodeProto, constant: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """A constant broadcast onto ``shape``, flat."""
    _shape(lowering, node, constant.shape, shape)
    return np.broadcast_to(constant, shape).reshape(-1)


def _fit(lowering: Lowering, node: onnx.NodeProto, x: Affine, shape: tuple[int, ...]) -> Affine:
    _shape(lowering, node, x.shape, shape)
    return x.broadcast(shape)


def _elementwise(
    lowering: Lowering, node: onnx.NodeProto
) -> tuple[Affine | np.ndarray, Affine | np.ndarray, tuple[int, ...]]:
    """Both operands, the tensors among them broadcast to the result's shape."""
    first, second = lowering.operand(node, 0), lowering.operand(node, 1)
    shape = _shape(
        lowering,
        node,
        np.shape(first) if not isinstance(first, Affine) else first.shape,
        np.shape(second) if not isinstance(second, Affine) else second.shape,
    )
    fitted = []
    for position, operand in enumerate((first, second)):
        if isinstance(operand, Affine):
            fitted.append(operand.broadcast(shape))
        else:
            fitted.append(np.broadcast_to(lowering.floats(node, position), shape).reshape(-1))
    return fitted[0], fitted[1], shape


def add(lowering: Lowering, node: onnx.NodeProto) -> None:
    first, second, _ = _elementwise(lowering, node)
    if isinstance(first, Affine) and isinstance(second, Affine):
        lowering.set(node, first.plus(second))
    elif isinstance(first, Affine):
        lowering.set(node, first.shifted(second))
    else:
        assert isinstance(second, Affine)
        lowering.set(node, second.shifted(first))


def sub(lowering: Lowering, node: onnx.NodeProto) -> None:
    first, second, _ = _elementwise(lowering, node)
    if isinstance(second, Affine):
        negated = second.scaled(np.full(second.size, -1.0))
        lowering.set(
            node, negated.plus(first) if isinstance(first, Affine) else negated.shifted(first)
        )
    else:
        assert isinstance(first, Affine)
        lowering.set(node, first.shifted(-second))


def mul(lowering: Lowering, node: onnx.NodeProto) -> None:
    first, second, _ = _elementwise(lowering, node)
    if isinstance(first, Affine) and isinstance(second, Affine):
        raise lowering.fail(node, "multiplies two tensors that depend on the input (not affine)")
    if isinstance(first, Affine):
        lowering.set(node, first.scaled(second))
    else:
        assert isinstance(second, Affine)
        lowering.set(node, second.scaled(first))


def div(lowering: Lowering, node: onnx.NodeProto) -> None:
    first, second, _ = _elementwise(lowering, node)
    if isinstance(second, Affine):
        raise lowering.fail(node, "divides by a tensor that depends on the input (not affine)")
    assert isinstance(first, Affine)
    if not np.all(second != 0):
        raise lowering.fail(node, "divides by zero")
    lowering.set(node, first.scaled(1.0 / second))


def batch_normalization(lowering: Lowering, node: onnx.NodeProto) -> None:
    """Inference mode: ``(x - mean) / sqrt(var + epsilon) * scale + B`` per channel (axis 1)."""
    x = lowering.value(node)
    if lowering.attribute(node, "training_mode", 0):
        raise lowering.fail(node, "training mode is not supported")
    if not lowering.attribute(node, "spatial", 1):
        raise lowering.fail(node, "spatial=0 is not supported")
    scale, offset, mean, variance = (lowering.floats(node, position) for position in (1, 2, 3, 4))
    epsilon = float(lowering.attribute(node, "epsilon", 1e-5))
    channels = x.shape[1] if len(x.shape) >= 2 else 0
    if any(part.size != channels for part in (scale, offset, mean, variance)):
        raise lowering.fail(node, f"its parameters do not fit {channels} channels")
    factor = scale.reshape(-1) / np.sqrt(variance.reshape(-1) + epsilon)
    shift = offset.reshape(-1) - mean.reshape(-1) * factor
    along = (channels, *([1] * (len(x.shape) - 2)))
    result = x.scaled(np.broadcast_to(factor.reshape(along), x.shape).reshape(-1))
    lowering.set(node, result.shifted(np.broadcast_to(shift.reshape(along), x.shape).reshape(-1)))


HANDLERS: dict[str, Handler] = {
    "Relu": relu,
    "MatMul": matmul,
    "Gemm": gemm,
    "Add": add,
    "Sub": sub,
    "Mul": mul,
    "Div": div,
    "BatchNormalization": batch_normalization,
}
