"""Trained models as ONNX (opset 17), float32 (the default) or float64: every tensor of the
graph (but the int64 shapes and axes of its Reshape and Unsqueeze nodes), input and output
included, has that type, and any ONNX runtime reproduces the outputs.

Only operators Marabou's ONNX parser reads (``Gemm``, ``MatMul``, ``Add``, ``Relu``,
``MaxPool``, ``Concat``, ``Reshape``, ``Unsqueeze``, ``Flatten``, ``Identity``), each of
which rounds as the model's own arithmetic does or rounds nothing. An SMLE model becomes,
from input ``X`` [N, n] to output ``Y`` [N, m]::

    H  = Relu(Gemm(... Relu(Gemm(P, W1, b1)) ...))                      the backbone h
    P  = MatMul(Gemm(X, I, -shift), diag(scale))                        node "standardised"
    T  = pairmax over [X, H]:  (-H_j, -(U x + u0)_j)        = -min(H, u)   node "clip.upper"
    E  = pairmax over [X, T]:  (-T_j, (L x + l0)_j)   = max(min(H, u), l)  node "clip"
    Z  = Gemm(E, W, w)                                                  the head g, node "head"
    r  = Relu(maxrows(Gemm(X, A, -b)))                                  node "region.beyond"
    -s = pairmax over [r]: (-K r, -S)                     = -min(K r, S)   node "switch.width"
    C  = pairmax over [H, Z, -s]: (-(W0 H + w0)_j, -Z_j - s) = -min(O, Z + s)
    Y  = pairmax over [C, Z, -s]: (-C_j, Z_j - s)    = max(min(O, Z + s), Z - s)  "switch"

``pairmax`` is ``Flatten(MaxPool(Reshape(Gemm(Concat(sources), M, c), [N, k, 2, 1]),
kernel [2, 1]))``: the maximum of each pair of the Gemm's outputs. One Gemm makes both
elements of every pair, so Marabou puts them in one layer (its DeepPoly bound tightening
crashes otherwise). Each output of those Gemms is one product (``-H_j``, ``-T_j``,
``-K r``), two terms (``-Z_j - s``, ``Z_j - s``: one rounding, in any order), or the sum
the bound or the outside head always was; every other product is ``0 * t``, exactly zero
for finite ``t``; a maximum rounds nothing. So the clip is ``max(min(H, u), l)`` computed
as ``Min``/``Max`` computed it, bit for bit (a constant bound, ``U = L = 0``, is ``u0``
exactly), for a backbone that does not overflow. ``Gemm(X, I, -shift)`` and the diagonal
``MatMul`` (one non-zero product per sum) compute what ``Sub`` and ``Mul`` did.

The region switch (only when the property has an input region) is continuous, since Marabou
has no ``Where``: wherever the region test passes, ``r = 0``, ``s = 0`` and ``Y =
max(min(O, Z), Z) = Z`` exactly; where ``s`` exceeds ``|O - Z|``, ``Y = O`` exactly; in
the thin band between, ``Y`` is ``O`` clamped to ``[Z - s, Z + s]``. ``K`` and ``S``
(:func:`switch_width`) make that band about ``SWITCH_BAND`` (1e-6) of the region's extent
wide and keep ``s`` below ``S``, a thousand times a bound on ``|O - Z|`` over the region's
bounding box: Marabou's numbers stay moderate, and ``Y = O`` wherever ``|O - Z| <= S``
(beyond that, far from the region, ``O`` clamped to ``Z +- S``). In float32 the test's
``b`` is widened by what float32 rounding can cost (:func:`.rounding.switch_threshold`),
so every float32 input of the region gets ``Z``. With a level (input column c)::

    V  = MatMul(X, e_c)                                                 node "level", [N, 1]
    X' = MatMul(X, I - e_c 1')                                          node "delevelled"
         (x_j - x_c: two non-zero products, one rounding; the standardisation reads X')
    Y  = Add(<the output above>, V)                                     node "relevel"

Marabou 2.0.0 computes ``Sub(x, c)`` as ``x + c``, and evaluated the shift wrongly after
``X' = Add(X, -1 * V)``: neither appears. The certificate reads the head, the box, the
region and the level back from these nodes (:mod:`.graph`), so it checks the file, not the
Python object.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

from .embedding import linear_bounds
from .graph import interleave
from .rounding import switch_threshold

OPSET = 17
IR_VERSION = 8
ELEMENT_TYPES = {"float32": onnx.TensorProto.FLOAT, "float64": onnx.TensorProto.DOUBLE}
DTYPES = {"float32": np.float32, "float64": np.float64}
SWITCH_BAND = 1e-6  # the switch's band outside the region, as a fraction of its extent
SWITCH_REACH = 1e3  # the switch's width saturates at this many times |O - Z|'s bound


class _Graph:
    """Nodes and initializers, added in order; every constant rounded to ``precision``."""

    def __init__(self, precision: str) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.precision = precision

    def constant(self, name: str, value: np.ndarray | torch.Tensor | float) -> str:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.asarray(value, dtype=DTYPES[self.precision])
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def indices(self, name: str, value: list[int]) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value, np.int64), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attributes: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def gemm(self, source: str, layer: nn.Linear, name: str) -> str:
        """``source @ W' + b`` of a torch Linear layer."""
        weight = self.constant(f"{name}.weight", layer.weight)
        bias = self.constant(f"{name}.bias", layer.bias)
        return self.node("Gemm", [source, weight, bias], name, transB=1)

    def pair_max(self, sources: list[str], M: np.ndarray, c: np.ndarray, name: str) -> str:
        """``max(P[:, 2j], P[:, 2j+1])`` for each j, with ``P = Concat(sources) @ M' + c``:
        one Gemm makes both elements of every pair, so Marabou puts them in one layer (its
        DeepPoly needs that), and a MaxPool over the pair takes the maximum."""
        joined = self.node("Concat", sources, f"{name}.sources", axis=1)
        weights, bias = self.constant(f"{name}.weight", M), self.constant(f"{name}.bias", c)
        pairs = self.node("Gemm", [joined, weights, bias], f"{name}.pairs", transB=1)
        shape = self.indices(f"{name}.shape", [-1, M.shape[0] // 2, 2, 1])
        stacked = self.node("Reshape", [pairs, shape], f"{name}.stacked")  # [N, k, 2, 1]
        pooled = self.node("MaxPool", [stacked], f"{name}.pool", kernel_shape=[2, 1])
        return self.node("Flatten", [pooled], name, axis=1)

    def level(self, level: int | None, n_inputs: int) -> str | None:
        """``X[:, [level]]`` ([N, 1]) as ``X`` times a one-hot column, or None."""
        if level is None:
            return None
        column = np.zeros((n_inputs, 1))
        column[level, 0] = 1.0
        return self.node("MatMul", ["X", self.constant("level.column", column)], "level")

    def model(self, output: str, n_inputs: int, n_outputs: int) -> onnx.ModelProto:
        self.nodes.append(helper.make_node("Identity", [output], ["Y"], name="output"))
        element = ELEMENT_TYPES[self.precision]
        graph = helper.make_graph(
            self.nodes,
            "nnv-smle",
            [helper.make_tensor_value_info("X", element, ["N", n_inputs])],
            [helper.make_tensor_value_info("Y", element, ["N", n_outputs])],
            self.initializers,
        )
        model = helper.make_model(
            graph, producer_name="nnv", opset_imports=[helper.make_opsetid("", OPSET)]
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model


def _backbone(
    graph: _Graph, layers: nn.Sequential, shift: Any, scale: Any, level: int | None = None
) -> str:
    """Standardise X (minus the ``level`` column, when given), then every Linear (+ ReLU)
    of ``layers``. ``X @ (I - e_c 1')`` is ``x - x_c``, ``x @ I + (-c)`` is ``x - c`` and
    ``x @ diag(s)`` is ``x * s``, bit for bit (each output sums at most two non-zero terms,
    so it rounds once, in any order).
    Marabou 2.0.0's ``Sub`` adds its constant instead of subtracting it, hence the Gemm."""
    source = "X"
    if level is not None:  # X @ (I - e_c 1'): two non-zero products per output, x_j - x_c
        n_inputs = np.asarray(shift).shape[0]
        difference = np.identity(n_inputs)
        difference[level, :] -= 1.0
        source = graph.node("MatMul", ["X", graph.constant("delevel", difference)], "delevelled")
    shift = np.asarray(torch.as_tensor(shift).detach().cpu().numpy(), np.float64)
    identity = graph.constant("identity", np.identity(shift.shape[0]))
    minus_shift = graph.constant("minus_shift", -shift)
    centred = graph.node("Gemm", [source, identity, minus_shift], "centred")
    diagonal = np.diag(np.asarray(torch.as_tensor(scale).detach().cpu().numpy(), np.float64))
    tensor = graph.node("MatMul", [centred, graph.constant("scale", diagonal)], "standardised")
    index = 0
    for layer in layers:
        if isinstance(layer, nn.Linear):
            index += 1
            tensor = graph.gemm(tensor, layer, f"layer{index}")
        elif isinstance(layer, nn.ReLU):
            tensor = graph.node("Relu", [tensor], f"relu{index}")
    return tensor


def export_smle(model: Any, precision: str = "float32") -> onnx.ModelProto:
    """The ONNX graph of an :class:`~.model.SmleNet` (see the module docstring)."""
    graph = _Graph(precision)
    n_inputs = int(model.shift.shape[0])
    level = graph.level(model.level, n_inputs)
    hidden = _backbone(graph, model.backbone, model.shift, model.scale, model.level)
    box = model.box_value()
    # -min(H, u) = max(-H, -u), then max(min(H, u), l)
    above = graph.pair_max(["X", hidden], *_clip_pairs(-box.U, -box.u0), "clip.upper")
    clipped = graph.pair_max(["X", above], *_clip_pairs(box.L, box.l0), "clip")
    output = graph.gemm(clipped, model.head, "head")
    if model.outside is not None:
        output = _switch(graph, model, hidden, output)
    if level is not None:
        output = graph.node("Add", [output, level], "relevel")
    return graph.model(output, n_inputs, int(model.head.out_features))


def _clip_pairs(M: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Over ``[X, T]``: pairs ``(-T_j, M_j x + c_j)``."""
    k, n = M.shape
    tensor = np.hstack([np.zeros((k, n)), -np.identity(k)])
    bound = np.hstack([M, np.zeros((k, k))])
    return interleave(tensor, bound), interleave(np.zeros(k), c)


def _switch(graph: _Graph, model: Any, hidden: str, head: str) -> str:
    """``head`` (Z) wherever the region test passes, the outside head beyond the band."""
    # float32: the test widened so that every float32 input of the region passes it
    b = switch_threshold(model.region) if graph.precision == "float32" else model.region_b
    minus_b = graph.constant("region.minus_b", -np.asarray(b, np.float64))
    region_A = graph.constant("region.A", model.region_A)
    excess = graph.node("Gemm", ["X", region_A, minus_b], "region.excess", transB=1)
    column = graph.node("Unsqueeze", [excess, graph.indices("region.axes", [1, 3])],
                        "region.column")  # [N, 1, rows, 1]  # fmt: skip
    rows = int(model.region_A.shape[0])
    pooled = graph.node("MaxPool", [column], "region.pool", kernel_shape=[rows, 1])
    worst = graph.node("Flatten", [pooled], "region.worst", axis=1)  # [N, 1]
    beyond = graph.node("Relu", [worst], "region.beyond")
    K, S = switch_width(model)
    # -s = max(-K * beyond, -S): the width, saturated at S, negated
    narrow = graph.pair_max([beyond], np.array([[-K], [0.0]]), np.array([0.0, -S]),
                            "switch.width")  # fmt: skip
    W0, w0 = (t.detach().cpu().numpy() for t in (model.outside.weight, model.outside.bias))
    m, k = W0.shape
    eye, zeros, ones = np.identity(m), np.zeros((m, m)), np.ones((m, 1))
    # over [H, Z, -s]: pairs (-O_j, -Z_j - s); their maximum is -min(O, Z + s)
    outside = np.hstack([-W0, zeros, np.zeros((m, 1))])
    high = np.hstack([np.zeros((m, k)), -eye, ones])
    capped = graph.pair_max([hidden, head, narrow], interleave(outside, high),
                            interleave(-w0, np.zeros(m)), "switch.capped")  # fmt: skip
    # over [-min(O, Z + s), Z, -s]: pairs (min(O, Z + s)_j, Z_j - s)
    low = np.hstack([zeros, eye, ones])
    pairs = interleave(np.hstack([-eye, zeros, np.zeros((m, 1))]), low)
    return graph.pair_max([capped, head, narrow], pairs, np.zeros(2 * m), "switch")


def switch_width(model: Any) -> tuple[float, float]:
    """``(K, S)`` of the switch's width ``s = min(K * max(0, worst), S)``. With ``D`` a bound
    on ``|O - Z|`` over the region's bounding box (interval arithmetic), ``K`` is ``D`` over
    ``SWITCH_BAND`` times the box's largest side times the shortest row of ``A``, so that
    ``s`` reaches ``D`` about that far outside the region; ``S = SWITCH_REACH * D`` keeps
    the width (and Marabou's numbers: its DeepPoly reports spurious infeasibility when they
    reach about 1e6) bounded, so ``Y = O`` wherever ``|O - Z| <= S``."""
    region = model.region
    low, high = region.lower, region.upper
    hidden = _hidden_bounds(model, low, high)
    box = model.box_value()
    low_l, high_l = linear_bounds(box.L, box.l0, low, high)
    _, high_u = linear_bounds(box.U, box.u0, low, high)
    head = model.head_value()
    head_low, head_high = linear_bounds(head.W, head.w, low_l, np.maximum(high_u, high_l))
    weight, bias = (t.detach().cpu().numpy() for t in (model.outside.weight, model.outside.bias))
    out_low, out_high = linear_bounds(weight, bias, *hidden)
    gap = float(np.max(np.maximum(out_high - head_low, head_high - out_low)))
    gap = gap if gap > 0 else 1.0
    extent = float(np.max(high - low)) or 1.0
    row = float(np.min(np.linalg.norm(region.A, axis=1)))
    return gap / (SWITCH_BAND * extent * row), SWITCH_REACH * gap


def _hidden_bounds(model: Any, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, ...]:
    """Bounds of the backbone's output over the box ``[low, high]`` (interval arithmetic)."""
    if model.level is not None:
        low, high = low - high[model.level], high - low[model.level]
    shift, scale = (t.detach().cpu().numpy() for t in (model.shift, model.scale))
    low, high = (low - shift) * scale, (high - shift) * scale
    low, high = np.minimum(low, high), np.maximum(low, high)
    for layer in model.backbone:
        if isinstance(layer, nn.Linear):
            weight, bias = (t.detach().cpu().numpy() for t in (layer.weight, layer.bias))
            low, high = linear_bounds(weight, bias, low, high)
        elif isinstance(layer, nn.ReLU):
            low, high = np.maximum(low, 0.0), np.maximum(high, 0.0)
    return low, high


def export_plain(
    layers: nn.Sequential,
    shift: Any,
    scale: Any,
    level: int | None = None,
    precision: str = "float32",
) -> onnx.ModelProto:
    """The ONNX graph of a plain standardised ReLU network (the baselines' models), with the
    same level nodes as an SMLE graph."""
    graph = _Graph(precision)
    n_inputs = int(np.asarray(shift).shape[0])
    column = graph.level(level, n_inputs)
    output = _backbone(graph, layers, shift, scale, level)
    if column is not None:
        output = graph.node("Add", [output, column], "relevel")
    last = [layer for layer in layers if isinstance(layer, nn.Linear)][-1]
    return graph.model(output, n_inputs, int(last.out_features))
