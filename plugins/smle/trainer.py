"""SMLE training (the paper's Algorithm 2): projected gradient steps with counterexamples.

Each Adam step moves every weight; then (every step, or once an epoch) one counterexample
search asks whether any input of the region can make the head ``g`` violate the property, and
if so the head is projected onto the heads that satisfy it at the counterexamples kept in a
FIFO pool. After training, the same loop runs with an unbounded pool (every counterexample
found since training stopped is kept) until no counterexample remains, or ``max_rounds`` is
hit, which the result then says.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from nnv.core.plugin.registry import default_registry
from nnv.core.plugin.trainer import ClosingRound, PhaseStarted, Progress, SolverLookup

from .certify import FileCertificate, certify
from .export import export_smle
from .fitting import StopTraining, fit_network
from .grounding import Grounding, SolveTimeout
from .groundings import make_grounding, search_solver
from .model import SmleNet, check_level, standardisation, training_loss
from .options import SmleOptions
from .spec import LinearInequalities, Spec


@dataclass
class Closing:
    """The projection loop after training."""

    rounds: int = 0
    converged: bool = False
    seconds: float = 0.0


def default_widths(n_inputs: int, n_outputs: int, spec: Spec) -> list[int]:
    """The paper's backbones: ``[k, 2k, k]`` with ``k = n m`` for regression and
    ``k = int(4 log2(n m))`` for multi-label classification."""
    if isinstance(spec, LinearInequalities):
        k = n_inputs * n_outputs
    else:
        k = max(int(4 * np.log2(n_inputs * n_outputs)), 1)
    return [k, 2 * k, k]


class SmleTrainer:
    """Train an :class:`SmleNet` whose head provably satisfies a property (fit / predict).

    ``solvers`` builds the solvers (the registry, by default). A search or projection whose
    solver runs out of time stops the loop where it is (``stopped_`` says why): the model is
    exported and certified as it stands, and the certificate says that training stopped.
    """

    name = "smle"
    proves = True  # its certificate is a proof

    def __init__(
        self, options: SmleOptions | None = None, solvers: SolverLookup | None = None
    ) -> None:
        self.options = options or SmleOptions()
        self.solvers = solvers or default_registry()

    def fit(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        spec: Spec,
        progress: Progress | None = None,
        level: int | None = None,
    ) -> SmleTrainer:
        """Train on ``(X, Y)`` for ``spec``; ``level`` (an input column, e.g. forecasting's
        last input) makes the model predict relative to it (see :class:`.model.SmleNet`)."""
        options = self.options
        check_level(spec, level, X.shape[1])
        torch.manual_seed(options.seed)
        rng = np.random.default_rng(options.seed)
        grounding = make_grounding(spec, options.solver, options.solver_options, self.solvers)
        shift, scale = standardisation(X, level)
        self.model_ = SmleNet(
            X.shape[1],
            Y.shape[1],
            options.widths or default_widths(X.shape[1], Y.shape[1], spec),
            options.box,
            spec.region,
            shift=shift,
            scale=scale,
            level=level,
        )
        self.projections_ = 0
        self.solver_seconds_ = 0.0
        self.stopped_ = ""
        self.pool_size_ = options.pool or (1 if isinstance(spec, LinearInequalities) else 10)
        pool: deque[np.ndarray] = deque(maxlen=self.pool_size_)

        def hook(end_of_epoch: bool) -> float:
            if end_of_epoch != (options.enforce == "epoch"):
                return 0.0
            return self._enforce(grounding, pool)

        self.history_ = fit_network(
            self.model_,
            X,
            Y,
            training_loss(spec),
            options.loop,
            rng,
            hook,
            progress,
            lambda: self.projections_,
        )
        self.closing_ = Closing()
        if not self.stopped_:
            if progress is not None:
                progress(PhaseStarted("closing", "projections until no counterexample is left"))
            self.closing_ = self._close(grounding, list(pool), progress)
        return self

    def _enforce(self, grounding: Grounding, pool: deque[np.ndarray]) -> float:
        """One search and, when it finds a counterexample, one projection; its violation."""
        start = time.perf_counter()
        try:
            found = grounding.counterexample(self.model_.head_value(), self.model_.box_value())
            if found is not None:
                pool.append(found.y)
                self.model_.set_head(grounding.project(self.model_.head_value(), np.array(pool)))
                self.projections_ += 1
        except SolveTimeout as error:
            self.stopped_ = str(error)
            raise StopTraining from None
        finally:
            self.solver_seconds_ += time.perf_counter() - start
        return 0.0 if found is None else found.violation

    def _close(
        self, grounding: Grounding, pool: list[np.ndarray], progress: Progress | None
    ) -> Closing:
        """Project until no counterexample remains, keeping every counterexample found.

        Every projection starts from the trained head (a cutting-plane loop): the answer is
        the head nearest to the trained one that meets all counterexamples so far, so the
        rounds never drift the way projecting the last answer again and again does.
        """
        start = time.perf_counter()
        closing = Closing()
        box = self.model_.box_value()
        trained = self.model_.head_value()
        tell = progress or (lambda event: None)
        try:
            while True:
                found = grounding.counterexample(self.model_.head_value(), box)
                if found is None:
                    closing.converged = True
                    tell(ClosingRound(closing.rounds, self.projections_, 0.0, converged=True))
                    break
                if closing.rounds >= self.options.max_rounds:
                    break
                pool.append(found.y)
                self.model_.set_head(grounding.project(trained, np.array(pool)))
                self.projections_ += 1
                closing.rounds += 1
                tell(ClosingRound(closing.rounds, self.projections_, found.violation))
        except SolveTimeout as error:
            self.stopped_ = str(error)
        closing.seconds = time.perf_counter() - start
        self.solver_seconds_ += closing.seconds
        return closing

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Outputs (logits for multi-label data: label i is predicted iff its logit > 0)."""
        self.model_.eval()
        return self.model_.predict(X)

    def export(self, precision: str | None = None) -> onnx.ModelProto:
        """The model as ONNX, in ``precision`` (None: the options')."""
        return export_smle(self.model_, precision or self.options.precision)

    def certificate(
        self, model: onnx.ModelProto, spec: Spec, samples: int, box: tuple[np.ndarray, ...]
    ) -> FileCertificate:
        """The exported file checked by proof and by samples (see :mod:`.certify`)."""
        low, high = box
        options = self.options
        solver = search_solver(self.solvers, options.solver, options.solver_options)
        checked = certify(model, spec, solver, samples, (low, high), options.seed)
        if self.stopped_:
            note = f"; training stopped early: {self.stopped_}"
        elif not self.closing_.converged:
            note = (
                f"; the projection loop stopped at max_rounds={options.max_rounds} with "
                "counterexamples left"
            )
        else:
            return checked
        return replace(checked, text=checked.text + note)

    def settings(self) -> dict[str, Any]:
        options = self.options
        return {
            "widths": self._widths(),
            "box": options.box,
            "pool": self.pool_size_,
            "enforce": options.enforce,
            "max_rounds": options.max_rounds,
            "closing_rounds": self.closing_.rounds,
            "closing_converged": self.closing_.converged,
            "solver": options.solver,
            "solver_options": dict(options.solver_options),
            "solver_seconds": self.solver_seconds_,
            "seed": options.seed,
            "precision": options.precision,
            **asdict(options.loop),
        }

    def _widths(self) -> list[int]:
        return [m.out_features for m in self.model_.backbone if isinstance(m, nn.Linear)]
