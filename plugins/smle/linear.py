"""Linear inequalities ``A g(y) <= b``: counterexample MILP, projection QP, target projection."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nnv.core import InputError, QueryBuilder, Solver

from .embedding import Box, add_embedding, linear_bounds
from .grounding import (
    SEARCH_GAP,
    SEARCH_MARGIN,
    Counterexample,
    Head,
    SolverPair,
    solve,
)
from .least_distance import least_distance
from .spec import LinearInequalities

CHUNK = 100  # points per projection QP
FEASIBLE = 1e-7  # how far a QP answer may break a (unit-norm) row before it is refused


class LinearGrounding(SolverPair):
    """SMLE's problems for ``A y <= b`` on a region."""

    spec: LinearInequalities

    def counterexample(
        self, head: Head, box: Box, margin: float = SEARCH_MARGIN
    ) -> Counterexample | None:
        """Maximise the total violation ``sum_c max(0, A_c g(y) - b_c + margin)``.

        Rows that no reachable embedding can violate (by interval bounds, exact for a constant
        box) are left out; when none is left no MILP is needed.
        """
        builder = QueryBuilder()
        embedding = add_embedding(builder, box, self.spec.region)
        G = self.spec.A @ head.W  # (C, k): A g(y) = G y + A w
        offset = self.spec.A @ head.w - self.spec.b + margin
        _, most = linear_bounds(G, offset, embedding.lower, embedding.upper)
        rows = np.flatnonzero(most > SEARCH_GAP)
        if not rows.size:
            return None
        count = rows.size
        slack = builder.add_vars(count, 0.0, most[rows])  # max(0, violation of row c)
        active = builder.add_binaries(count)
        cap = sp.hstack([sp.identity(count), sp.diags(-most[rows])], format="csr")
        builder.add_rows(cap, np.concatenate([slack, active]), -np.inf, 0.0)
        below = sp.hstack([sp.identity(count), sp.csr_matrix(-G[rows])], format="csr")
        columns = np.concatenate([slack, embedding.y])
        builder.add_indicators(active, below, columns, -np.inf, offset[rows])
        objective = np.zeros(builder.n_vars)
        objective[slack] = 1.0
        query = builder.build(objective=objective, maximize=True, absolute_gap=SEARCH_GAP)
        solution = solve(self.solver, query, "counterexample search")
        if solution.values is None or (solution.objective or 0.0) <= SEARCH_GAP:
            return None
        values = solution.values
        x = None if embedding.x is None else values[embedding.x]
        return Counterexample(values[embedding.y], x, float(solution.objective or 0.0))

    def project(self, head: Head, pool: np.ndarray) -> Head:
        """The QP ``min |W - W0|^2 + |w - w0|^2`` s.t. ``A g(y_s) <= b - margin`` for all s."""
        m, k = head.W.shape
        A, b = self.spec.A, self.spec.b
        pool = np.atleast_2d(pool)
        count = pool.shape[0] * A.shape[0]
        # Row (s, c) reads A[c, i] * y_s[j] for W[i, j] and A[c, i] for w[i].
        on_W = np.einsum("ci,sj->scij", A, pool).reshape(count, m * k)
        rows = np.hstack([on_W, np.tile(A, (pool.shape[0], 1))])
        bound = np.tile(b - self.projection_margin, pool.shape[0])
        step = nearest_step(rows, bound, head.vector(), self.projector)
        if step is None:
            raise InputError(
                f"{self.spec.name}: no output layer meets the property at the counterexamples "
                f"with margin {self.projection_margin} (is the output polytope empty or thin?)"
            )
        return Head.from_vector(head.vector() + step, m, k)


def nearest_step(
    rows: np.ndarray | sp.spmatrix, bound: np.ndarray, start: np.ndarray, solver: Solver
) -> np.ndarray | None:
    """The shortest ``d`` with ``rows @ (start + d) <= bound`` (a QP), or None if none exists.

    Stated in the step ``d`` with unit-norm rows. HiGHS's active-set QP fails on some of these
    (it "claims optimality" with infeasibilities near 1e-5 when many nearly dependent rows
    are active, which is the rule late in training: the last projection left the pooled
    points exactly at the margin); an answer that is not feasible to ``FEASIBLE`` is replaced
    by the exact least-distance solution.
    """
    rows = sp.csr_matrix(rows)
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    norms = np.where(norms > 0, norms, 1.0)
    scaled = sp.csr_matrix(sp.diags(1.0 / norms) @ rows)
    slack = (bound - rows @ start) / norms
    builder = QueryBuilder()
    builder.add_vars(start.size)
    builder.add_rows(scaled, None, -np.inf, slack)
    solution = solver.solve(builder.build(quadratic=sp.identity(start.size, format="csr") * 2.0))
    if solution.status == "infeasible":
        return None
    if solution.values is not None and _worst(scaled, solution.values, slack) <= FEASIBLE:
        return solution.values
    return least_distance(scaled.toarray(), slack)


def _worst(rows: sp.csr_matrix, values: np.ndarray, bound: np.ndarray) -> float:
    return float(np.max(rows @ values - bound, initial=0.0))


def project_points(spec: LinearInequalities, Y: np.ndarray, solver: Solver) -> np.ndarray:
    """The Euclidean projection of each row of ``Y`` onto ``{y : A y <= b}``.

    Rows that already satisfy the property stay as they are; the others are projected
    ``CHUNK`` at a time, each chunk one block-diagonal QP (HiGHS's active-set QP slows down
    sharply as the number of free variables grows, so one QP for all rows would not pay).
    This is the MAP/projection operator of the preprocess and postprocess baselines.
    """
    Y = np.array(np.atleast_2d(Y), dtype=np.float64)
    broken = np.flatnonzero(spec.violated(Y))
    for begin in range(0, broken.size, CHUNK):
        rows = broken[begin : begin + CHUNK]
        Y[rows] = _project_chunk(spec, Y[rows], solver)
    return Y


def _project_chunk(spec: LinearInequalities, Y: np.ndarray, solver: Solver) -> np.ndarray:
    n, m = Y.shape
    blocks = sp.kron(sp.identity(n), spec.A, format="csr")
    # Aim inside by the tolerance an answer is accepted with, so every answer meets A y <= b.
    bound = spec.b - FEASIBLE * np.linalg.norm(spec.A, axis=1)
    step = nearest_step(blocks, np.tile(bound, n), Y.ravel(), solver)
    if step is None:
        raise InputError(f"{spec.name}: the output polytope A y <= b is empty")
    return (Y.ravel() + step).reshape(n, m)
