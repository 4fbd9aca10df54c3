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
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from nnv.core import InputError

from .certify import certify
from .export import export_smle
from .fitting import LoopOptions, Progress, fit_network
from .grounding import Grounding
from .groundings import make_grounding
from .model import SmleNet, check_level, standardisation, training_loss
from .spec import LinearInequalities, Spec
from .workflow import train_to_folder

ENFORCE = ("step", "epoch")
BOXES = ("linear", "constant", "unit")


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
    """Train an :class:`SmleNet` whose head provably satisfies a property (fit / predict)."""

    name = "smle"

    def __init__(
        self,
        widths: Sequence[int] | None = None,
        box: str = "unit",
        epochs: int = 1000,
        batch_size: int = 128,
        patience: int = 5,
        learning_rate: float = 1e-3,
        validation: float = 0.2,
        pool: int | None = None,
        enforce: str = "step",
        max_rounds: int = 1000,
        solver: str = "highs",
        solver_options: dict[str, object] | None = None,
        seed: int = 0,
    ) -> None:
        if box not in BOXES:
            raise InputError(f"box must be one of {', '.join(BOXES)}, not {box!r}")
        if enforce not in ENFORCE:
            raise InputError(f"enforce must be one of {', '.join(ENFORCE)}, not {enforce!r}")
        if pool is not None and pool < 1:
            raise InputError(f"the counterexample pool needs at least 1 place, not {pool}")
        self.widths = None if widths is None else list(widths)
        self.box = box
        self.loop = LoopOptions(epochs, batch_size, patience, learning_rate, validation)
        self.pool = pool
        self.enforce = enforce
        self.max_rounds = max_rounds
        self.solver = solver
        self.solver_options = dict(solver_options or {})
        self.seed = seed

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
        check_level(spec, level, X.shape[1])
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        grounding = make_grounding(spec, self.solver, self.solver_options)
        shift, scale = standardisation(X, level)
        self.model_ = SmleNet(
            X.shape[1],
            Y.shape[1],
            self.widths or default_widths(X.shape[1], Y.shape[1], spec),
            self.box,
            spec.region,
            shift=shift,
            scale=scale,
            level=level,
        )
        self.projections_ = 0
        self.solver_seconds_ = 0.0
        self.pool_size_ = self.pool or (1 if isinstance(spec, LinearInequalities) else 10)
        pool: deque[np.ndarray] = deque(maxlen=self.pool_size_)

        def hook(end_of_epoch: bool) -> float:
            if end_of_epoch != (self.enforce == "epoch"):
                return 0.0
            return self._enforce(grounding, pool)

        self.history_ = fit_network(
            self.model_,
            X,
            Y,
            training_loss(spec),
            self.loop,
            rng,
            hook,
            progress,
            lambda: self.projections_,
        )
        self.closing_ = self._close(grounding, list(pool))
        return self

    def _enforce(self, grounding: Grounding, pool: deque[np.ndarray]) -> float:
        """One search and, when it finds a counterexample, one projection; its violation."""
        start = time.perf_counter()
        found = grounding.counterexample(self.model_.head_value(), self.model_.box_value())
        if found is not None:
            pool.append(found.y)
            self.model_.set_head(grounding.project(self.model_.head_value(), np.array(pool)))
            self.projections_ += 1
        self.solver_seconds_ += time.perf_counter() - start
        return 0.0 if found is None else found.violation

    def _close(self, grounding: Grounding, pool: list[np.ndarray]) -> Closing:
        """Project until no counterexample remains, keeping every counterexample found.

        Every projection starts from the trained head (a cutting-plane loop): the answer is
        the head nearest to the trained one that meets all counterexamples so far, so the
        rounds never drift the way projecting the last answer again and again does.
        """
        start = time.perf_counter()
        closing = Closing()
        box = self.model_.box_value()
        trained = self.model_.head_value()
        while True:
            found = grounding.counterexample(self.model_.head_value(), box)
            if found is None:
                closing.converged = True
                break
            if closing.rounds >= self.max_rounds:
                break
            pool.append(found.y)
            self.model_.set_head(grounding.project(trained, np.array(pool)))
            self.projections_ += 1
            closing.rounds += 1
        closing.seconds = time.perf_counter() - start
        self.solver_seconds_ += closing.seconds
        return closing

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Outputs (logits for multi-label data: label i is predicted iff its logit > 0)."""
        self.model_.eval()
        return self.model_.predict(X)

    def export(self) -> onnx.ModelProto:
        return export_smle(self.model_)

    def certificate(
        self, model: onnx.ModelProto, spec: Spec, samples: int, box: tuple[np.ndarray, ...]
    ) -> dict[str, Any]:
        """The exported file checked by proof and by samples (see :mod:`.certify`)."""
        low, high = box
        checked = certify(
            model, spec, self.solver, self.solver_options, samples, (low, high), self.seed
        )
        if not self.closing_.converged:
            checked["certificate"] += (
                f"; the projection loop stopped at max_rounds={self.max_rounds} with "
                "counterexamples left"
            )
        return checked

    def settings(self) -> dict[str, Any]:
        return {
            "widths": self._widths(),
            "box": self.box,
            "pool": self.pool_size_,
            "enforce": self.enforce,
            "max_rounds": self.max_rounds,
            "closing_rounds": self.closing_.rounds,
            "closing_converged": self.closing_.converged,
            "solver": self.solver,
            "solver_options": self.solver_options,
            "solver_seconds": self.solver_seconds_,
            "seed": self.seed,
            **asdict(self.loop),
        }

    def _widths(self) -> list[int]:
        return [m.out_features for m in self.model_.backbone if isinstance(m, nn.Linear)]

    def run(self, **request: Any) -> dict[str, Any]:
        """Train for ``nnv train``: see :func:`.workflow.train_to_folder` for ``request``."""
        return train_to_folder(self, **request)
