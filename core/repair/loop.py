"""Provable repair: change a few parameters so that properties hold everywhere in their regions.

The counterexample-guided loop (``cegis``, the default) keeps a finite set of counterexample
inputs per property. Each round it

1. *synthesises* offsets for the free parameters that classify every counterexample right
   with ``synthesis_margin`` to spare and keep the maximum number of soft constraints, each
   with ``soft_synthesis_margin`` to spare, so that the float64 recount (``soft_margin``, the
   count reported) keeps every one of them (an exact optimum: for one free parameter and
   soft points, the one-dimensional parametric analysis of
   :mod:`nnv.core.repair.synthesis.line`, no solver needed; otherwise a MILP when the free
   parameters do not multiply each other, else QF_NRA for SMT solvers), then
2. *verifies* the candidate over each whole region with the verify engine, with the unsafe
   set widened by ``verify_margin`` (smaller than the synthesis margin, so a counterexample
   once fixed is never found again), adding any new counterexample and repeating.

A candidate that passes is *certified* independently (see :mod:`nnv.core.verify.certifier`)
before it is reported as repaired; one that fails certification never is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from nnv.core.errors import CapabilityError, InputError
from nnv.core.model.dataset import Dataset
from nnv.core.model.network import Network
from nnv.core.model.property import Property
from nnv.core.plugin.heuristic import SoftConstraints
from nnv.core.plugin.solver import Solver
from nnv.core.query.builder import QueryBuilder
from nnv.core.query.form import Query
from nnv.core.repair.free import FreeParameters, change_limits, is_bilinear
from nnv.core.repair.metrics import accuracy_report
from nnv.core.repair.points import PointEncoder, margin_rows, output_rows
from nnv.core.repair.quantified import quantified_query
from nnv.core.repair.settings import RepairSettings
from nnv.core.repair.synthesis.line import LineSynthesis
from nnv.core.repair.synthesis.pair import PairSynthesis
from nnv.core.repair.trial import TrialResult
from nnv.core.verify.certifier import Certifier
from nnv.core.verify.falsify import violating_samples
from nnv.core.verify.verifier import Verifier


@dataclass
class _Rounds:
    """What the loop has learnt so far in one trial."""

    counterexamples: list[list[np.ndarray]]  # per property
    region_points: list[list[np.ndarray]]  # per soft region
    rounds: int = 0
    notes: list[str] = field(default_factory=list)


# one round's synthesis: (status, offsets of the free parameters or None, soft regions chosen)
_Synthesise = Callable[[_Rounds], tuple[str, np.ndarray | None, list[int]]]


class Repairer:
    """Runs repair trials for one network, set of properties and soft constraints."""

    def __init__(
        self,
        network: Network,
        properties: Sequence[Property],
        soft: SoftConstraints,
        data: Dataset,
        solver: Solver,
        verifier: Solver,
        certifier: Certifier,
        settings: RepairSettings | None = None,
    ) -> None:
        if not properties:
            raise InputError("repair needs at least one property")
        for prop in properties:
            prop.check_fits(network.n_inputs, network.n_outputs)
        self.network = network.as_dense("repair")  # the encoders read dense weights
        self.properties = list(properties)
        self.soft = soft
        self.data = data
        self.solver = solver
        self.verifier = verifier
        self.certifier = certifier
        self.settings = settings or RepairSettings()
        self.accuracy_before = accuracy_report(network, data)

    # -- one trial -------------------------------------------------------------------------

    def check(self, names: Sequence[str]) -> FreeParameters:
        """The free parameters a trial with ``names`` would use, or the error it would raise:
        an ``InputError`` for an address the network lacks, a ``CapabilityError`` when the
        solver cannot take the synthesis problem. Solves nothing."""
        free = FreeParameters.of(self.network, tuple(names))
        if self.settings.mode == "quantified":
            missing = {"quantifiers", "bilinear"} - set(self.solver.capabilities)
            if missing:
                raise CapabilityError(
                    f"quantified mode needs a solver with {' and '.join(sorted(missing))}; "
                    f"{self.solver.name!r} has neither: use z3 or cvc5, or --mode cegis"
                )
            return free
        bilinear = is_bilinear(self.network, free)
        if bilinear and "bilinear" not in self.solver.capabilities and not self._on_a_plane(free):
            raise CapabilityError(
                f"free parameters {', '.join(free.names)} multiply each other (a free weight "
                f"reads an activation another one changes): synthesis is nonlinear and solver "
                f"{self.solver.name!r} takes only linear problems; use z3 or cvc5"
            )
        return free

    def trial(self, names: Sequence[str]) -> TrialResult:
        """Repair with exactly these free parameters."""
        start = time.monotonic()
        free = self.check(names)
        if self.settings.mode == "quantified":
            result = self._quantified(free, start)
            result.seconds = time.monotonic() - start
            return result
        bilinear = is_bilinear(self.network, free)
        deadline = (
            None if self.settings.trial_timeout is None else start + self.settings.trial_timeout
        )
        result = self._cegis(free, bilinear, deadline)
        result.seconds = time.monotonic() - start
        return result

    def _remaining(self, deadline: float | None) -> float | None:
        return None if deadline is None else max(deadline - time.monotonic(), 0.0)

    def _cegis(self, free: FreeParameters, bilinear: bool, deadline: float | None) -> TrialResult:
        if self._on_a_line(free):
            synthesise = self._line_synthesis(free)
        elif bilinear and "bilinear" not in self.solver.capabilities:
            synthesise = self._pair_synthesis(free)
        elif self._on_a_plane(free) and not bilinear and deadline is not None:
            synthesise = self._solver_then_pair(free, deadline)
        else:
            synthesise = self._solver_synthesis(free, bilinear, deadline)
        state = _Rounds(
            [
                list(violating_samples(self.network, prop, self.settings.seed_counterexamples))
                for prop in self.properties
            ],
            [[] for _ in self.soft.regions],
        )
        names = free.names
        while state.rounds < self.settings.max_rounds:
            state.rounds += 1
            remaining = self._remaining(deadline)
            if remaining is not None and remaining <= 0:
                return self._stopped(names, "timeout", state, "the trial timed out")
            status, offsets, chosen_regions = synthesise(state)
            if status == "infeasible":
                return self._stopped(
                    names,
                    "not_repaired",
                    state,
                    "no values within the allowed change (--max-change "
                    f"{self.settings.max_change:g}) fix every counterexample",
                )
            if status == "not found":
                return self._stopped(
                    names,
                    "not_repaired",
                    state,
                    "no value tried fixes every counterexample (a search, not a proof)",
                )
            if status == "timeout":
                return self._stopped(names, "timeout", state, "synthesis timed out")
            if offsets is None:
                return self._stopped(names, "error", state, f"synthesis: {status}")
            values = free.original + offsets
            candidate = self.network.with_parameters(dict(zip(names, values, strict=True)))
            outcome = self._check_candidate(candidate, chosen_regions, state, deadline)
            if outcome == "verified":
                result = self._finish(names, candidate, values, chosen_regions, state, deadline)
                if status != "optimal" and not result.message:
                    result.message = f"synthesis: {status}"
                return result
            if outcome != "new counterexample":
                return self._stopped(names, outcome, state, "; ".join(state.notes))  # type: ignore[arg-type]
        return self._stopped(names, "timeout", state, f"no repair after {state.rounds} rounds")

    def _on_a_line(self, free: FreeParameters) -> bool:
        """One free parameter and no soft regions: the exact line synthesis applies."""
        return self.settings.line_synthesis and len(free.names) == 1 and not self.soft.regions

    def _on_a_plane(self, free: FreeParameters) -> bool:
        """Two free parameters and no soft regions: the grid-and-line pair synthesis applies
        (used when they multiply each other and the solver takes only linear problems)."""
        return self.settings.line_synthesis and len(free.names) == 2 and not self.soft.regions

    def _line_synthesis(self, free: FreeParameters) -> _Synthesise:
        """Synthesis by the exact one-dimensional parametric analysis, no solver involved."""
        line = LineSynthesis(
            self.network,
            free.addresses[0],
            float(self._limits(free)[0]),
            self.soft.points,
            self.soft.labels,
            self.settings.soft_synthesis_margin,
        )

        def synthesise(state: _Rounds) -> tuple[str, np.ndarray | None, list[int]]:
            answer = line.solve(self._counterexample_points(state), self.settings.synthesis_margin)
            if answer.delta is None:
                return "infeasible", None, []
            return "optimal", np.array([answer.delta]), []

        return synthesise

    def _pair_synthesis(self, free: FreeParameters) -> _Synthesise:
        """Synthesis for two parameters that multiply: the earlier one on a refined grid, the
        other by the exact line analysis; the best found, not a proved optimum."""
        pair = PairSynthesis(
            self.network,
            (free.addresses[0], free.addresses[1]),
            self._limits(free),
            self.soft.points,
            self.soft.labels,
            self.settings.soft_synthesis_margin,
        )

        def synthesise(state: _Rounds) -> tuple[str, np.ndarray | None, list[int]]:
            answer = pair.solve(self._counterexample_points(state), self.settings.synthesis_margin)
            outer = free.names[pair.outer]
            if answer.offsets is None:
                return "not found", None, []
            return (
                f"best of {answer.tried} values of {outer} (not proved optimal)",
                np.array(answer.offsets),
                [],
            )

        return synthesise

    def _counterexample_points(self, state: _Rounds) -> list[tuple[Property, np.ndarray]]:
        return [
            (prop, point)
            for prop, points in zip(self.properties, state.counterexamples, strict=True)
            for point in points
        ]

    def _solver_then_pair(self, free: FreeParameters, deadline: float) -> _Synthesise:
        """The exact MILP with half of the trial's remaining time each round; once it times
        out, the pair search answers this round and the next ones, so a hard pair still ends
        with a (certified) repair, marked as not proved optimal."""
        exact = self._solver_synthesis(free, False, deadline, share=0.5)
        search = self._pair_synthesis(free)
        timed_out = False

        def synthesise(state: _Rounds) -> tuple[str, np.ndarray | None, list[int]]:
            nonlocal timed_out
            if not timed_out:
                answer = exact(state)
                if answer[0] != "timeout":
                    return answer
                timed_out = True
            status, offsets, regions = search(state)
            if offsets is None:
                return status, offsets, regions
            return f"{status}, after the MILP timed out", offsets, regions

        return synthesise

    def _solver_synthesis(
        self, free: FreeParameters, bilinear: bool, deadline: float | None, share: float = 1.0
    ) -> _Synthesise:
        """Synthesis by the synthesis solver: a MILP, or QF_NRA when parameters multiply;
        each call gets ``share`` of the trial's remaining time."""
        encoder = PointEncoder(self.network, free, self._limits(free))
        always, uncertain = self._triage_points(encoder)

        def synthesise(state: _Rounds) -> tuple[str, np.ndarray | None, list[int]]:
            query, delta, region_vars = self._synthesis_query(
                encoder, uncertain, always, state, bilinear
            )
            remaining = self._remaining(deadline)
            budget = None if remaining is None else remaining * share
            solution = self.solver.solve(query, budget)
            if solution.status in ("infeasible", "timeout"):
                return solution.status, None, []
            if not solution.found or solution.values is None:
                return solution.message or solution.status, None, []
            chosen = [r for r, v in enumerate(region_vars) if v < 0 or solution.values[v] > 0.5]
            return "optimal", solution.values[delta], chosen

        return synthesise

    def _quantified(self, free: FreeParameters, start: float) -> TrialResult:
        """The paper's formula, one solver call per threshold; the answer is certified like
        any other.

        With ``threshold_search`` (the paper's skip mechanism) a satisfiable answer that keeps
        k soft constraints is followed by a call with threshold k + 1, until the formula is
        unsatisfiable or time runs out; the last satisfiable answer is the trial's.
        """
        deadline = (
            None if self.settings.trial_timeout is None else start + self.settings.trial_timeout
        )
        names = free.names
        state = _Rounds([], [], rounds=0)
        threshold = self.settings.threshold or 0
        formula, delta, guards = quantified_query(
            self.network,
            free,
            self.properties,
            self.soft,
            self._limits(free),
            threshold,
            self.settings.soft_synthesis_margin,
        )
        found: tuple[Network, np.ndarray, list[int]] | None = None
        while True:
            state.rounds += 1
            query = replace(formula, soft_threshold=threshold)  # one formula, many thresholds
            budget = self._remaining(deadline)
            if found is not None and budget is not None:
                budget *= 0.8  # the rest certifies the answer already found
            solution = self.solver.solve(query, budget)
            if not solution.found or solution.values is None:
                break
            values = free.original + solution.values[delta]
            candidate = self.network.with_parameters(dict(zip(names, values, strict=True)))
            regions = [r for r, guard in enumerate(guards) if solution.values[guard] > 0.5]
            found = (candidate, values, regions)
            threshold = max(threshold, self._kept(candidate, regions)) + 1
            if not self.settings.threshold_search or threshold > self.soft.count:
                break
        if found is None:
            if solution.status == "infeasible":
                message = "the quantified formula is unsatisfiable"
                return self._stopped(names, "not_repaired", state, message)
            if solution.status == "timeout":
                return self._stopped(names, "timeout", state, "the solver timed out")
            return self._stopped(names, "error", state, solution.message or solution.status)
        result = self._finish(names, *found, state, deadline)
        if self.settings.threshold_search and result.repaired:
            last = {"infeasible": "unsatisfiable", "timeout": "out of time"}
            ending = last.get(solution.status, "every soft constraint kept")
            result.message = f"threshold search: {state.rounds} calls, ended {ending}"
        return result

    def _limits(self, free: FreeParameters) -> np.ndarray:
        inputs = [X for X, _ in self.data.splits.values()] + [self.soft.points]
        return change_limits(self.network, free, self.settings.max_change, np.vstack(inputs))

    # -- synthesis -------------------------------------------------------------------------

    def _triage_points(self, encoder: PointEncoder) -> tuple[int, np.ndarray]:
        """Soft points that are kept whatever the offsets (counted), and those that may change."""
        points, labels = self.soft.points, self.soft.labels
        if not points.shape[0]:
            return 0, np.zeros(0, dtype=np.int64)
        low, high = encoder.output_bounds(points)
        m, n_out = low.shape
        others = np.ones((m, n_out), dtype=bool)
        others[np.arange(m), labels] = False
        label_low = low[np.arange(m), labels][:, None]
        label_high = high[np.arange(m), labels][:, None]
        worst = np.min(np.where(others, label_low - high, np.inf), axis=1)
        best = np.min(np.where(others, label_high - low, np.inf), axis=1)
        margin = self.settings.soft_synthesis_margin
        always = worst >= margin
        possible = best >= margin
        return int(always.sum()), np.flatnonzero(possible & ~always)

    def _synthesis_query(
        self,
        encoder: PointEncoder,
        uncertain: np.ndarray,
        always: int,
        state: _Rounds,
        bilinear: bool,
    ) -> tuple[Query, np.ndarray, list[int]]:
        builder = QueryBuilder()
        delta = encoder.add_offsets(builder)
        soft_vars = [self._add_soft_points(builder, encoder, delta, uncertain)]
        region_vars = self._add_soft_regions(builder, encoder, delta, state)
        soft_vars.append(np.array([v for v in region_vars if v >= 0], dtype=np.int64))
        for prop, points in zip(self.properties, state.counterexamples, strict=True):
            for point in points:
                self._add_safe_point(builder, encoder, delta, prop, point)
        binaries = np.concatenate(soft_vars)
        threshold = None if self.settings.threshold is None else self.settings.threshold - always
        use_objective = "optimize" in self.solver.capabilities and not bilinear
        if use_objective:
            query = self._with_objective(builder, delta, encoder.limits, binaries, threshold)
            return query, delta, region_vars
        query = builder.build(soft=binaries, soft_threshold=threshold)
        return query, delta, region_vars

    def _with_objective(
        self,
        builder: QueryBuilder,
        delta: np.ndarray,
        limits: np.ndarray,
        binaries: np.ndarray,
        threshold: int | None,
    ) -> Query:
        """Maximise the soft constraints kept; among equal counts, the smallest total change
        (each change relative to its limit)."""
        size = builder.add_vars(delta.size, 0.0, limits)
        pairs = sp.hstack([sp.identity(delta.size), -sp.identity(delta.size)])
        builder.add_rows(pairs, np.concatenate([size, delta]), 0.0, np.inf)  # size >= delta
        builder.add_rows(
            sp.hstack([sp.identity(delta.size), sp.identity(delta.size)]),
            np.concatenate([size, delta]),
            0.0,
            np.inf,
        )  # size >= -delta
        if threshold is not None and threshold > 0:
            builder.add_rows(np.ones((1, binaries.size)), binaries, threshold, np.inf)
        objective = np.zeros(builder.n_vars)
        objective[binaries] = 1.0
        # a tie-break worth less than one soft constraint in total
        objective[size] = -0.5 / (delta.size * limits)
        # any answer within half a constraint of the optimum still keeps the maximum count
        return builder.build(objective=objective, maximize=True, absolute_gap=0.5)

    def _add_soft_points(
        self, builder: QueryBuilder, encoder: PointEncoder, delta: np.ndarray, which: np.ndarray
    ) -> np.ndarray:
        """A binary per soft point that may change; binary = 1 forces its label."""
        if not which.size:
            return np.zeros(0, dtype=np.int64)
        outputs = encoder.add_points(builder, delta, self.soft.points[which])
        keep = builder.add_binaries(which.size)
        rows, constant, _, point = margin_rows(outputs, self.soft.labels[which], builder.n_vars)
        builder.add_indicators(
            keep[point], rows, None, self.settings.soft_synthesis_margin - constant, np.inf
        )
        return keep

    def _add_soft_regions(
        self, builder: QueryBuilder, encoder: PointEncoder, delta: np.ndarray, state: _Rounds
    ) -> list[int]:
        """A binary per soft region; its counterexamples must be labelled right when it is 1."""
        variables = []
        for region, points in enumerate(state.region_points):
            keep = int(builder.add_binaries(1)[0])
            variables.append(keep)
            if not points:
                continue
            label = int(self.soft.region_labels[region])
            outputs = encoder.add_points(builder, delta, np.array(points))
            rows, constant, _, _ = margin_rows(outputs, np.full(len(points), label), builder.n_vars)
            builder.add_indicators(
                np.full(rows.shape[0], keep),
                rows,
                None,
                self.settings.synthesis_margin - constant,
                np.inf,
            )
        return variables

    def _add_safe_point(
        self,
        builder: QueryBuilder,
        encoder: PointEncoder,
        delta: np.ndarray,
        prop: Property,
        point: np.ndarray,
    ) -> None:
        """Keep ``point`` out of every unsafe conjunction, with the synthesis margin to spare.

        Outside ``C y <= d`` means some row has ``C_r y >= d_r + margin``: one row directly,
        several through a binary per row (at least one of them chosen).
        """
        outputs = encoder.add_points(builder, delta, point[None, :])
        margin = self.settings.synthesis_margin
        for conjunction in prop.unsafe_outputs:
            rows, constant, _, _ = output_rows(outputs, 0, conjunction.C, builder.n_vars)
            needed = conjunction.d + margin - constant
            if rows.shape[0] == 1:
                builder.add_rows(rows, None, needed, np.inf)
                continue
            choose = builder.add_binaries(rows.shape[0])
            builder.add_rows(np.ones((1, choose.size)), choose, 1.0, np.inf)
            builder.add_indicators(choose, rows, None, needed, np.inf)

    # -- verification and results ----------------------------------------------------------

    def _check_candidate(
        self, candidate: Network, regions: list[int], state: _Rounds, deadline: float | None
    ) -> str:
        """``verified``, ``new counterexample``, or why it could not be decided."""
        found = False
        checks: list[tuple[Property, list[np.ndarray]]] = [
            (prop, points)
            for prop, points in zip(self.properties, state.counterexamples, strict=True)
        ]
        checks += [(self._region_property(r), state.region_points[r]) for r in regions]
        for prop, points in checks:
            verifier = Verifier(self.verifier, timeout=self._remaining(deadline))
            result = verifier.verify(candidate, prop.expanded(self.settings.verify_margin))
            if result.status == "sat" and result.counterexample is not None:
                points.append(result.counterexample)
                found = True
            elif result.status != "unsat":
                state.notes.append(
                    f"verifying {prop.name}: {result.status} {result.message}".strip()
                )
                return "timeout" if result.status == "timeout" else "error"
        return "new counterexample" if found else "verified"

    def _region_property(self, region: int) -> Property:
        return Property.classification(
            self.soft.regions[region],
            int(self.soft.region_labels[region]),
            self.network.n_outputs,
            name=f"soft region {region + 1}",
        )

    def _kept(self, candidate: Network, regions: list[int]) -> int:
        """Soft constraints the repaired network keeps: points checked in float64, regions
        verified by the loop."""
        if self.soft.points.shape[0]:
            outputs = candidate.forward(self.soft.points)
            m = outputs.shape[0]
            own = outputs[np.arange(m), self.soft.labels]
            others = outputs.copy()
            others[np.arange(m), self.soft.labels] = -np.inf
            points = int(np.sum(own - others.max(axis=1) >= self.settings.soft_margin))
        else:
            points = 0
        return points + len(regions)

    def _finish(
        self,
        names: tuple[str, ...],
        candidate: Network,
        values: np.ndarray,
        regions: list[int],
        state: _Rounds,
        deadline: float | None,
    ) -> TrialResult:
        certificate = self.certifier.certify(candidate, self.properties, self._remaining(deadline))
        result = self._stopped(names, "repaired" if certificate.ok else "not_repaired", state, "")
        result.values = {name: float(v) for name, v in zip(names, values, strict=True)}
        result.accuracy = accuracy_report(candidate, self.data)["weighted"]
        result.kept = self._kept(candidate, regions)
        if certificate.ok:
            result.certified_by = certificate.by
        else:
            result.message = f"certification failed: {certificate.message}"
        return result

    def recertify(self, claimed: TrialResult) -> TrialResult:
        """A repaired trial read back from a file, checked in this process: its values
        certified on every property, its accuracy and kept count recomputed (soft regions
        verified again). One that fails comes back ``not_repaired``, saying why."""
        names = claimed.free
        values = np.array([claimed.values[name] for name in names])
        candidate = self.network.with_parameters(dict(zip(names, values, strict=True)))
        state = _Rounds([], [], rounds=claimed.rounds)
        result = self._finish(names, candidate, values, self._regions_kept(candidate), state, None)
        result.seconds = claimed.seconds
        if not result.repaired:
            result.message = f"resumed from trials.csv, then {result.message}"
        return result

    def _regions_kept(self, candidate: Network) -> list[int]:
        """The soft regions every point of which ``candidate`` labels right (verified)."""
        verifier = Verifier(self.verifier, timeout=self.certifier.timeout)
        return [
            r
            for r in range(len(self.soft.regions))
            if verifier.verify(candidate, self._region_property(r)).status == "unsat"
        ]

    def _stopped(
        self, names: tuple[str, ...], status: Any, state: _Rounds, message: str
    ) -> TrialResult:
        return TrialResult(
            free=names,
            status=status,
            soft_total=self.soft.count,
            rounds=state.rounds,
            message=message,
        )
