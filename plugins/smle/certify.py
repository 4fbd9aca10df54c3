"""An independent check of an exported SMLE model: the ONNX file, not the Python object.

Two checks, both on the file:

1. *Proof*: the head ``g``, the box and the region switch are read back from the graph's
   nodes (:mod:`.export` names them); the counterexample MILP over the embeddings the box
   allows, with the property tightened by ``CERTIFY_MARGIN``, must find nothing. The box
   overapproximates whatever the backbone computes, so this proves the property for every
   input of the region, given the structure the reader checked. A final
   ``Add(..., Gather(X, [c], axis=1))`` (a *level*: input column c added to every output) is
   accepted only for a property whose rows of A each sum to zero, where
   ``A (g(y) + x[c] 1) = A g(y)``: the same proof then covers the file.
2. *Samples*: points drawn uniformly from the region (rejection from its bounding box) run
   through onnxruntime; every output must satisfy the property.

``certified`` is true only when both pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from nnv.core import InputError

from .embedding import Box
from .grounding import CERTIFY_MARGIN, Head
from .groundings import make_grounding
from .spec import LinearInequalities, Spec, shift_invariant

BATCH = 50_000
GEMM_DEFAULTS = {"transA": 0, "transB": 0, "alpha": 1.0, "beta": 1.0}


class NotSmle(InputError):
    """The ONNX graph does not have the structure the proof relies on."""


@dataclass(frozen=True)
class Exported:
    """What the proof needs from the file."""

    head: Head
    box: Box
    region: tuple[np.ndarray, np.ndarray] | None  # (A, b) of the switch; None: no switch
    level: int | None = None  # the input column added to every output; None: no level


def read_exported(model: onnx.ModelProto) -> Exported:
    """The head, box, region switch and level of an SMLE graph; :class:`NotSmle` if it has
    none."""
    graph = model.graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    constants = {name: array.astype(np.float64) for name, array in arrays.items()}
    producers = {output: node for node in graph.node for output in node.output}
    n_inputs = _input_width(graph)
    source = _input_of(producers, "Y", "Identity")
    level = None
    node = producers.get(source)
    if node is not None and node.op_type == "Add":
        level, source = _level(producers, arrays, node, n_inputs)
    region = None
    node = producers.get(source)
    if node is not None and node.op_type == "Where":
        region = _region(producers, constants, node.input[0])
        source = node.input[1]
    head_node = _producer(producers, source, "Gemm")
    W, w = _affine(head_node, constants)
    clip = _producer(producers, head_node.input[0], "Max")
    lower = _bound(producers, constants, clip.input[1])
    below = _producer(producers, clip.input[0], "Min")
    upper = _bound(producers, constants, below.input[1])
    size = W.shape[1]
    (L, l0), (U, u0) = (_as_map(part, size, n_inputs) for part in (lower, upper))
    return Exported(Head(W, w), Box(L, l0, U, u0), region, level)


def certify(
    model: onnx.ModelProto,
    spec: Spec,
    solver: str,
    solver_options: dict[str, object],
    samples: int,
    sample_box: tuple[np.ndarray, np.ndarray],
    seed: int = 0,
) -> dict[str, Any]:
    """Check ``model`` against ``spec``; ``sample_box`` is where inputs are drawn when the
    property has no region (every input)."""
    try:
        exported = read_exported(model)
    except NotSmle as error:
        return _verdict(None, sample_check(model, spec, samples, sample_box, seed), str(error))
    problem = _region_mismatch(exported, spec) or _level_mismatch(exported, spec)
    proof = None if problem else _prove(exported, spec, solver, solver_options)
    return _verdict(proof, sample_check(model, spec, samples, sample_box, seed), problem)


def _prove(
    exported: Exported, spec: Spec, solver: str, solver_options: dict[str, object]
) -> dict[str, Any]:
    start = time.perf_counter()
    grounding = make_grounding(spec, solver, solver_options)
    found = grounding.counterexample(exported.head, exported.box, margin=CERTIFY_MARGIN)
    return {
        "holds": found is None,
        "margin": CERTIFY_MARGIN,
        "solver": solver,
        "violation": 0.0 if found is None else found.violation,
        "seconds": time.perf_counter() - start,
        **({} if exported.level is None else {"level": exported.level}),
    }


def sample_check(
    model: onnx.ModelProto,
    spec: Spec,
    count: int,
    sample_box: tuple[np.ndarray, np.ndarray],
    seed: int,
) -> dict[str, Any]:
    """Run ``count`` random inputs of the region through onnxruntime; count violations."""
    rng = np.random.default_rng(seed)
    if spec.region is not None:
        X, drawn = spec.region.sample(count, rng)
    else:
        low, high = sample_box
        X, drawn = rng.uniform(low, high, size=(count, low.shape[0])), count
    outputs = run_onnx(model, X)
    if isinstance(spec, LinearInequalities):
        broken = spec.violated(outputs)
    else:
        broken = spec.predicted_pairs(outputs) > 0
    violations = int(broken.sum())
    return {
        "count": int(X.shape[0]),
        "drawn": int(drawn),
        "violations": violations,
        "violation_rate": violations / max(X.shape[0], 1),
        "runtime": "onnxruntime",
    }


def run_onnx(model: onnx.ModelProto, X: np.ndarray) -> np.ndarray:
    """The model's outputs for the rows of ``X``, computed by onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        raise InputError("the certificate needs onnxruntime: pip install 'nnv[smle]'") from None
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    parts = [
        session.run(["Y"], {"X": np.ascontiguousarray(X[i : i + BATCH], dtype=np.float64)})[0]
        for i in range(0, X.shape[0], BATCH)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0))


