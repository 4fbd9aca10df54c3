"""The verification engine: does any input of the region reach an unsafe output?

Sound and complete for ReLU networks, in three stages:

1. falsification (samples and gradient steps), whose hits are genuine by construction;
2. branch and bound, chosen per box piece by ``auto`` (the default) from its input dimension:
   up to ``BabSettings.max_inputs`` inputs, over the input box (:mod:`.input_bab`: batched
   linear-relaxation bounds per sub-box, the exact solver only for the sub-boxes where
   splitting stops paying); above, over the ReLU activations (:mod:`.activation_bab`: PGD
   first, then alpha/beta-CROWN bounds per activation-split domain, the exact solver for the
   domains that splitting cannot close). ``input`` (alias ``bab``) and ``activation`` force one;
3. the ``milp`` strategy (and every polytope piece, and every exact solver): bounds (interval,
   then symbolic back-substitution) per (input piece, unsafe disjunct), where a disjunct whose
   lower bound is positive somewhere cannot be reached, then one exact solve of each remaining
   case with the chosen solver (a MILP through big-M, or SMT).

Exact solvers (``Capability.EXACT`` in their capabilities) get no float-derived bounds at all, so
their ``unsat`` is a proof in rational arithmetic.

Every counterexample is replayed in float64 before it is reported: a solver's point that
does not replay is re-solved with a small margin, and if that fails too the answer is
``unknown``, never ``sat``.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from nnv.core.bounds.symbolic import Bounds, output_lower_bounds, symbolic_bounds
from nnv.core.errors import InputError
from nnv.core.model.network import Network
from nnv.core.model.property import InputPiece, OutputConjunction, Property
from nnv.core.plugin.solver import Solver
from nnv.core.query.capabilities import Capability
from nnv.core.runtime.blas import blas_threads
from nnv.core.status import Verdict
from nnv.core.verify.falsify import falsify
from nnv.core.verify.input_bab import BabOutcome, BabSettings, BranchAndBound

if TYPE_CHECKING:
    from nnv.core.verify.activation_bab import ActivationSettings

# auto: by input dimension; input (or its old name bab): input BaB where the box is narrow
# enough, else milp; activation: activation BaB for every box piece; milp: no branching.
STRATEGIES = ("auto", "input", "bab", "activation", "milp")


# A solver point that misses the unsafe set by float noise is re-solved with this margin.
REPLAY_MARGIN = 1e-6


@dataclass
class VerificationResult:
    """The verdict in VNN-LIB's sense: ``sat`` means the property is violated."""

    status: Verdict
    solver: str
    seconds: float = 0.0
    counterexample: np.ndarray | None = None
    output: np.ndarray | None = None
    found_by: str = ""  # falsification | branch-and-bound (a sub-box's candidate) | solver
    exact: bool = False  # unsat proved in exact rational arithmetic, with no float bounds
    subproblems: int = 0  # cases: (piece, disjunct) pairs, or the leaf boxes of branch and bound
    proved_by_bounds: int = 0
    proved_by_solver: int = 0
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return self.status == "unsat"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "solver": self.solver,
            "seconds": round(self.seconds, 6),
            "counterexample": None if self.counterexample is None else self.counterexample.tolist(),
            "output": None if self.output is None else self.output.tolist(),
            "found_by": self.found_by,
            "exact": self.exact,
            "subproblems": self.subproblems,
            "proved_by_bounds": self.proved_by_bounds,
            "proved_by_solver": self.proved_by_solver,
            "message": self.message,
            **self.extra,
        }

    def vnncomp_text(self) -> str:
        """The VNN-COMP result file: the verdict, then for ``sat`` the assignment."""
        if self.status != "sat" or self.counterexample is None or self.output is None:
            return f"{self.status}\n"
        pairs = [f"(X_{i} {value!r})" for i, value in enumerate(self.counterexample.tolist())]
        pairs += [f"(Y_{i} {value!r})" for i, value in enumerate(self.output.tolist())]
        return "sat\n(" + "\n ".join(pairs) + ")\n"


class CounterexampleEvents(Protocol):
    """Where a counterexample is announced: the registry's hook caller
    (:class:`nnv.core.plugin.hookspecs.Events`), or any object with this method."""

    def nnv_counterexample_found(
        self, *, source: str, inputs: np.ndarray, outputs: np.ndarray
    ) -> object: ...


