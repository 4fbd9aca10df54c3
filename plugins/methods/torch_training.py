"""Fine-tuning a :class:`Network` with PyTorch: the conversion both ways and the training loop.

The network becomes an ``nn.Sequential`` of ``Linear`` and ``ReLU`` in float64, so the weights
go both ways bit for bit and the trained weights are the very ones that are then verified.
PyTorch is optional (``pip install 'nnv[torch]'``) and imported only when training starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from nnv.core import InputError, Network
from nnv.core.model.decision import DEFAULT_DECISION, Decision, sign


def require_torch() -> ModuleType:
    """The torch module; an ``InputError`` naming the extra to install when it is missing."""
    try:
        import torch
    except ImportError:
        raise InputError("--method retrain needs PyTorch: pip install 'nnv[torch]'") from None
    return torch


@dataclass(frozen=True)
class TrainingSettings:
    """Adam on the mean cross-entropy, over shuffled mini-batches; the class is the largest
    output (``argmax``) or the smallest (``argmin``: the scores are the negated outputs)."""

    epochs: int
    learning_rate: float
    batch_size: int
    decision: Decision = DEFAULT_DECISION


def to_torch(network: Network) -> Any:
    """An ``nn.Sequential`` (float64) with ``network``'s weights, bit for bit."""
    torch = require_torch()
    modules: list[Any] = []
    for index, layer in enumerate(network.layers):
        linear = torch.nn.Linear(layer.n_in, layer.n_out, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(layer.weight)))
            linear.bias.copy_(torch.from_numpy(np.array(layer.bias)))
        modules.append(linear)
        if index < len(network.layers) - 1:
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


def from_torch(model: Any) -> Network:
    """The trained weights back as a :class:`Network`."""
    torch = require_torch()
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    return Network(
        [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in linears]
    )


def fine_tune(
    network: Network, X: np.ndarray, allowed: np.ndarray, settings: TrainingSettings, seed: int
) -> tuple[Network, float | None]:
    """``network`` trained (every weight) to decide each row of ``X`` as one of the classes
    ``allowed`` marks in its row (a boolean matrix, points x classes), and the last epoch's
    mean loss (None after no epoch).

    The shuffling draws from a generator seeded with ``seed`` alone, so the same inputs give
    the same network. Training runs on one thread: on networks this small, intra-op threads
    only add synchronisation (ten times slower on a busy 2-core machine).
    """
    torch = require_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = to_torch(network)
        loss = _train(torch, model, X, allowed, settings, seed)
    finally:
        torch.set_num_threads(threads)
    return from_torch(model), loss


def _train(
    torch: ModuleType,
    model: Any,
    X: np.ndarray,
    allowed: np.ndarray,
    settings: TrainingSettings,
    seed: int,
) -> float | None:
    """Adam on shuffled mini-batches; the last epoch's mean loss."""
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    inputs = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64))
    targets = torch.from_numpy(np.ascontiguousarray(allowed, dtype=bool))
    orientation = sign(settings.decision)
    generator = torch.Generator().manual_seed(seed)
    mean_loss = None
    for _ in range(settings.epochs):
        order = torch.randperm(inputs.shape[0], generator=generator)
        total = 0.0
        for start in range(0, inputs.shape[0], settings.batch_size):
            batch = order[start : start + settings.batch_size]
            optimiser.zero_grad()
            loss = _set_cross_entropy(torch, orientation * model(inputs[batch]), targets[batch])
            loss.backward()
            optimiser.step()
            total += loss.item() * batch.shape[0]
        mean_loss = total / inputs.shape[0]
    return mean_loss


def _set_cross_entropy(torch: ModuleType, scores: Any, allowed: Any) -> Any:
    """The mean of ``-log`` of the softmax mass on each row's allowed classes: "the decision is
    one of them". With one allowed class it is the usual cross-entropy, to the last bit (the
    log-sum-exp of one log-probability is that log-probability)."""
    log_probabilities = torch.log_softmax(scores, dim=1)
    kept = log_probabilities.masked_fill(~allowed, -torch.inf)
    return -torch.logsumexp(kept, dim=1).mean()
