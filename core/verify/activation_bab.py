"""Branch and bound over ReLU activations, for input boxes too wide to split.

A *domain* (:mod:`.domains`) is one unsafe disjunct ``C y <= d`` together with splits that
fix some hidden ReLUs active (``z >= 0``) or inactive (``z <= 0``). The root domains (one per
disjunct, the whole box, no splits) get their intermediate bounds from alpha-CROWN
(:mod:`.crown_root`) and their rows' bounds from alpha-CROWN (:mod:`.crown`). A domain is
closed when a lower bound of one of its rows is above zero. The open ones are split in
batches, the worst bounds first: each chosen domain gets two children, on the neuron that
:mod:`.branching` picks. A child inherits its parent's intermediate bounds (still valid on a
part of the parent), clamped at the split; the layers after the split are tightened by CROWN
through the now exact split neurons, and the rows are bounded by beta-CROWN, warm-started
from the parent's alphas and betas.

Every child offers the minimiser of its best row's linear bound as a counterexample candidate,
replayed by the caller. A domain with no unstable ReLU left free, or split too often, goes to
the exact solver with its bounds (the splits are in them), so the search is complete. The
answer is ``unsat`` only when every domain was closed by bounds or by the solver.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nnv.core.bounds.crown import DTYPE, Box, Root, TorchNetwork, refine, root_bounds, stacked_rows
from nnv.core.bounds.crown_optimise import Problem, optimise
from nnv.core.bounds.crown_root import optimise_root
from nnv.core.bounds.relaxation import rounding_margin
from nnv.core.bounds.symbolic import Bounds
from nnv.core.model.network import Network
from nnv.core.model.property import InputPiece, OutputConjunction, Property
from nnv.core.runtime.blas import torch_threads
from nnv.core.verify.branching import choose_splits
from nnv.core.verify.domains import Domains, locate, outward_layers, split
from nnv.core.verify.input_bab import BabOutcome, IsViolation, SolveBox
from nnv.core.verify.pgd import pgd_attack

Tensor = torch.Tensor


@dataclass(frozen=True)
class ActivationSettings:
    """Knobs of the search; the defaults suit MNIST-sized fully connected networks."""

    batch: int = 64  # domains split per round (each gives two children)
    intermediate_iterations: int = 20  # alpha steps for the intermediate bounds at the root
    root_iterations: int = 40  # alpha steps for the rows at the root
    root_share: float = 0.25  # of the time left, the most the root's intermediate bounds take
    iterations: int = 20  # alpha and beta steps per round of children
    root_learning_rate: float = 0.1  # alpha steps at the root, from CROWN's slopes
    learning_rates: tuple[float, float] = (0.1, 0.05)  # alpha, beta in the children
    candidates: int = 0  # FSB: the best neurons of each score that are rescored (0: BaBSR)
    refine: bool = True  # children re-bound their intermediate layers after the split
    refine_last: bool = False  # ... the last hidden layer too (costly)
    max_depth: int = 40  # splits of one domain before the exact solver takes it over
    max_domains: int = 20000  # beyond this many open domains, the deepest are split first
    threads: int = 1  # torch threads: on shared cores, one thread is faster than two
    attack_restarts: int = 16  # PGD before the search: random starts per disjunct
    attack_steps: int = 50


class ActivationBranchAndBound:
    """Activation-splitting branch and bound for one input box against unsafe disjuncts."""

    def __init__(
        self,
        net: TorchNetwork,
        piece: InputPiece,
        conjunctions: Sequence[OutputConjunction],
        is_violation: IsViolation,
        solve_domain: SolveBox,
        settings: ActivationSettings | None = None,
    ) -> None:
        self.net = net
        self.piece = piece
        self.is_violation = is_violation
        self.solve_domain = solve_domain
        self.settings = settings or ActivationSettings()
        self.C, self.d = stacked_rows(conjunctions)
        self.box = Box.of(piece.lower, piece.upper)
        self.root: Root | None = None
        self.deadline: float | None = None

    # -- bounds -------------------------------------------------------------------------------

    def _bound(
        self, domains: Domains, iterations: int, first: Tensor | None = None
    ) -> tuple[Domains, Tensor]:
        """The domains with their rows re-bounded (never below the bounds they had: a domain's
        old bounds still hold on it), and per domain the input coefficients of its best row.
        ``first``: per domain, the first hidden layer whose bounds are to be tightened."""
        assert self.root is not None
        rate = self.settings.root_learning_rate
        relaxations = domains.relaxations()
        if first is not None and self.settings.refine:
            lower = [low.to(DTYPE) for low in domains.lower]
            upper = [high.to(DTYPE) for high in domains.upper]
            layers = self.net.n_hidden if self.settings.refine_last else self.net.n_hidden - 1
            relaxations = refine(
                self.net,
                self.box,
                self.root.magnitude,
                (lower, upper),
                domains.splits,
                first,
                layers,
                self.deadline,
            )
            domains.lower, domains.upper = outward_layers(lower, upper)
        rows = (self.C[domains.disjunct], self.d[domains.disjunct])
        result = optimise(
            Problem(self.net, rows, relaxations, self.root, self.box),
            domains.alphas,
            domains.betas,
            iterations,
            self.settings.learning_rates if first is not None else (rate, rate),
            self.deadline,
            domains.mix if domains.mix.shape[1] else None,
        )
        domains.bound = torch.maximum(result.bound, domains.bound)
        domains.alphas = [alpha.float() for alpha in result.alphas]
        domains.betas = [beta.float() for beta in result.betas]
        if result.mix is not None:
            domains.mix = result.mix.float()
        best = domains.bound.argmax(dim=1)
        return domains, result.inputs[torch.arange(len(domains)), best]

    def _candidates(self, coefficients: Tensor) -> np.ndarray | None:
        """The first genuine counterexample among the minimisers of the linear bounds."""
        lower, upper = self.box.lower, self.box.upper
        points = torch.where(
            coefficients > 0, lower, torch.where(coefficients < 0, upper, self.box.center)
        ).numpy()
        hits = np.flatnonzero(self.is_violation(points))
        return points[hits[0]] if hits.size else None

    # -- search -------------------------------------------------------------------------------

    def run(self, deadline: float | None) -> BabOutcome:
        # Tightening a wide Conv lowering's intermediate bounds neuron by neuron can take
        # minutes on a CPU (Convnet_maxpool: 31,000 unstable neurons, 180 s) while the search
        # often closes the box with looser ones: past its share of the time, the root stops
        # tightening and keeps the (sound) bounds it has.
        root_deadline = None
        if deadline is not None:
            now = time.perf_counter()
            root_deadline = now + self.settings.root_share * max(deadline - now, 0.0)
        with torch_threads(self.settings.threads):
            with torch.no_grad():
                plain = root_bounds(self.net, self.box, root_deadline)
            self.root = optimise_root(
                self.net,
                self.box,
                (self.C, self.d),
                plain,
                self.settings.intermediate_iterations,
                self.settings.root_learning_rate,
                root_deadline,
            )
            return self._search(deadline)

    def _search(self, deadline: float | None) -> BabOutcome:
        self.deadline = deadline
        outcome = BabOutcome("unsat", boxes=len(self.d))
        assert self.root is not None
        count, m = self.d.shape
        roots = Domains.roots(self.root, count, m)
        pool, coefficients = self._bound(roots, self.settings.root_iterations)
        if self._found(coefficients, outcome):
            return outcome
        closed = pool.objective > 0
        outcome.proved_by_bounds = int(closed.sum())
        pool = pool.take(~closed)
        while len(pool):
            if deadline is not None and time.perf_counter() > deadline:
                outcome.status = "timeout"
                return outcome
            batch, pool = self._pick(pool)
            to_solver = (batch.free() == 0) | (batch.depth >= self.settings.max_depth)
            if bool(to_solver.any()) and self._solve(batch.take(to_solver), outcome):
                return outcome
            batch = batch.take(~to_solver)
            if not len(batch):
                continue
            children, first = self._split(batch)
            children, coefficients = self._bound(children, self.settings.iterations, first)
            outcome.boxes += len(children)
            if self._found(coefficients, outcome):
                return outcome
            closed = children.objective > 0
            outcome.proved_by_bounds += int(closed.sum())
            pool = Domains.concatenate([pool, children.take(~closed)])
        return outcome

    def _pick(self, pool: Domains) -> tuple[Domains, Domains]:
        """The next batch (the worst bounds first; the deepest while the pool is too big), and
        the rest of the pool."""
        size = min(self.settings.batch, len(pool))
        key = pool.objective if len(pool) <= self.settings.max_domains else -pool.depth.to(DTYPE)
        chosen = torch.topk(key, size, largest=False).indices
        rest = torch.ones(len(pool), dtype=torch.bool)
        rest[chosen] = False
        return pool.take(chosen), pool.take(rest)

    def _split(self, batch: Domains) -> tuple[Domains, Tensor]:
        """Two children per domain of ``batch`` (first the active ones, then the inactive ones)
        on the neuron the branching heuristic picks, and the layer after each split."""
        assert self.root is not None
        choice = choose_splits(
            self.net, self.root, self.box, (self.C, self.d), batch, self.settings.candidates
        )
        count = len(batch)
        value = torch.cat([torch.ones(count), -torch.ones(count)]).to(torch.int8)
        flat = choice.flat.repeat(2)
        children = split(
            self.root,
            Domains.concatenate([batch, batch]),
            flat,
            value,
            torch.cat([choice.active, choice.inactive]),
        )
        return children, locate(self.root, flat)[0] + 1

    def _found(self, coefficients: Tensor, outcome: BabOutcome) -> bool:
        point = self._candidates(coefficients)
        if point is None:
            return False
        outcome.status, outcome.point, outcome.found_by = "sat", point, "branch-and-bound"
        return True

    def _solve(self, domains: Domains, outcome: BabOutcome) -> bool:
        """Hand domains to the exact solver; True when that settles the search (sat, timeout)."""
        lows = [low.to(DTYPE) for low in domains.lower]
        highs = [high.to(DTYPE) for high in domains.upper]
        for i in range(len(domains)):
            if self.deadline is not None and time.perf_counter() > self.deadline:
                outcome.status = "timeout"
                return True
            bounds = self._domain_bounds([low[i] for low in lows], [high[i] for high in highs])
            status, point, message = self.solve_domain(self.piece, int(domains.disjunct[i]), bounds)
            if status == "sat" and point is not None:
                outcome.status, outcome.point, outcome.found_by = "sat", point, "solver"
                return True
            if status == "timeout":
                outcome.status, outcome.message = "timeout", message
                return True
            if status == "unsat":
                outcome.proved_by_solver += 1
            else:  # this domain stays unproved; a later one may still be sat
                outcome.status, outcome.message = "unknown", message
        return False

    def _domain_bounds(self, lows: list[Tensor], highs: list[Tensor]) -> Bounds:
        """A domain's bounds for the solver: its hidden layers' (splits clamped), then the
        outputs' by interval arithmetic from the last hidden layer."""
        low = lows[-1].clamp(min=0.0)
        high = highs[-1].clamp(min=0.0)
        layer, bias = self.net.layers[-1], self.net.biases[-1]
        center, radius = (low + high) / 2, (high - low) / 2
        middle, spread = layer.push(center) + bias, layer.abs_times(radius)
        margin = rounding_margin(layer.abs_times(high), bias.abs())
        return Bounds(
            tuple(t.numpy() for t in [*lows, middle - spread - margin]),
            tuple(t.numpy() for t in [*highs, middle + spread + margin]),
        )