class VerificationEvents(CounterexampleEvents, Protocol):
    """The events a :class:`Verifier` fires."""

    def nnv_verification_progress(
        self, *, open_boxes: int, boxes: int, settled: int, seconds: float
    ) -> object: ...

    def nnv_verification_finished(self, *, result: VerificationResult) -> object: ...


def replay(network: Network, prop: Property, point: np.ndarray) -> np.ndarray | None:
    """The float64 output of ``point`` if it is in the region and unsafe, else None."""
    output = network.forward(point)
    if prop.in_region(point)[0] and prop.is_unsafe(output)[0]:
        return output
    return None


class Verifier:
    """Configured verification (parameters in the constructor, like an estimator)."""

    def __init__(
        self,
        solver: Solver,
        timeout: float | None = None,
        falsify_samples: int = 2000,  # 0 skips the falsification stage
        seed: int = 0,
        events: VerificationEvents | None = None,
        strategy: str = "auto",
        bab: BabSettings | None = None,
        activation: ActivationSettings | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise InputError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
        if strategy == "activation" and not _has_torch():
            raise InputError("the activation strategy needs torch: pip install 'nnv[torch]'")
        self.solver = solver
        self.timeout = timeout
        self.falsify_samples = falsify_samples
        self.seed = seed
        self.events = events
        self.strategy = strategy
        self.bab = bab or BabSettings()
        self.activation = activation  # None: ActivationSettings' defaults

    def verify(self, network: Network, prop: Property) -> VerificationResult:
        prop.check_fits(network.n_inputs, network.n_outputs)
        start = time.perf_counter()
        result = self._run(network, prop, start)
        result.seconds = time.perf_counter() - start
        if self.events is not None:
            point, output = result.counterexample, result.output
            if result.status == "sat" and point is not None and output is not None:
                self.events.nnv_counterexample_found(
                    source=result.found_by, inputs=point, outputs=output
                )
            self.events.nnv_verification_finished(result=result)
        return result

    def _remaining(self, start: float) -> float | None:
        if self.timeout is None:
            return None
        return self.timeout - (time.perf_counter() - start)

    def _sat(self, network: Network, point: np.ndarray, by: str) -> VerificationResult:
        output = network.forward(point)
        return VerificationResult(
            "sat", self.solver.name, counterexample=point, output=output, found_by=by
        )

    def _run(self, network: Network, prop: Property, start: float) -> VerificationResult:
        deadline = None if self.timeout is None else start + self.timeout
        plan = self._plan(prop)
        if self.falsify_samples > 0:
            # where PGD follows (activation branch and bound), it replaces the numpy steps
            steps = 0 if any(chosen == "activation" for _, chosen in plan) else 16
            with blas_threads(1):
                point = falsify(
                    network, prop, self.falsify_samples, self.seed, steps, steps, deadline
                )
            if point is not None and replay(network, prop, point) is not None:
                result = self._sat(network, point, "falsification")
                # the search that was planned
                result.extra.update(strategy=plan[0][1], chosen_by=self._reason(prop))
                return result
        results: list[VerificationResult] = []
        for strategy, search in (
            ("bab", self._branch_and_bound),
            ("activation", self._activation_bab),
            ("milp", self._plain),
        ):
            pieces = [piece for piece, chosen in plan if chosen == strategy]
            if pieces and all(result.status == "unsat" for result in results):
                results.append(search(network, prop, pieces, start))
        result = next((r for r in results if r.status != "unsat"), results[0])
        result.subproblems = sum(r.subproblems for r in results)
        result.proved_by_bounds = sum(r.proved_by_bounds for r in results)
        result.proved_by_solver = sum(r.proved_by_solver for r in results)
        result.exact = result.status == "unsat" and Capability.EXACT in self.solver.capabilities
        result.extra["chosen_by"] = self._reason(prop)
        return result

    def _plan(self, prop: Property) -> list[tuple[InputPiece, str]]:
        """Which search takes each piece. Exact solvers and polytope pieces always get the plain
        path (no float bounds may decide an exact proof). Otherwise ``auto`` splits the input
        box when it has at most ``BabSettings.max_inputs`` inputs and the activations when it
        has more (input splitting cannot pay in hundreds of dimensions); ``input``/``bab``
        sends the wider boxes to the plain path instead."""
        if Capability.EXACT in self.solver.capabilities:
            return [(piece, "milp") for piece in prop.pieces]
        plan = []
        for piece in prop.pieces:
            narrow = piece.dimension <= self.bab.max_inputs
            chosen = "milp"
            if piece.is_box and self.strategy in ("auto", "input", "bab") and narrow:
                chosen = "bab"
            elif piece.is_box and self.strategy == "activation":
                chosen = "activation"
            elif piece.is_box and self.strategy == "auto" and _has_torch():
                chosen = "activation"
            plan.append((piece, chosen))
        return plan

    def _reason(self, prop: Property) -> str:
        """Why the pieces got their searches, for the output line."""
        if Capability.EXACT in self.solver.capabilities:
            return "exact solver"
        if self.strategy != "auto":
            return f"--strategy {self.strategy}"
        return f"auto: {prop.n_inputs} inputs, input splitting up to {self.bab.max_inputs}"

    def _branch_and_bound(
        self, network: Network, prop: Property, pieces: list[InputPiece], start: float
    ) -> VerificationResult:
        """Branch and bound on each box piece in turn, until one is violated or time is up."""
        deadline = None if self.timeout is None else start + self.timeout

        def solve_box(
            box: InputPiece, disjunct: int, bounds: Bounds
        ) -> tuple[Verdict, np.ndarray | None, str]:
            conjunction = prop.unsafe_outputs[disjunct]
            return self._solve_case(network, prop, box, conjunction, bounds, self._remaining(start))

        def is_violation(points: np.ndarray) -> np.ndarray:
            return prop.violations(network.forward, points)

        outcomes: list[BabOutcome] = []

        def progress(open_boxes: int, outcome: BabOutcome) -> None:
            if self.events is not None:
                done = sum(o.boxes for o in outcomes)
                settled = sum(o.proved_by_bounds + o.proved_by_solver for o in outcomes)
                self.events.nnv_verification_progress(
                    open_boxes=open_boxes,
                    boxes=done + outcome.boxes,
                    settled=settled + outcome.proved_by_bounds + outcome.proved_by_solver,
                    seconds=time.perf_counter() - start,
                )

        for piece in pieces:
            search = BranchAndBound(
                network, piece, prop.unsafe_outputs, is_violation, solve_box, self.bab
            )
            with blas_threads(1):
                outcomes.append(search.run(deadline, progress))
            if outcomes[-1].status in ("sat", "timeout"):
                break
        result = self._bab_result(network, prop, outcomes, "bab")
        if result.status == "timeout":
            result.extra["proved_fraction"] = _proved_fraction(pieces, outcomes)
        return result

    def _bab_result(
        self, network: Network, prop: Property, outcomes: list[BabOutcome], strategy: str
    ) -> VerificationResult:
        """One result from the branch and bound outcomes of several pieces."""
        last = outcomes[-1]
        if last.status == "sat" and last.point is not None:
            if replay(network, prop, last.point) is not None:
                result = self._sat(network, last.point, last.found_by)
            else:  # the engines replay their points already; this guards their bugs
                last.status, last.message = "unknown", "a counterexample did not replay"
        if last.status != "sat":
            statuses = {outcome.status for outcome in outcomes}
            status: Verdict = next((s for s in ("timeout", "unknown") if s in statuses), "unsat")
            messages = [outcome.message for outcome in outcomes if outcome.message]
            result = VerificationResult(status, self.solver.name, message="; ".join(messages))
        result.proved_by_bounds = sum(outcome.proved_by_bounds for outcome in outcomes)
        result.proved_by_solver = sum(outcome.proved_by_solver for outcome in outcomes)
        result.subproblems = result.proved_by_bounds + result.proved_by_solver
        domains = "boxes" if strategy == "bab" else "domains"
        result.extra.update({"strategy": strategy, domains: sum(o.boxes for o in outcomes)})
        return result

    def _plain(
        self, network: Network, prop: Property, pieces: list[InputPiece], start: float
    ) -> VerificationResult:
        """Bounds per (piece, disjunct), then one exact solve of every case left open."""
        exact = Capability.EXACT in self.solver.capabilities
        open_cases: list[tuple[InputPiece, OutputConjunction, Bounds | None]] = []
        subproblems = proved_by_bounds = 0
        for piece in pieces:
            bounds = None if exact else symbolic_bounds(network, piece.lower, piece.upper)
            for conjunction in prop.unsafe_outputs:
                subproblems += 1
                if bounds is not None and np.any(
                    output_lower_bounds(network, bounds, conjunction.C, piece.lower, piece.upper)
                    > conjunction.d
                ):
                    proved_by_bounds += 1
                else:
                    open_cases.append((piece, conjunction, bounds))

        outcomes: list[Verdict] = []
        messages: list[str] = []
        for piece, conjunction, bounds in open_cases:
            remaining = self._remaining(start)
            if remaining is not None and remaining <= 0:
                outcomes.append("timeout")
                break
            outcome, point, message = self._solve_case(
                network, prop, piece, conjunction, bounds, remaining
            )
            if outcome == "sat" and point is not None:
                result = self._sat(network, point, "solver")
                result.subproblems, result.proved_by_bounds = subproblems, proved_by_bounds
                return result
            outcomes.append(outcome)
            if message:
                messages.append(message)
        status: Verdict = "unsat"
        if "timeout" in outcomes:
            status = "timeout"
        elif "unknown" in outcomes:
            status = "unknown"
        return VerificationResult(
            status,
            self.solver.name,
            subproblems=subproblems,
            proved_by_bounds=proved_by_bounds,
            proved_by_solver=outcomes.count("unsat"),
            message="; ".join(messages),
            extra={"strategy": "milp"},
        )

    def _solve_case(
        self,
        network: Network,
        prop: Property,
        piece: InputPiece,
        conjunction: OutputConjunction,
        bounds: Bounds | None,
        timeout: float | None,
    ) -> tuple[Verdict, np.ndarray | None, str]:
        """Solve one (piece, disjunct): its verdict, the counterexample for ``sat``, and why."""
        # the query machinery (scipy.sparse) loads here: many runs never reach a solver
        from nnv.core.verify.encode import reachability_query

        for margin in (0.0, REPLAY_MARGIN):
            query, variables = reachability_query(network, piece, conjunction, bounds, margin)
            solution = self.solver.solve(query, timeout)
            if solution.status == "infeasible":
                if margin == 0.0:
                    return "unsat", None, ""
                return "unknown", None, "no replayable point: the violation is below the margin"
            if solution.status == "timeout":
                return "timeout", None, solution.message
            if not solution.found:
                return "unknown", None, solution.message or solution.status
            assert solution.values is not None
            point = np.clip(solution.values[variables.inputs], piece.lower, piece.upper)
            if replay(network, prop, point) is not None:
                return "sat", point, ""
        return "unknown", None, "the solver's counterexample did not replay in float64"

    def _activation_bab(
        self, network: Network, prop: Property, pieces: list[InputPiece], start: float
    ) -> VerificationResult:
        """PGD first, then activation-splitting branch and bound on each box in turn."""
        from nnv.core.verify.activation_bab import search_boxes

        def solve_domain(
            piece: InputPiece, disjunct: int, bounds: Bounds
        ) -> tuple[Verdict, np.ndarray | None, str]:
            conjunction = prop.unsafe_outputs[disjunct]
            return self._solve_case(
                network, prop, piece, conjunction, bounds, self._remaining(start)
            )

        deadline = None if self.timeout is None else start + self.timeout
        attack_seed = self.seed if self.falsify_samples > 0 else None
        with blas_threads(1):
            outcomes = search_boxes(
                network, prop, pieces, solve_domain, self.activation, attack_seed, deadline
            )
        return self._bab_result(network, prop, outcomes, "activation")


def _proved_fraction(pieces: list[InputPiece], outcomes: list[BabOutcome]) -> float:
    """The share of the region's volume the searches proved safe (pieces not reached: none)."""
    volumes = [piece.volume() for piece in pieces]
    proved = sum(v * o.proved_volume for v, o in zip(volumes, outcomes, strict=False))
    return proved / sum(volumes) if sum(volumes) else 0.0


def _has_torch() -> bool:
    """Whether torch is installed (the activation strategy needs it; nnv's core does not)."""
    return importlib.util.find_spec("torch") is not None


def verify(
    network: Network, prop: Property, solver: Solver, timeout: float | None = None, **options: Any
) -> VerificationResult:
    """Shorthand for ``Verifier(solver, timeout, ...).verify(network, prop)``."""
    return Verifier(solver, timeout, **options).verify(network, prop)
