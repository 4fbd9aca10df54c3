"""Synthesis when every free parameter sits in the last layer: no ReLU needs a binary.

At a fixed input ``x`` the outputs are affine in the offsets, ``y(x) = y0(x) + J(x) delta``,
where the column of a free weight ``w_L.n.i`` holds the activation ``a_i(x)`` it reads in row
``n`` (a bias holds 1). So every constraint of synthesis is a row over the offsets alone, built
for all points at once (:class:`LastLayer`):

- a counterexample stays out of each unsafe conjunction ``C y <= d``: some row has
  ``C_r y >= d_r + margin``. A conjunction of one row is one LP row. Of several rows, the one
  closest to holding at the original network is *chosen* (ACAS Xu property 8: "COC or WL,
  whichever is lower now, stays below the others"), so the round is an LP; only when that LP
  is infeasible are the disjunctions solved exactly, a binary per row, from then on;
- a soft point whose class may change gets a binary (kept: its label leads by the soft
  margin); one whose class no offset within the limits can change counts without one (the
  bounds of an affine function over a box are exact);
- the objectives (:mod:`nnv.core.plugin.objective`) build on the offsets, the soft binaries
  and the output changes ``J(x) delta`` at the soft points.

Rounds add counterexample rows at the end of the Query, so each LP starts from the previous
round's basis (a solver with ``warm_start``). The rows of a counterexample are built once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nnv.core.model.decision import sign
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.objective import Objective, ObjectiveContext, OutputChanges
from nnv.core.plugin.solver import Solver
from nnv.core.query.builder import QueryBuilder
from nnv.core.repair.free import FreeParameters
from nnv.core.repair.settings import remaining
from nnv.core.repair.synthesis.base import Proposal, Rounds, SynthesisProblem
from nnv.core.repair.synthesis.goals import solve_goals

_CHUNK = 2048  # points per vectorised block (bounds the dense (points, rows, free) arrays)
_ON_THE_LIMIT = 1e-6  # an offset this close to its limit (relative) sits on it: the box grows


def in_last_layer(network: Network, free: FreeParameters) -> bool:
    """Whether every free parameter is in the last layer (the outputs are then affine)."""
    return all(a.layer == len(network.layers) - 1 for a in free.addresses)


@dataclass(frozen=True)
class LastLayer:
    """The last layer's free parameters: the output each moves and the activation it reads."""

    network: Network
    neuron: np.ndarray  # (n_free,) the output row of each offset
    source: np.ndarray  # (n_free,) the activation it reads, -1 for a bias

    @classmethod
    def of(cls, network: Network, free: FreeParameters) -> LastLayer:
        neuron = np.array([a.neuron for a in free.addresses], dtype=np.int64)
        source = np.array([-1 if a.source is None else a.source for a in free.addresses])
        return cls(network, neuron, source.astype(np.int64))

    def at(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The original outputs (m, n_out) and what each offset multiplies (m, n_free)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        activations = self.network.activations(X)
        reads = X if len(activations) == 1 else np.maximum(activations[-2], 0.0)
        factors = np.ones((X.shape[0], self.neuron.size))
        weights = self.source >= 0
        factors[:, weights] = reads[:, self.source[weights]]
        return activations[-1], factors

    def coefficients(self, factors: np.ndarray, C: np.ndarray) -> np.ndarray:
        """``C_r J(x)`` for every point and row of ``C``: (m, k, n_free)."""
        return C[None, :, self.neuron] * factors[:, None, :]


@dataclass
class _Block:
    """The rows of some counterexamples: every row of every conjunction that the offsets
    could reach (``rows`` over the offsets, ``lower``: the row must reach it), the group
    (point, conjunction) of each row, and the chosen row of each group."""

    rows: sp.csr_matrix
    lower: np.ndarray
    group: np.ndarray
    chosen: np.ndarray  # one row index per group


class AffineSynthesiser:
    """Synthesis for free parameters of the last layer, by ``solver`` under ``objectives``;
    each solve gets ``share`` of the trial's remaining time.

    The offsets' box starts at ``--max-change`` and doubles (up to ``max_growth`` times) while
    the counterexamples are infeasible in it or the answer sits on one of its limits, as the
    MILP's does; every row is built again for the new box (which points may change, which
    conjunctions need a row)."""

    def __init__(
        self,
        problem: SynthesisProblem,
        solver: Solver,
        objectives: Sequence[Objective],
        deadline: float | None = None,
        share: float = 1.0,
    ) -> None:
        self.problem = problem
        self.solver = solver
        self.objectives = list(objectives)
        self.deadline = deadline
        self.share = share
        self.map = LastLayer.of(problem.network, problem.free)
        self.needs = {need for objective in objectives for need in objective.needs}
        if problem.settings.threshold is not None:
            self.needs.add("kept")
        self.growth = 1.0
        self._reset()

    @property
    def max_change(self) -> float:
        return self.problem.settings.max_change * self.growth

    def _reset(self) -> None:
        """Everything built for the box: the soft rows now, the counterexamples' next round."""
        problem = self.problem
        self.limits = np.asarray(problem.limits, dtype=np.float64) * self.growth
        self.soft = _SoftRows(self.map, problem, self.limits, "kept" in self.needs)
        self.outputs = self.soft.output_changes() if "outputs" in self.needs else None
        self.blocks: list[_Block] = []
        self.encoded = [0 for _ in problem.properties]  # counterexamples with rows, per property
        self.blocks_margin = problem.margin.value  # the synthesis margin the blocks were built for
        self.exact = False  # solve every disjunction with binaries (once the chosen rows fail)
        self.basis: object = None

    def _grow(self, factor: float = 2.0) -> bool:
        """Double the box (or undo that with ``factor`` 0.5); False at the cap."""
        if factor > 1 and self.growth * factor > self.problem.settings.max_growth:
            return False
        self.growth *= factor
        self._reset()
        return True

    def propose(self, state: Rounds) -> Proposal:
        """This round's answer, the box grown while it is infeasible or the answer sits on a
        limit; a larger box that fails (out of time) gives back the smaller box's answer."""
        found: Proposal | None = None
        while True:
            proposal = self._in_box(state)
            if proposal.status == "found":
                found = proposal
                if not self._on_a_limit(proposal) or not self._grow():
                    return proposal
            elif proposal.status == "infeasible" and found is None and self._grow():
                continue
            else:
                if found is not None:
                    self._grow(0.5)
                return found or proposal

    def _on_a_limit(self, proposal: Proposal) -> bool:
        assert proposal.offsets is not None
        return bool(np.any(np.abs(proposal.offsets) >= self.limits * (1 - _ON_THE_LIMIT)))

    def _in_box(self, state: Rounds) -> Proposal:
        self._encode(state)
        proposal = self._solve()
        if proposal.status == "infeasible" and not self.exact and self._chooses():
            self.exact, self.basis = True, None
            proposal = self._solve()
        return proposal

    def _chooses(self) -> bool:
        """Whether some counterexample's disjunction has a chosen row (several to pick from)."""
        return any(block.group.size > block.chosen.size for block in self.blocks)

    def _solve(self) -> Proposal:
        builder = QueryBuilder()
        n = self.limits.size
        delta = builder.add_vars(n, -self.limits, self.limits)
        kept = self.soft.add(builder)
        outputs = None
        if self.outputs is not None:
            rows = _widen(self.outputs.rows, builder.n_vars)
            outputs = OutputChanges(rows, self.outputs.constant)
        context = ObjectiveContext(builder, delta, self.limits, kept, outputs)
        goals = [objective.goal(context) for objective in self.objectives]
        wanted = self.problem.settings.threshold
        if wanted is not None and wanted - self.soft.always > 0:
            builder.add_rows(np.ones((1, kept.size)), kept, wanted - self.soft.always, np.inf)
        self._add_counterexamples(builder)
        solved = solve_goals(builder, goals, self.solver, self._budget, self.basis)
        self.basis = solved.basis
        solution = solved.solution
        if solution.status == "infeasible":
            return Proposal("infeasible")
        if solution.status == "timeout":
            return Proposal("timeout")
        if not solution.found or solution.values is None:
            return Proposal("error", message=solution.message or solution.status)
        chosen = not self.exact and self._chooses()
        notes = [solved.note] if solved.note else []
        if chosen:
            notes.append("one row of each disjunction chosen: not proved optimal over the rest")
        elif not solved.proved_optimal:
            notes.append("not proved optimal")
        return Proposal(
            "found",
            solution.values[delta],
            proved_optimal=solved.proved_optimal and not chosen,
            message="; ".join(notes),
        )

    def _budget(self) -> float | None:
        left = remaining(self.deadline)
        return None if left is None else left * self.share

    # -- counterexamples ---------------------------------------------------------------------

    def _encode(self, state: Rounds) -> None:
        """Rows for the counterexamples found since the last round, one block per property;
        all of them again when the loop has changed the margin since."""
        if self.problem.margin.value != self.blocks_margin:
            self.blocks_margin = self.problem.margin.value
            self.blocks, self.encoded = [], [0 for _ in self.problem.properties]
        for index, (prop, points) in enumerate(
            zip(self.problem.properties, state.counterexamples, strict=True)
        ):
            new = points[self.encoded[index] :]
            for start in range(0, len(new), _CHUNK):
                block = self._block(prop, np.array(new[start : start + _CHUNK]))
                if block is not None:
                    self.blocks.append(block)
            self.encoded[index] = len(points)

    def _block(self, prop: Property, X: np.ndarray) -> _Block | None:
        """Every row that may keep the points ``X`` out of ``prop``'s unsafe conjunctions."""
        margin = self.problem.margin.value
        y0, factors = self.map.at(X)
        rows: list[sp.csr_matrix] = []
        lower: list[np.ndarray] = []
        group: list[np.ndarray] = []
        chosen: list[np.ndarray] = []
        groups = 0
        for conjunction in prop.unsafe_outputs:
            coefficients = self.map.coefficients(factors, conjunction.C)  # (m, k, n)
            slack = y0 @ conjunction.C.T - conjunction.d - margin  # (m, k): >= 0 is safe
            reach = np.abs(coefficients) @ self.limits
            # some row stays safe whatever the offsets: the conjunction needs no row
            needed = ~np.any(slack - reach >= 0, axis=1)
            m, k = int(needed.sum()), conjunction.C.shape[0]
            base = sum(r.shape[0] for r in rows)
            rows.append(sp.csr_matrix(coefficients[needed].reshape(m * k, self.limits.size)))
            lower.append(-slack[needed].ravel())
            group.append(groups + np.repeat(np.arange(m), k))
            chosen.append(base + np.arange(m) * k + np.argmax(slack[needed], axis=1))
            groups += m
        if not groups:
            return None
        return _Block(
            sp.vstack(rows, format="csr"),
            np.concatenate(lower),
            np.concatenate(group),
            np.concatenate(chosen),
        )

    def _add_counterexamples(self, builder: QueryBuilder) -> None:
        """The chosen row of every disjunction (an LP), or in exact mode every row, a binary
        each, at least one of a group's binaries set."""
        offsets = np.arange(self.limits.size)  # the rows are over the offsets, the first variables
        for block in self.blocks:
            if not self.exact:
                chosen = block.chosen
                builder.add_rows(block.rows[chosen], offsets, block.lower[chosen], np.inf)
                continue
            sizes = np.bincount(block.group)
            single = sizes[block.group] == 1
            if single.any():
                builder.add_rows(block.rows[single], offsets, block.lower[single], np.inf)
            several = np.flatnonzero(~single)
            if several.size:
                choose = builder.add_binaries(several.size)
                _, groups = np.unique(block.group[several], return_inverse=True)
                pick = sp.csr_matrix(
                    (np.ones(several.size), (groups, np.arange(several.size))),
                    shape=(int(groups.max()) + 1, several.size),
                )
                builder.add_rows(pick, choose, 1.0, np.inf)
                rows, lower = block.rows[several], block.lower[several]
                builder.add_indicators(choose, rows, offsets, lower, np.inf)


class _SoftRows:
    """The soft points at the last layer: which ones are kept whatever the offsets
    (``always``), which may change (``uncertain``), their margin rows, and the output changes."""

    def __init__(
        self, layer: LastLayer, problem: SynthesisProblem, limits: np.ndarray, needed: bool
    ) -> None:
        soft = problem.soft
        self.layer, self.limits = layer, limits
        self.margin = problem.settings.soft_synthesis_margin
        self.towards = sign(problem.settings.decision)  # -1: argmin, the lowest output wins
        self.y0: np.ndarray | None = None
        self.factors: np.ndarray | None = None
        if soft.points.shape[0]:
            self.y0, self.factors = layer.at(soft.points)
        self.labels = np.asarray(soft.labels, dtype=np.int64)
        self.always, self.uncertain = self._triage()
        self.rows = self._margin_rows() if needed and self.uncertain.size else None

    def _margins(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For points ``which`` and every other class: the original margin ``y_label -
        y_other`` (``y_other - y_label`` under argmin) (m, n_out-1), its coefficients over the
        offsets (m, n_out-1, n_free) and the other class of each."""
        assert self.y0 is not None and self.factors is not None
        n_out = self.y0.shape[1]
        labels = self.labels[which]
        others = np.array([[o for o in range(n_out) if o != label] for label in labels])
        others = others.reshape(which.size, n_out - 1)
        rows = np.arange(which.size)[:, None]
        margins = self.y0[which][rows, labels[:, None]] - self.y0[which][rows, others]
        moves = self.layer.neuron[None, None, :]
        lead = (moves == labels[:, None, None]).astype(float) - (moves == others[:, :, None])
        coefficients = self.towards * lead * self.factors[which][:, None, :]
        return self.towards * margins, coefficients, others

    def _triage(self) -> tuple[int, np.ndarray]:
        if self.y0 is None:
            return 0, np.zeros(0, dtype=np.int64)
        which = np.arange(self.y0.shape[0])
        always = np.zeros(which.size, dtype=bool)
        possible = np.zeros(which.size, dtype=bool)
        for start in range(0, which.size, _CHUNK):
            part = which[start : start + _CHUNK]
            margins, coefficients, _ = self._margins(part)
            reach = np.abs(coefficients) @ self.limits  # exact: affine over a box
            always[part] = np.min(margins - reach, axis=1) >= self.margin
            possible[part] = np.min(margins + reach, axis=1) >= self.margin
        return int(always.sum()), np.flatnonzero(possible & ~always)

    def _margin_rows(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Rows ``margin(x) . delta >= soft_margin - margin0`` of the uncertain points, with
        the point (0..) each row belongs to."""
        margins, coefficients, _ = self._margins(self.uncertain)
        m, k = margins.shape
        rows = sp.csr_matrix(coefficients.reshape(m * k, self.limits.size))
        return rows, (self.margin - margins).ravel(), np.repeat(np.arange(m), k)

    def add(self, builder: QueryBuilder) -> np.ndarray:
        """A binary per uncertain soft point (1: kept, its rows hold); none when not needed."""
        if self.rows is None:
            return np.zeros(0, dtype=np.int64)
        rows, lower, point = self.rows
        keep = builder.add_binaries(self.uncertain.size)
        builder.add_indicators(keep[point], rows, np.arange(self.limits.size), lower, np.inf)
        return keep

    def output_changes(self) -> OutputChanges:
        """``J(x) delta`` at every soft point, for every output a free parameter moves."""
        if self.factors is None:
            return OutputChanges(sp.csr_matrix((0, self.limits.size)), np.zeros(0))
        moved = np.unique(self.layer.neuron)
        blocks = [
            sp.csr_matrix(self.factors * (self.layer.neuron == output)[None, :]) for output in moved
        ]
        rows = sp.vstack(blocks, format="csr")
        return OutputChanges(rows, np.zeros(rows.shape[0]))


def _widen(rows: sp.csr_matrix, n_vars: int) -> sp.csr_matrix:
    """Rows over the offsets (the first variables) as rows over ``n_vars`` variables."""
    coo = rows.tocoo()
    return sp.csr_matrix((coo.data, (coo.row, coo.col)), shape=(rows.shape[0], n_vars))
