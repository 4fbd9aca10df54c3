"""An independent check of an exported SMLE model: the ONNX file, not the Python object.

Two checks, both on the file:

1. *Proof*: the head ``g``, the box and the region switch are read back from the graph's
   nodes (:mod:`.graph`); core's verifier must show that no embedding the box allows makes
   ``g`` come within ``CERTIFY_MARGIN`` of a violation (:func:`embedding_network` writes that
   as a ReLU network over an input piece, and the tightened property as a core
   :class:`~nnv.core.Property`; every counterexample the verifier reports is replayed). The
   box overapproximates whatever the backbone computes, so this proves the property for every
   input of the region, given the structure the reader checked. A final
   ``Add(..., Gather(X, [c], axis=1))`` (a *level*: input column c added to every output) is
   accepted only for a property whose rows of A each sum to zero, where
   ``A (g(y) + x[c] 1) = A g(y)``: the same proof then covers the file.
2. *Samples*: points drawn uniformly from the region (rejection from its bounding box),
   rounded to the file's precision, run through onnxruntime; every output must satisfy the
   property.

A float32 file is proved as its float32 parameters define it, exactly; it is certified only
when float32 arithmetic provably moves no constraint by as much as the margin, and when its
region switch passes every float32 input of the property's region (:mod:`.rounding`).

``certified`` is true only when both pass. A solver that runs out of time proves nothing: the
model is not certified, and the certificate says why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import onnx

from nnv.core import InputError, InputPiece, Network, Property, Solver
from nnv.core.plugin.trainer import Proof, SampleCheck
from nnv.core.verify.verifier import Verifier

from .embedding import Box, linear_bounds
from .graph import Exported, NotSmle, file_precision, read_exported
from .grounding import CERTIFY_MARGIN, Head
from .rounding import constraint_error, switch_covers
from .spec import LinearInequalities, Region, Spec, shift_invariant

BATCH = 50_000


@dataclass(frozen=True)
class FileCertificate:
    """Both checks of a file; ``text`` says how it was certified, or why not."""

    certified: bool
    text: str
    proof: Proof | None
    samples: SampleCheck


def certify(
    model: onnx.ModelProto,
    spec: Spec,
    solver: Solver,
    samples: int,
    sample_box: tuple[np.ndarray, np.ndarray],
    seed: int = 0,
) -> FileCertificate:
    """Check ``model`` against ``spec``; ``sample_box`` is where inputs are drawn when the
    property has no region (every input)."""
    try:
        exported = read_exported(model)
    except NotSmle as error:
        return _verdict(None, sample_check(model, spec, samples, sample_box, seed), str(error))
    problem = (
        _region_mismatch(exported, spec)
        or _level_mismatch(exported, spec)
        or _rounding_problem(exported, spec)
    )
    proof = None if problem else prove(exported, spec, solver)
    return _verdict(proof, sample_check(model, spec, samples, sample_box, seed), problem)


def prove(exported: Exported, spec: Spec, solver: Solver) -> Proof:
    """Core's verifier on the file's head over its box, against ``spec`` tightened by
    ``CERTIFY_MARGIN``."""
    start = time.perf_counter()
    conjunctions = spec.unsafe_outputs(CERTIFY_MARGIN)
    holds, violation, reason = True, 0.0, ""
    if conjunctions:  # a property that forbids nothing holds
        network, piece = embedding_network(exported.head, exported.box, spec.region)
        tightened = Property(
            (piece,), conjunctions, piece.dimension, spec.n_outputs, f"{spec.name} (tightened)"
        )
        result = Verifier(solver).verify(network, tightened)
        holds = result.status == "unsat"
        if result.status == "sat" and result.output is not None:
            violation = float(spec.violation(result.output, CERTIFY_MARGIN)[0])
        elif not holds:
            reason = f"the solver answered {result.status}"
            reason += f" ({result.message})" if result.message else ""
    return Proof(
        holds=holds,
        margin=CERTIFY_MARGIN,
        solver=solver.name,
        violation=None if reason else violation,
        seconds=time.perf_counter() - start,
        level=exported.level,
        reason=reason,
    )


def embedding_network(head: Head, box: Box, region: Region | None) -> tuple[Network, InputPiece]:
    """``g`` over every embedding the box allows, as a ReLU network on an input piece.

    A constant box: the head alone, on the box ``[l0, max(l0, u0)]``. A linear box: inputs
    ``(x, e)``, x in the region and e standing for whatever the backbone computes (within
    the bounds the clip can reach, which lose nothing), and the exported clip written with
    ReLUs, ``y = l + relu(u - relu(u - e) - l) = max(min(e, u), l)``, x carried through as
    ``relu(x - lowest x)``; then ``g(y)``.
    """
    if box.is_constant:
        piece = InputPiece(box.l0, np.maximum(box.l0, box.u0))
        return Network([(head.W, head.w)]), piece
    if region is None:
        raise InputError("a linear box needs a bounded input region (use --box constant)")
    k, d = box.size, region.dimension
    low, high = region.lower, region.upper
    low_l, high_l = linear_bounds(box.L, box.l0, low, high)
    _, high_u = linear_bounds(box.U, box.u0, low, high)
    eye_k, eye_d = np.identity(k), np.identity(d)
    first = (  # r = relu(u(x) - e), p = relu(x - low)
        np.block([[box.U, -eye_k], [eye_d, np.zeros((d, k))]]),
        np.concatenate([box.u0, -low]),
    )
    gap = box.U - box.L  # s = relu(min(e, u) - l) = relu(u - r - l), q = relu(p)
    second = (
        np.block([[-eye_k, gap], [np.zeros((d, k)), eye_d]]),
        np.concatenate([gap @ low + box.u0 - box.l0, np.zeros(d)]),
    )
    output = (  # g(l + s), with x = q + low
        np.hstack([head.W, head.W @ box.L]),
        head.W @ (box.L @ low + box.l0) + head.w,
    )
    piece = InputPiece(
        np.concatenate([low, low_l]),
        np.concatenate([high, np.maximum(high_l, high_u)]),
        np.hstack([region.A, np.zeros((region.A.shape[0], k))]),
        region.b,
    )
    return Network([first, second, output]), piece


def sample_check(
    model: onnx.ModelProto,
    spec: Spec,
    count: int,
    sample_box: tuple[np.ndarray, np.ndarray],
    seed: int,
) -> SampleCheck:
    """Run ``count`` random inputs of the region through onnxruntime; count violations."""
    rng = np.random.default_rng(seed)
    if spec.region is not None:
        X, drawn = spec.region.sample(count, rng)
    else:
        low, high = sample_box
        X, drawn = rng.uniform(low, high, size=(count, low.shape[0])), count
    if file_precision(model) == "float32":  # the inputs the file can be given, in the region
        X = X.astype(np.float32).astype(np.float64)
        X = X if spec.region is None else X[spec.region.contains(X)]
    outputs = run_onnx(model, X)
    if isinstance(spec, LinearInequalities):
        broken = spec.violated(outputs)
    else:
        broken = spec.predicted_pairs(outputs) > 0
    return SampleCheck(int(X.shape[0]), int(drawn), int(broken.sum()), "onnxruntime")


def run_onnx(model: onnx.ModelProto, X: np.ndarray) -> np.ndarray:
    """The model's outputs for the rows of ``X`` (given in the file's precision), computed by
    onnxruntime, as float64."""
    try:
        import onnxruntime
    except ImportError:
        raise InputError("the certificate needs onnxruntime: pip install 'nnv[smle]'") from None
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    dtype = np.float32 if file_precision(model) == "float32" else np.float64
    parts = [
        session.run(["Y"], {"X": np.ascontiguousarray(X[i : i + BATCH], dtype=dtype)})[0]
        for i in range(0, X.shape[0], BATCH)
    ]
    parts = [part.astype(np.float64) for part in parts]
    return np.concatenate(parts) if parts else np.zeros((0, 0))


def _verdict(proof: Proof | None, samples: SampleCheck, problem: str | None) -> FileCertificate:
    proved = proof is not None and proof.holds
    if problem or proof is None:
        how = f"no proof: {problem}"
    elif proof.reason:
        how = f"no proof: the counterexample MILP ({proof.solver}) decided nothing: {proof.reason}"
    elif proved:
        how = (
            f"counterexample MILP ({proof.solver}) on the exported head and box: no input "
            f"of the region comes within {proof.margin:g} of a violation"
        )
        if proof.level is not None:
            how += (
                f" (input {proof.level}, the level, is added to every output: every row of "
                "the property's A sums to zero, so that changes nothing)"
            )
    else:
        how = "the counterexample MILP found a violation of the exported model"
    how += f"; {samples.count} sampled inputs through onnxruntime, {samples.violations} "
    how += "violations"
    return FileCertificate(bool(proved and samples.violations == 0), how, proof, samples)


def _region_mismatch(exported: Exported, spec: Spec) -> str | None:
    """Why the file's region switch does not cover the property's region, if it does not."""
    if exported.region is None:
        return None  # g(clip(...)) everywhere: the proof covers every input
    if spec.region is None:
        return "the model switches to an unconstrained head outside a region"
    A, b = exported.region
    if exported.precision == "float32":
        if switch_covers(spec.region, A, b):
            return None
        return "the model's float32 region switch does not pass every input of the region"
    if A.shape != spec.region.A.shape or not (
        np.array_equal(A, spec.region.A) and np.array_equal(b, spec.region.b)
    ):
        return "the model's region switch is not the property's input region"
    return None


def _rounding_problem(exported: Exported, spec: Spec) -> str | None:
    """Why float32 arithmetic could break a float32 file's property, if it could."""
    if exported.precision != "float32":
        return None
    moved = constraint_error(exported, spec)
    if moved < CERTIFY_MARGIN:
        return None
    if not np.isfinite(moved):
        return (
            "float32 rounding of the file's outputs is not bounded (the property has no "
            "bounded input region to bound it with)"
        )
    return (
        f"float32 rounding can move a constraint of the property by up to {moved:.3g}, not "
        f"less than the certificate's margin {CERTIFY_MARGIN:g}"
    )


def _level_mismatch(exported: Exported, spec: Spec) -> str | None:
    """Why adding the file's level to every output could break the property, if it could."""
    if exported.level is None or shift_invariant(spec):
        return None
    return (
        f"the model adds input {exported.level} (a level) to every output, and the property "
        "is not invariant to that shift (a row of A does not sum to zero)"
    )