def search_boxes(
    network: Network,
    prop: Property,
    pieces: Sequence[InputPiece],
    solve_domain: SolveBox,
    settings: ActivationSettings | None,
    attack_seed: int | None,
    deadline: float | None,
) -> list[BabOutcome]:
    """PGD (unless ``attack_seed`` is None), then the search, on each box piece in turn, until
    one is violated or time is up. Every PGD hit is replayed on ``network`` in float64."""
    settings = settings or ActivationSettings()
    net = TorchNetwork.of(network)
    rows = stacked_rows(prop.unsafe_outputs)

    def is_violation(points: np.ndarray) -> np.ndarray:
        return prop.violations(network.forward, points)

    outcomes: list[BabOutcome] = []
    for piece in pieces:
        if attack_seed is not None:
            with torch_threads(settings.threads):
                hits = pgd_attack(
                    net,
                    piece.lower,
                    piece.upper,
                    rows,
                    settings.attack_restarts,
                    settings.attack_steps,
                    attack_seed,
                    deadline,
                )
            genuine = np.flatnonzero(is_violation(hits)) if len(hits) else np.zeros(0, int)
            if genuine.size:
                point = hits[genuine[0]]
                return [*outcomes, BabOutcome("sat", point=point, found_by="falsification")]
        search = ActivationBranchAndBound(
            net, piece, prop.unsafe_outputs, is_violation, solve_domain, settings
        )
        outcomes.append(search.run(deadline))
        if outcomes[-1].status in ("sat", "timeout"):
            break
    return outcomes
