"""Mutual exclusion of label pairs: counterexample MILP, projection MILP, MAP labelling.

Label i is predicted iff its logit ``z_i = g(y)_i`` is positive; a forbidden pair (i, j) must
never have both. The counterexample search maximises ``sum_p max(0, min(z_i, z_j) + margin)``
over the reachable embeddings. The projection must put, at every stored counterexample and
for every pair, one of the two logits at or below ``-margin``: a disjunction, so the
projection is mixed-integer. HiGHS has no MIQP, so the distance is L1 (``sum |W - W0| +
|w - w0|``), which makes the projection an exact MILP.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nnv.core import QueryBuilder, Solver

from .embedding import Box, add_embedding, linear_bounds
from .grounding import (
    SEARCH_GAP,
    SEARCH_MARGIN,
    Counterexample,
    Head,
    SolveError,
    SolverPair,
    solve,
)
from .spec import MutualExclusion

CHUNK = 200  # rows per labelling MILP
TOLERANCE = 1e-7  # how far past the margin a solved disjunction may sit (MILP tolerances)


class ExclusionGrounding(SolverPair):
    """SMLE's problems for a mutual-exclusion property."""

    spec: MutualExclusion

    def counterexample(
        self, head: Head, box: Box, margin: float = SEARCH_MARGIN
    ) -> Counterexample | None:
        """The embedding that predicts a forbidden pair most: ``max_p max_y min(z_i, z_j)``.

        Each pair that interval bounds do not rule out gets its own copy of the embedding in
        one Query; the blocks are independent, so maximising the sum of ``t_p <= min(z_i,
        z_j) + margin`` maximises every block, and the best block is the counterexample. With
        a constant box this is an LP: exact, and far faster than one MILP that sums the
        violations over pairs (minutes on Yeast's 55 pairs).
        """
        probe = add_embedding(QueryBuilder(), box, self.spec.region)  # for its bounds
        _, high = linear_bounds(head.W, head.w, probe.lower, probe.upper)
        first, second = self.spec.pairs[:, 0], self.spec.pairs[:, 1]
        most = np.minimum(high[first], high[second]) + margin
        keep = np.flatnonzero(most > SEARCH_GAP)
        if not keep.size:
            return None
        builder = QueryBuilder()
        blocks = [add_embedding(builder, box, self.spec.region) for _ in keep]
        best = builder.add_vars(keep.size, -np.inf, most[keep])
        for block, pair, t in zip(blocks, keep, best, strict=True):
            labels = self.spec.pairs[pair]
            rows = np.hstack([np.ones((2, 1)), -head.W[labels]])  # t - z_label(y) <= margin
            columns = np.concatenate([[t], block.y])
            builder.add_rows(rows, columns, -np.inf, head.w[labels] + margin)
        objective = np.zeros(builder.n_vars)
        objective[best] = 1.0
        query = builder.build(objective=objective, maximize=True, absolute_gap=SEARCH_GAP)
        solution = solve(self.solver, query, "counterexample search")
        if solution.values is None:
            return None
        values = solution.values
        winner = int(np.argmax(values[best]))
        violation = float(values[best][winner])
        if violation <= SEARCH_GAP:
            return None
        block = blocks[winner]
        x = None if block.x is None else values[block.x]
        return Counterexample(values[block.y], x, violation)

    def project(self, head: Head, pool: np.ndarray) -> Head:
        """The L1-nearest head with, at every pooled embedding and for every pair, one of the
        two logits at most ``-margin``: an exact MILP, its disjunctions added lazily.

        Only the (embedding, pair) disjunctions the current head breaks go in at first; when
        the answer breaks another, it is added and the MILP solved again. The last answer is
        optimal for a relaxation and feasible for the whole problem, so it is its optimum,
        with far fewer binaries than all pairs at all pooled embeddings would need.
        """
        pool = np.atleast_2d(pool)
        m, k = head.W.shape
        radius = _trivial_cost(self.spec, head, pool, self.projection_margin)
        if radius == 0.0:
            return head
        chosen = np.zeros((pool.shape[0], self.spec.pairs.shape[0]), dtype=bool)
        current = head
        while True:
            broken = self._both(current, pool) > -self.projection_margin + TOLERANCE
            if not broken.any():
                return current
            if current is not head and not (broken & ~chosen).any():
                raise SolveError("projection: the solver's answer breaks its own constraints")
            chosen |= broken
            current = self._solve(head, pool, np.argwhere(chosen), radius)

    def _both(self, head: Head, pool: np.ndarray) -> np.ndarray:
        """``min(z_i, z_j)`` for every pooled embedding (rows) and pair (columns)."""
        logits = head(pool)
        return np.minimum(logits[:, self.spec.pairs[:, 0]], logits[:, self.spec.pairs[:, 1]])

    def _solve(self, head: Head, pool: np.ndarray, cases: np.ndarray, radius: float) -> Head:
        """The MILP with the disjunctions of ``cases`` (rows ``(embedding, pair)``)."""
        m, k = head.W.shape
        start = head.vector()
        n = start.size
        builder = QueryBuilder()
        v = builder.add_vars(n, start - radius, start + radius)
        distance = builder.add_vars(n, 0.0, radius)
        eye = sp.identity(n, format="csr")
        columns = np.concatenate([distance, v])
        builder.add_rows(sp.hstack([eye, -eye], format="csr"), columns, -start, np.inf)
        builder.add_rows(sp.hstack([eye, eye], format="csr"), columns, start, np.inf)
        count = cases.shape[0]
        choose_first, choose_second = builder.add_binaries(count), builder.add_binaries(count)
        either = sp.hstack([sp.identity(count)] * 2, format="csr")
        builder.add_rows(either, np.concatenate([choose_first, choose_second]), 1.0, np.inf)
        points, pairs = pool[cases[:, 0]], self.spec.pairs[cases[:, 1]]
        for choice, labels in ((choose_first, pairs[:, 0]), (choose_second, pairs[:, 1])):
            rows = _logit_rows(points, labels, m, k)
            builder.add_indicators(choice, rows, v, -np.inf, -self.projection_margin)
        objective = np.zeros(builder.n_vars)
        objective[distance] = 1.0
        solution = solve(self.projector, builder.build(objective=objective), "projection")
        if solution.values is None:  # the bias shift of _trivial_cost is always feasible
            raise SolveError("projection: the solver found a feasible problem infeasible")
        return Head.from_vector(solution.values[v], m, k)


