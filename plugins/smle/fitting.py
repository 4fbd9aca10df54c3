"""The training loop SMLE and the baselines share: Adam, minibatches, early stopping.

A seeded split holds out ``validation`` of the training data; training stops when the
validation loss has not improved for ``patience`` epochs, and the best weights come back.
SMLE hooks its counterexample search and projection in after each step or epoch; a hook that
cannot go on (its solver ran out of time) raises :class:`StopTraining`, which ends training
the same way.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from nnv.core.plugin.trainer import EpochRecord, Progress

from .model import DTYPE
from .options import LoopOptions

# Called after every step (``False``) and at the end of each epoch (``True``); returns the
# violation it found, for the record.
Hook = Callable[[bool], float]


class StopTraining(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a hook to end training now: the epoch under way is dropped and the best
    weights so far come back, as at early stopping."""


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
        start, before = time.perf_counter(), projections()
        try:
            total, worst = _epoch(model, fit_X, fit_Y, loss_fn, optimizer, options, rng, hook)
        except StopTraining:
            break
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(model(val_X), val_Y)) if val_X.shape[0] else total
        records.append(
            EpochRecord(
                epoch + 1,
                total / max(fit_X.shape[0], 1),
                val_loss,
                projections(),
                worst,
                time.perf_counter() - start,
                projections() - before,  # every counterexample found is projected away
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


def _epoch(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    options: LoopOptions,
    rng: np.random.Generator,
    hook: Hook | None,
) -> tuple[float, float]:
    """One pass over the shuffled minibatches: the summed loss, the largest violation."""
    model.train()
    order = rng.permutation(X.shape[0])
    total, worst = 0.0, 0.0
    for begin in range(0, order.size, options.batch_size):
        batch = order[begin : begin + options.batch_size]
        loss = loss_fn(model(X[batch]), Y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * batch.size
        if hook is not None:
            worst = max(worst, hook(False))
    if hook is not None:
        worst = max(worst, hook(True))
    return total, worst


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
