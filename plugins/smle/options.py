"""The options of the SMLE trainers, as frozen dataclasses (no PyTorch: ``nnv plugins`` reads
them without training anything).

The trainer plugins (:mod:`nnv.plugins.smle`) declare these as their ``Options``; the
estimators (:class:`.trainer.SmleTrainer` and the baselines) take them in their constructor.
Bad values are refused here, when the options are made, in one ``InputError`` line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from nnv.core import InputError

BOXES = ("linear", "constant", "unit")
ENFORCE = ("step", "epoch")
PRECISIONS = ("float32", "float64")


@dataclass(frozen=True)
class LoopOptions:
    """The training loop every trainer shares: Adam, minibatches, early stopping."""

    epochs: int = 1000
    batch_size: int = 128
    patience: int = 5  # epochs without a better validation loss before stopping
    learning_rate: float = 1e-3
    validation: float = 0.2  # the fraction of the training data held out


@dataclass(frozen=True)
class BaselineOptions:
    """A plain network's options: its widths (None: the paper's), the loop, the solver that
    projects onto the property, the seed of every random choice, and the precision of the
    exported file (float32 by default: what onnxruntime users and Marabou expect)."""

    widths: list[int] | None = None
    epochs: int = 1000
    batch_size: int = 128
    patience: int = 5
    learning_rate: float = 1e-3
    validation: float = 0.2
    solver: str = "highs"
    solver_options: Mapping[str, object] = field(default_factory=dict)
    seed: int = 0
    precision: Literal["float32", "float64"] = "float32"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(
                f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}"
            )

    @property
    def loop(self) -> LoopOptions:
        return LoopOptions(
            self.epochs, self.batch_size, self.patience, self.learning_rate, self.validation
        )


@dataclass(frozen=True)
class SmleOptions(BaselineOptions):
    """SMLE's options besides a plain network's: the box kind, when the search and
    projection run, the counterexample pool (None: 1 for linear inequalities, 10 for mutual
    exclusion) and the most projections after training."""

    box: Literal["linear", "constant", "unit"] = "unit"
    enforce: Literal["step", "epoch"] = "step"
    pool: int | None = None
    max_rounds: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.box not in BOXES:
            raise InputError(f"box must be one of {', '.join(BOXES)}, not {self.box!r}")
        if self.enforce not in ENFORCE:
            raise InputError(
                f"enforce must be one of {', '.join(ENFORCE)}, not {self.enforce!r}"
            )
        if self.pool is not None and self.pool < 1:
            raise InputError(f"the counterexample pool needs at least 1 place, not {self.pool}")
