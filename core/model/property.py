"""Input-output properties in the VNN-LIB sense.

A property has an input region (a union of pieces, each a box, optionally cut by linear
inequalities ``A x <= b``) and an *unsafe* output condition: a disjunction of conjunctions
``C y <= d``. The property holds when no input in the region reaches an unsafe output.
VNN-LIB files state the violation, so ``sat`` means violated and ``unsat`` means it holds;
the names here keep that meaning explicit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from nnv.core.errors import InputError
from nnv.core.model.decision import DEFAULT_DECISION, Decision, check_decision


@dataclass(frozen=True)
class InputPiece:
    """A box ``lower <= x <= upper``, optionally intersected with ``A x <= b``."""

    lower: np.ndarray
    upper: np.ndarray
    A: np.ndarray | None = None
    b: np.ndarray | None = None

    @property
    def is_box(self) -> bool:
        return self.A is None

    @property
    def dimension(self) -> int:
        return int(self.lower.shape[0])

    def volume(self) -> float:
        """The box's volume over the inputs it does not fix (the ``A x <= b`` cut ignored)."""
        return float(np.prod((self.upper - self.lower)[self.upper > self.lower]))

    def contains(self, points: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Which rows of ``points`` lie in this piece (within ``tol``)."""
        points = np.atleast_2d(points)
        inside = np.all(points >= self.lower - tol, axis=1) & np.all(
            points <= self.upper + tol, axis=1
        )
        if self.A is not None and self.b is not None:
            inside &= np.all(points @ self.A.T <= self.b + tol, axis=1)
        return inside


@dataclass(frozen=True)
class OutputConjunction:
    """``C y <= d``: one disjunct of an unsafe output condition."""

    C: np.ndarray
    d: np.ndarray

    def holds(self, outputs: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Which rows of ``outputs`` satisfy every inequality (within ``tol``)."""
        outputs = np.atleast_2d(outputs)
        return np.all(outputs @ self.C.T <= self.d + tol, axis=1)


@dataclass(frozen=True)
class Property:
    """An input region and the outputs that are forbidden on it."""

    pieces: tuple[InputPiece, ...]
    unsafe_outputs: tuple[OutputConjunction, ...]
    n_inputs: int
    n_outputs: int
    name: str = "property"
    # The class every input must get, for properties made by ``classification`` (under the
    # decision rule they were made for); :meth:`allowed_classes` reads any property's classes.
    label: int | None = field(default=None)

    def __post_init__(self) -> None:
        if not self.pieces:
            raise InputError(f"{self.name}: the input region is empty")
        if not self.unsafe_outputs:
            raise InputError(f"{self.name}: no output condition")
        for piece in self.pieces:
            if piece.dimension != self.n_inputs:
                raise InputError(f"{self.name}: an input piece has the wrong dimension")
            if np.any(piece.lower > piece.upper):
                raise InputError(f"{self.name}: an input box has a lower bound above its upper")
            if not (np.isfinite(piece.lower).all() and np.isfinite(piece.upper).all()):
                raise InputError(f"{self.name}: every input needs finite lower and upper bounds")
        for conjunction in self.unsafe_outputs:
            if conjunction.C.shape[1] != self.n_outputs:
                raise InputError(f"{self.name}: an output constraint has the wrong dimension")

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def robustness(
        cls,
        center: Sequence[float],
        radius: float,
        label: int,
        n_outputs: int,
        norm: str = "linf",
        name: str | None = None,
        decision: Decision = DEFAULT_DECISION,
    ) -> Property:
        """Every x with ``|x - center|_inf <= radius`` must be classified as ``label``.

        The unsafe set is "some other output is at least as good as the label's" (as large
        under argmax, as small under argmin): ties count as violations, the conservative
        reading.
        """
        if norm != "linf":
            raise InputError(f"norm {norm!r} is not supported; use 'linf' (a box)")
        center_array = np.asarray(center, dtype=np.float64)
        piece = InputPiece(center_array - radius, center_array + radius)
        return cls.classification(
            piece, label, n_outputs, name or f"robust({label})", decision=decision
        )

    @classmethod
    def classification(
        cls,
        piece: InputPiece,
        label: int,
        n_outputs: int,
        name: str = "classification",
        decision: Decision = DEFAULT_DECISION,
    ) -> Property:
        """Every x in ``piece`` must be classified as ``label`` (ties count as violations)."""
        prop = cls.decided_as(piece, [label], n_outputs, name, decision)
        return replace(prop, label=label)

    @classmethod
    def decided_as(
        cls,
        piece: InputPiece,
        allowed: Sequence[int],
        n_outputs: int,
        name: str = "classification",
        decision: Decision = DEFAULT_DECISION,
    ) -> Property:
        """Every x in ``piece`` must be decided as one of the ``allowed`` classes ("COC or WL").

        One unsafe disjunct per other class f: "f is at least as good as every allowed class"
        (ties count as violations). :meth:`allowed_classes` reads the classes back.
        """
        chosen = sorted({int(c) for c in allowed})
        if not chosen or not 0 <= chosen[0] <= chosen[-1] < n_outputs:
            raise InputError(f"allowed classes {chosen} are not among the {n_outputs} outputs")
        towards = 1.0 if check_decision(decision) == "argmax" else -1.0
        unsafe = []
        for other in sorted(set(range(n_outputs)) - set(chosen)):
            rows = np.zeros((len(chosen), n_outputs))
            for row, kept in enumerate(chosen):
                # argmax: y_kept - y_other <= 0; argmin: y_other - y_kept <= 0
                rows[row, kept], rows[row, other] = towards, -towards
            unsafe.append(OutputConjunction(rows, np.zeros(len(chosen))))
        if not unsafe:
            raise InputError(f"{name}: every class is allowed, so nothing is unsafe")
        return cls(
            (piece,), tuple(unsafe), n_inputs=piece.dimension, n_outputs=n_outputs, name=name
        )

    @classmethod
    def linear(
        cls,
        A_in: np.ndarray,
        b_in: np.ndarray,
        A_out: np.ndarray,
        b_out: np.ndarray,
        name: str = "linear",
    ) -> Property:
        """SMLE's form: for every x with ``A_in x <= b_in``, ``A_out y <= b_out`` must hold.

        The input polytope must be bounded; its bounding box is computed by linear
        programming. Each row of ``A_out`` gives one unsafe disjunct ``A_out[c] y >= b_out[c]``
        (the boundary counts as a violation, the conservative reading).
        """
        from scipy.optimize import linprog

        A_in = np.atleast_2d(np.asarray(A_in, dtype=np.float64))
        b_in = np.asarray(b_in, dtype=np.float64).reshape(-1)
        A_out = np.atleast_2d(np.asarray(A_out, dtype=np.float64))
        b_out = np.asarray(b_out, dtype=np.float64).reshape(-1)
        n = A_in.shape[1]
        lower, upper = np.empty(n), np.empty(n)
        for i in range(n):
            for sign, target in ((1.0, lower), (-1.0, upper)):
                cost = np.zeros(n)
                cost[i] = sign
                result = linprog(cost, A_ub=A_in, b_ub=b_in, bounds=[(None, None)] * n)
                if result.status == 2:
                    raise InputError(f"{name}: the input polytope is empty")
                if result.status != 0:
                    raise InputError(f"{name}: the input polytope must be bounded")
                target[i] = sign * result.fun
        piece = InputPiece(lower, upper, A_in, b_in)
        unsafe = tuple(
            OutputConjunction(-A_out[c : c + 1], -b_out[c : c + 1]) for c in range(A_out.shape[0])
        )
        return cls((piece,), unsafe, n_inputs=n, n_outputs=A_out.shape[1], name=name)

    def allowed_classes(self, decision: Decision = DEFAULT_DECISION) -> frozenset[int] | None:
        """The classes the region's inputs may be decided as, read from the unsafe outputs when
        they say exactly "the decision is none of these"; None when they have another form.

        That form: each unsafe disjunct names one class f and says "f is at least as good as
        every allowed class" (rows ``k (y_f - y_a) <= d`` under argmin, ``k (y_a - y_f) <= d``
        under argmax, with k > 0 and d >= 0, so ties count as unsafe), one disjunct for each
        class not allowed. ``decided_as`` and ``classification`` write it; so do the paper's
        files and ACAS Xu's (property 8 under argmin: "the minimum is one of outputs 2, 3, 4",
        so {0, 1}, COC or WL, are allowed).
        """
        check_decision(decision)
        allowed: frozenset[int] | None = None
        forbidden: set[int] = set()
        for conjunction in self.unsafe_outputs:
            form = _beats_all(conjunction, decision)
            if form is None or form[0] in forbidden or allowed not in (None, form[1]):
                return None
            forbidden.add(form[0])
            allowed = form[1]
        if allowed is None or forbidden & allowed or len(forbidden | allowed) != self.n_outputs:
            return None
        return allowed

    def expanded(self, margin: float) -> Property:
        """The same region with every unsafe conjunction loosened by ``margin`` (``C y <= d + m``).

        Proving the expanded property proves this one, with ``margin`` to spare: repair verifies
        candidates this way so that fixed counterexamples are not found again.
        """
        return replace(
            self,
            unsafe_outputs=tuple(OutputConjunction(c.C, c.d + margin) for c in self.unsafe_outputs),
        )

    # -- checks -----------------------------------------------------------------------------

    def check_fits(self, n_inputs: int, n_outputs: int) -> None:
        """Raise a clear error when the property does not match a network's dimensions."""
        if (self.n_inputs, self.n_outputs) != (n_inputs, n_outputs):
            raise InputError(
                f"{self.name} is over {self.n_inputs} inputs and {self.n_outputs} outputs, "
                f"but the network has {n_inputs} inputs and {n_outputs} outputs"
            )

    def volume(self) -> float:
        """The region's volume over the inputs its pieces do not fix (summed over pieces; a
        piece's ``A x <= b`` cut is ignored): what a share of the region proved is taken of."""
        return sum(piece.volume() for piece in self.pieces)

    def in_region(self, points: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Which rows of ``points`` lie in some piece of the input region."""
        points = np.atleast_2d(points)
        inside = np.zeros(points.shape[0], dtype=bool)
        for piece in self.pieces:
            inside |= piece.contains(points, tol)
        return inside

    def is_unsafe(self, outputs: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Which rows of ``outputs`` satisfy some unsafe conjunction (within ``tol``)."""
        outputs = np.atleast_2d(outputs)
        unsafe = np.zeros(outputs.shape[0], dtype=bool)
        for conjunction in self.unsafe_outputs:
            unsafe |= conjunction.holds(outputs, tol)
        return unsafe

    def violations(self, network_forward, points: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Which rows of ``points`` are in the region and reach an unsafe output."""
        points = np.atleast_2d(points)
        return self.in_region(points) & self.is_unsafe(network_forward(points))

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        """The smallest box holding every piece."""
        lower = np.min([piece.lower for piece in self.pieces], axis=0)
        upper = np.max([piece.upper for piece in self.pieces], axis=0)
        return lower, upper


def _beats_all(
    conjunction: OutputConjunction, decision: Decision
) -> tuple[int, frozenset[int]] | None:
    """``(f, losers)`` when every row of ``conjunction`` says "class f is at least as good as
    one loser" (see :meth:`Property.allowed_classes`); None otherwise."""
    winner: int | None = None
    losers: set[int] = set()
    for row, bound in zip(conjunction.C, conjunction.d, strict=True):
        nonzero = np.flatnonzero(row)
        if nonzero.size != 2 or row[nonzero[0]] != -row[nonzero[1]] or bound < 0:
            return None
        # the row reads k (y_low - y_high) <= d: y_low is at most y_high (up to d / k)
        low, high = (nonzero[0], nonzero[1]) if row[nonzero[0]] > 0 else (nonzero[1], nonzero[0])
        better, worse = (int(low), int(high)) if decision == "argmin" else (int(high), int(low))
        if winner not in (None, better):
            return None
        winner = better
        losers.add(worse)
    return None if winner is None else (winner, frozenset(losers))
