"""The ``retrain`` method's options: each a flag of ``nnv run`` and a key of its config file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nnv.core import InputError
from nnv.core.model.decision import Decision
from nnv.core.plugin.options import Options, option

from .torch_training import TrainingSettings


@dataclass(frozen=True)
class RetrainOptions(Options):
    """The method's options (``nnv run --iterations ...``); the defaults follow the paper where
    it gives a figure (20 iterations, 200 region and 200 training points) and are our choice
    where it does not (Adam at 1e-3, 10 epochs, batches of 32, jitter 0.05)."""

    iterations: int = option(20, help="retrain: fine-tuning iterations at most (default 20).")
    sampling: Literal["uniform", "counterexamples"] = option(
        "uniform", help="retrain: region points uniform (default) or near counterexamples."
    )
    region_points: int = option(
        200, help="retrain: points per unproved property per iteration (default 200)."
    )
    train_points: int = option(
        200, help="retrain: training points drawn per iteration (default 200)."
    )
    epochs: int = option(10, help="retrain: epochs per fine-tuning (default 10).")
    learning_rate: float = option(1e-3, help="retrain: Adam's learning rate (default 0.001).")
    batch_size: int = option(32, cli=False, help="retrain: points per gradient step (default 32).")
    jitter: float = option(
        0.05,
        cli=False,
        help="retrain, counterexamples: the jitter's standard deviation, a fraction of the "
        "region's width (default 0.05).",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, least in (
            ("iterations", 0), ("region_points", 1), ("train_points", 0), ("epochs", 0),
            ("batch_size", 1),
        ):  # fmt: skip
            value = getattr(self, name)
            if value < least:
                raise InputError(f"{name} must be an integer of at least {least}, not {value!r}")
        for name in ("learning_rate", "jitter"):
            value = getattr(self, name)
            if not value > 0:
                raise InputError(f"{name} must be a positive number, not {value!r}")

    def training(self, decision: Decision) -> TrainingSettings:
        """The fine-tuning's settings, aiming at classes decided by ``decision``."""
        return TrainingSettings(self.epochs, float(self.learning_rate), self.batch_size, decision)