def _verdict(
    proof: dict[str, Any] | None, samples: dict[str, Any], problem: str | None
) -> dict[str, Any]:
    proved = proof is not None and proof["holds"]
    sampled = samples["violations"] == 0
    if problem or proof is None:
        how = f"no proof: {problem}"
    elif proved:
        how = (
            f"counterexample MILP ({proof['solver']}) on the exported head and box: no input "
            f"of the region comes within {proof['margin']:g} of a violation"
        )
        if proof.get("level") is not None:
            how += (
                f" (input {proof['level']}, the level, is added to every output: every row of "
                "the property's A sums to zero, so that changes nothing)"
            )
    else:
        how = "the counterexample MILP found a violation of the exported model"
    how += f"; {samples['count']} sampled inputs through onnxruntime, {samples['violations']} "
    how += "violations"
    return {
        "certified": bool(proved and sampled),
        "certificate": how,
        "proof": proof,
        "samples": samples,
    }


def _region_mismatch(exported: Exported, spec: Spec) -> str | None:
    """Why the file's region switch does not cover the property's region, if it does not."""
    if exported.region is None:
        return None  # g(clip(...)) everywhere: the proof covers every input
    if spec.region is None:
        return "the model switches to an unconstrained head outside a region"
    A, b = exported.region
    if A.shape != spec.region.A.shape or not (
        np.array_equal(A, spec.region.A) and np.array_equal(b, spec.region.b)
    ):
        return "the model's region switch is not the property's input region"
    return None


def _level_mismatch(exported: Exported, spec: Spec) -> str | None:
    """Why adding the file's level to every output could break the property, if it could."""
    if exported.level is None or shift_invariant(spec):
        return None
    return (
        f"the model adds input {exported.level} (a level) to every output, and the property "
        "is not invariant to that shift (a row of A does not sum to zero)"
    )


# -- reading the graph -------------------------------------------------------------------


def _producer(producers: dict[str, onnx.NodeProto], tensor: str, op: str) -> onnx.NodeProto:
    node = producers.get(tensor)
    if node is None or node.op_type != op:
        found = "a graph input or constant" if node is None else node.op_type
        raise NotSmle(f"not an SMLE graph: expected {op} to make {tensor!r}, found {found}")
    return node