def _logit_rows(points: np.ndarray, labels: np.ndarray, m: int, k: int) -> sp.csr_matrix:
    """Row r computes ``z_labels[r](points[r]) = W[label] . y + w[label]`` from the head
    vector ``[vec(W), w]``."""
    count = labels.size
    rows = np.repeat(np.arange(count), k + 1)
    columns = np.concatenate([labels[:, None] * k + np.arange(k), m * k + labels[:, None]], axis=1)
    data = np.concatenate([points, np.ones((count, 1))], axis=1)
    return sp.csr_matrix((data.ravel(), (rows, columns.ravel())), shape=(count, m * k + m))


def _trivial_cost(spec: MutualExclusion, head: Head, pool: np.ndarray, margin: float) -> float:
    """The L1 cost of a head that is surely feasible: lower the bias of every label in a pair
    until its logit is ``-margin`` at every pooled embedding. The optimum costs no more, so
    no parameter moves further, which bounds the MILP's variables (and its big-M values)."""
    logits = head(pool)
    both = np.minimum(logits[:, spec.pairs[:, 0]], logits[:, spec.pairs[:, 1]])
    if np.all(both <= -margin):
        return 0.0
    highest = logits[:, np.unique(spec.pairs)].max(axis=0)
    return float(np.sum(np.maximum(highest + margin, 0.0))) + margin


def map_labels(spec: MutualExclusion, scores: np.ndarray, solver: Solver) -> np.ndarray:
    """For each row, the 0/1 labels that maximise ``scores . labels`` with no forbidden pair.

    With logits as scores this is the most likely consistent labelling (postprocess); with
    ``2 y - 1`` it is the consistent labelling nearest to ``y`` in Hamming distance
    (preprocess). Rows already consistent keep their labels; the rest are solved ``CHUNK``
    rows at a time, each chunk one block-diagonal MILP.
    """
    scores = np.atleast_2d(scores)
    labels = (scores > 0).astype(np.float64)
    broken = np.flatnonzero(spec.predicted_pairs(scores) > 0)
    for begin in range(0, broken.size, CHUNK):
        rows = broken[begin : begin + CHUNK]
        labels[rows] = _label_chunk(spec, scores[rows], solver)
    return labels


def _label_chunk(spec: MutualExclusion, scores: np.ndarray, solver: Solver) -> np.ndarray:
    n, m = scores.shape
    pairs = spec.pairs.shape[0]
    builder = QueryBuilder()
    builder.add_binaries(n * m)
    pair_rows = sp.csr_matrix(
        (np.ones(2 * pairs), (np.tile(np.arange(pairs), 2), spec.pairs.T.ravel())),
        shape=(pairs, m),
    )
    builder.add_rows(sp.kron(sp.identity(n), pair_rows, format="csr"), None, -np.inf, 1.0)
    solution = solve(solver, builder.build(objective=scores.ravel(), maximize=True), "labelling")
    if solution.values is None:
        raise SolveError("labelling: the solver found the all-zero labels infeasible")
    return solution.values.reshape(n, m)
