"""Which ReLU to split: BaBSR-style scores, rescored by the bounds themselves (FSB).

From one back-substitution of a domain's best row, every free unstable neuron ``j`` of layer
``i`` has a coefficient ``lam`` on its ReLU output. Two estimates of what splitting it gains:

- *intercept*: a negative ``lam`` pays ``-lam * offset`` for the chord's offset above the ReLU,
  which either child removes;
- *BaBSR*: the intercept plus the smaller change of the bias term ``lam * slope * b`` (the
  child that fixes the neuron active pays ``lam * b``, the inactive one nothing).

Filtered smart branching (FSB) takes the ``k`` best neurons of each estimate and bounds both
children of each, with the parent's alphas and betas and no optimisation, in one batched pass;
the neuron whose worse child has the higher bound wins. With ``k = 0`` the BaBSR score alone
decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from nnv.core.bounds.crown import DTYPE, Box, Root, TorchNetwork, back_substitute
from nnv.core.verify.domains import split

if TYPE_CHECKING:
    from nnv.core.verify.domains import Domains

Tensor = torch.Tensor


@dataclass(frozen=True)
class Choice:
    """The neuron to split per domain (flat index over all hidden layers), and the warm start
    of its beta in each child, ``(batch, m)``: with ``lam >= 0`` on the neuron's output and
    lower slope ``alpha``, beta ``lam (1 - alpha)`` in the active child (``(lam - beta) z``)
    and ``lam alpha`` in the inactive one (``beta z``) give back the parent's term ``lam alpha
    z``, so a child starts no worse than its parent; with ``lam < 0`` beta 0 already does."""

    flat: Tensor
    active: Tensor
    inactive: Tensor


def _scores(
    net: TorchNetwork, root: Root, box: Box, rows: tuple[Tensor, Tensor], batch: Domains
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Intercept and BaBSR scores ``(batch, neurons)`` over all hidden layers (flattened,
    layer by layer; ``-inf`` where a neuron is not free to split), and per row the
    coefficient on each neuron's output and its lower slope, ``(batch, m, neurons)``."""
    relaxations = batch.relaxations()
    C, d = batch.rows(*rows)
    alphas = [alpha.to(DTYPE) for alpha in batch.alphas]
    betas = [beta.to(DTYPE) for beta in batch.betas]
    result = back_substitute(
        net, net.n_hidden, C, -d, relaxations, root.magnitude, box, alphas, betas, True
    )
    everyone = torch.arange(len(batch))
    row = batch.bound.argmax(dim=1)
    intercepts, babsrs = [], []
    for index, relax in enumerate(relaxations):
        lam = result.hidden[index][everyone, row]
        offset, slope = relax.offset[:, 0, :], relax.slope[:, 0, :]
        used = torch.where(lam >= 0, alphas[index][everyone, row], slope)
        intercept = (-lam).clamp(min=0.0) * offset
        bias = net.biases[index] * lam
        babsr = intercept + torch.minimum(bias * (1 - used), -bias * used)
        free = relax.unstable[:, 0, :]
        intercepts.append(torch.where(free, intercept, -torch.inf))
        babsrs.append(torch.where(free, babsr, -torch.inf))
    return (
        torch.cat(intercepts, dim=1),
        torch.cat(babsrs, dim=1),
        torch.cat(result.hidden, dim=2),
        torch.cat(alphas, dim=2),
    )


def _warm(lam: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
    """The betas of :class:`Choice` for coefficients ``lam`` and slopes ``alpha``."""
    positive = lam.clamp(min=0.0)
    return positive * (1 - alpha), positive * alpha


def choose_splits(
    net: TorchNetwork,
    root: Root,
    box: Box,
    rows: tuple[Tensor, Tensor],
    batch: Domains,
    candidates: int,
) -> Choice:
    """Per domain of ``batch``, the neuron to split; each domain has a free one."""
    with torch.no_grad():
        intercept, babsr, lam, alpha = _scores(net, root, box, rows, batch)
        if candidates <= 0:
            best = babsr.argmax(dim=1)
        else:
            k = min(candidates, babsr.shape[1])
            picked = torch.cat([intercept.topk(k).indices, babsr.topk(k).indices], dim=1)
            valid = torch.isfinite(torch.gather(babsr, 1, picked))
            worst = _rescore(root, box, net, rows, batch, picked, lam, alpha)
            worst = torch.where(valid, worst, -torch.inf)
            best = picked[torch.arange(len(batch)), worst.argmax(dim=1)]
        everyone = torch.arange(len(batch))
        active, inactive = _warm(lam[everyone, :, best], alpha[everyone, :, best])
        return Choice(best, active, inactive)


def _rescore(
    root: Root,
    box: Box,
    net: TorchNetwork,
    rows: tuple[Tensor, Tensor],
    batch: Domains,
    picked: Tensor,
    lam: Tensor,
    alpha: Tensor,
) -> Tensor:
    """Per domain and picked neuron ``(batch, p)``, the lower bound of the worse child."""
    count, p = picked.shape
    # virtual children: domain-major, then picked neuron, then active / inactive
    owner = torch.arange(count).repeat_interleave(2 * p)
    flat = picked.repeat_interleave(2, dim=1).reshape(-1)
    value = torch.tensor([1, -1], dtype=torch.int8).repeat(count * p)
    active, inactive = _warm(lam[owner, :, flat], alpha[owner, :, flat])
    beta = torch.where((value > 0)[:, None], active, inactive)
    children = split(root, batch.take(owner), flat, value, beta)
    C, d = children.rows(*rows)
    result = back_substitute(
        net,
        net.n_hidden,
        C,
        -d,
        children.relaxations(),
        root.magnitude,
        box,
        [alpha_.to(DTYPE) for alpha_ in children.alphas],
        [beta_.to(DTYPE) for beta_ in children.betas],
    )
    objective = result.bound.max(dim=1).values
    return objective.reshape(count, p, 2).min(dim=2).values