def _input_of(producers: dict[str, onnx.NodeProto], tensor: str, op: str) -> str:
    return _producer(producers, tensor, op).input[0]


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _level(
    producers: dict[str, onnx.NodeProto],
    arrays: dict[str, np.ndarray],
    add: onnx.NodeProto,
    n_inputs: int,
) -> tuple[int, str]:
    """The column ``c`` and the other input of ``Add(core, Gather(X, [c], axis=1))`` (either
    order): ``X[:, [c]]``, shape [N, 1], added to every output."""
    gathers = [
        i
        for i, name in enumerate(add.input)
        if (node := producers.get(name)) is not None and node.op_type == "Gather"
    ]
    if len(add.input) != 2 or not gathers:
        raise NotSmle("not an SMLE graph: the final Add does not add an input column")
    gather = producers[add.input[gathers[-1]]]
    index = arrays.get(gather.input[1]) if len(gather.input) == 2 else None
    if (
        gather.input[0] != "X"
        or _attributes(gather) != {"axis": 1}
        or index is None
        or index.dtype.kind not in "iu"
        or index.shape != (1,)
        or not -n_inputs <= int(index[0]) < n_inputs
    ):
        raise NotSmle(
            "not an SMLE graph: the level is not Gather(X, [c], axis=1) with a constant column c"
        )
    return int(index[0]) % n_inputs, add.input[1 - gathers[-1]]


def _affine(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """``(W, w)`` of a Gemm ``A @ W' + w`` with constant W and w (and no other attribute)."""
    attributes = {**GEMM_DEFAULTS, **_attributes(node)}
    if attributes != {**GEMM_DEFAULTS, "transB": 1} or len(node.input) != 3:
        raise NotSmle(f"not an SMLE graph: Gemm {node.name!r} is not x @ W' + w")
    missing = [name for name in node.input[1:] if name not in constants]
    if missing:
        raise NotSmle(f"not an SMLE graph: Gemm {node.name!r} has non-constant weights")
    return constants[node.input[1]], constants[node.input[2]]


def _bound(
    producers: dict[str, onnx.NodeProto], constants: dict[str, np.ndarray], tensor: str
) -> tuple[np.ndarray | None, np.ndarray]:
    """A clip bound: a constant vector, or ``Gemm(X, M, c)``; returns ``(M or None, c)``."""
    if tensor in constants:
        return None, constants[tensor].reshape(-1)
    node = _producer(producers, tensor, "Gemm")
    if node.input[0] != "X":
        raise NotSmle("not an SMLE graph: a clip bound is not a linear map of the input")
    M, c = _affine(node, constants)
    return M, c


def _as_map(
    part: tuple[np.ndarray | None, np.ndarray], size: int, n_inputs: int
) -> tuple[np.ndarray, np.ndarray]:
    M, c = part
    c = np.broadcast_to(c, (size,)).copy()
    return (np.zeros((size, n_inputs)) if M is None else M), c


def _region(
    producers: dict[str, onnx.NodeProto], constants: dict[str, np.ndarray], tensor: str
) -> tuple[np.ndarray, np.ndarray]:
    """The switch's ``A x <= b`` from ``LessOrEqual(ReduceMax(Gemm(X, A, c)), t)``."""
    test = _producer(producers, tensor, "LessOrEqual")
    worst = _producer(producers, test.input[0], "ReduceMax")
    attributes = _attributes(worst)
    if list(attributes.get("axes", [])) != [1] or len(worst.input) != 1:
        raise NotSmle("not an SMLE graph: the region test does not reduce over constraints")
    excess = _producer(producers, worst.input[0], "Gemm")
    if excess.input[0] != "X" or test.input[1] not in constants:
        raise NotSmle("not an SMLE graph: the region test is not A x + c <= t")
    A, c = _affine(excess, constants)
    threshold = constants[test.input[1]].reshape(-1)
    if threshold.size != 1:
        raise NotSmle("not an SMLE graph: the region threshold is not a scalar")
    return A, threshold[0] - c


def _input_width(graph: onnx.GraphProto) -> int:
    shape = graph.input[0].type.tensor_type.shape.dim
    return int(shape[1].dim_value)
