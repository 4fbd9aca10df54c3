"""The training loop SMLE and the baselines share: Adam, minibatches, early stopping.

A seeded split holds out ``validation`` of the training data; training stops when the
validation loss has not improved for ``patience`` epochs, and the best weights come back.
SMLE hooks its counterexample search and projection in after each step or epoch.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .model import DTYPE


@dataclass
class EpochRecord:
    """One epoch of training, as the progress bar and the curves see it."""

    epoch: int
    train_loss: float
    val_loss: float
    projections: int  # so far (0 for the baselines)
    violation: float  # the largest counterexample violation found this epoch (0: none)
    seconds: float


Progress = Callable[[EpochRecord], None]
# Called after every step (and once at the end of each epoch, with ``None``); returns the
# violation it found, for the record.
Hook = Callable[[bool], float]


@dataclass(frozen=True)
class LoopOptions:
    epochs: int = 1000
    batch_size: int = 128
    patience: int = 5
    learning_rate: float = 1e-3
    validation: float = 0.2


def fit_network(
    model: nn.Module,
    X: np.ndarray,
    Y: np.ndarray,
    loss_fn: nn.Module,
    options: LoopOptions,
    rng: np.random.Generator,
    hook: Hook | None = None,
    progress: Progress | None = None,
    projections: Callable[[], int] = lambda: 0,
) -> list[EpochRecord]:
    """Train ``model`` in place; ``hook(end_of_epoch)`` runs after every step and epoch."""
    fit_X, fit_Y, val_X, val_Y = _split(X, Y, options.validation, rng)
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=options.learning_rate
    )
    records: list[EpochRecord] = []
    best, best_state, waited = np.inf, copy.deepcopy(model.state_dict()), 0
    for epoch in range(options.epochs):
        start = time.perf_counter()
        model.train()
        order = rng.permutation(fit_X.shape[0])
        total, worst = 0.0, 0.0
        for begin in range(0, order.size, options.batch_size):
            batch = order[begin : begin + options.batch_size]
            loss = loss_fn(model(fit_X[batch]), fit_Y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * batch.size
            if hook is not None:
                worst = max(worst, hook(False))
        if hook is not None:
            worst = max(worst, hook(True))
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(model(val_X), val_Y)) if val_X.shape[0] else total
        records.append(
            EpochRecord(
                epoch + 1,
                total / max(order.size, 1),
                val_loss,
                projections(),
                worst,
                time.perf_counter() - start,
            )
        )
        if progress is not None:
            progress(records[-1])
        if val_loss < best:
            best, best_state, waited = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited >= options.patience:
                break
    model.load_state_dict(best_state)
    return records


def _split(
    X: np.ndarray, Y: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A seeded train/validation split, as float64 tensors."""
    order = rng.permutation(X.shape[0])
    held = int(round(fraction * X.shape[0]))
    fit, val = order[held:], order[:held]
    return _tensor(X[fit]), _tensor(Y[fit]), _tensor(X[val]), _tensor(Y[val])


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=DTYPE)
