"""alpha-CROWN and beta-CROWN: the relaxation's free parameters optimised by projected gradient.

Every alpha in [0, 1] and every beta >= 0 gives a valid bound (:mod:`.crown`), so the
parameters are chosen by Adam steps on the bound itself, clamped back into their ranges after
every step. The steps run in float32 (twice as fast; they only choose the parameters); the
bounds kept are recomputed in float64 from the chosen parameters, with the outward rounding
margin, so they are sound whatever the float32 steps did.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nnv.core.bounds.crown import (
    DTYPE,
    Backward,
    Box,
    Relaxation,
    Root,
    TorchNetwork,
    back_substitute,
)

Tensor = torch.Tensor


class Adam:
    """Adam steps on groups of ``(tensors, learning rate)``, maximising what ``ascend`` gets
    the gradient of. ``torch.optim.Adam`` would do, but its first construction imports
    ``torch._dynamo``, seconds of start-up on a shared core for a dozen lines of arithmetic."""

    def __init__(self, groups: Sequence[tuple[Sequence[Tensor], float]]) -> None:
        self.groups = [(list(tensors), rate) for tensors, rate in groups]
        self.moments = [
            [(torch.zeros_like(t), torch.zeros_like(t)) for t in tensors] for tensors, _ in groups
        ]
        self.count = 0

    def ascend(self, objective: Tensor) -> None:
        """One step up the gradient of ``objective`` (a scalar)."""
        tensors = [t for group, _ in self.groups for t in group]
        gradients = iter(torch.autograd.grad(objective, tensors, allow_unused=True))
        self.count += 1
        first, second = 1 - 0.9**self.count, 1 - 0.999**self.count
        with torch.no_grad():
            for (group, rate), moments in zip(self.groups, self.moments, strict=True):
                for tensor, (mean, square) in zip(group, moments, strict=True):
                    gradient = next(gradients)
                    if gradient is None:
                        continue
                    mean.mul_(0.9).add_(gradient, alpha=0.1)
                    square.mul_(0.999).addcmul_(gradient, gradient, value=0.001)
                    step = (mean / first) / ((square / second).sqrt() + 1e-8)
                    tensor.add_(step, alpha=rate)


@dataclass
class Optimised:
    """Per domain and row, the best sound bound found and the input coefficients of its linear
    bound; and the parameters after the last step, from which children start (carrying on
    from where the parent's search stopped explores more than restarting from its best)."""

    bound: Tensor
    inputs: Tensor
    alphas: list[Tensor]
    betas: list[Tensor]
    mix: Tensor | None


def mixed_rows(C: Tensor, d: Tensor, mix: Tensor | None) -> tuple[Tensor, Tensor]:
    """The rows ``(batch, m, n_out)``, ``(batch, m)``, plus, given ``mix`` ``(batch, m)``, the
    row ``sum_j w_j (c_j y - d_j)`` with ``w = softmax(mix)``. A conjunction's rows are all
    <= 0 at a violation, so is every such mix: a mix above zero on a domain closes it even
    where each row alone dips below zero somewhere (in different places)."""
    if mix is None:
        return C, d
    weights = torch.softmax(mix.to(C.dtype), dim=1)
    row = torch.einsum("bm,bmo->bo", weights, C)
    return torch.cat([C, row[:, None, :]], dim=1), torch.cat([d, (weights * d).sum(1, True)], 1)


@dataclass(frozen=True)
class Problem:
    """What one optimisation bounds: the network, rows, relaxations, root bounds and box."""

    net: TorchNetwork
    rows: tuple[Tensor, Tensor]
    relaxations: Sequence[Relaxation]
    root: Root
    box: Box

    def single(self) -> Problem:
        """float32 copies of everything the steps read."""
        return Problem(
            self.net.single,
            (self.rows[0].float(), self.rows[1].float()),
            [relax.single() for relax in self.relaxations],
            Root((), (), tuple(magnitude.float() for magnitude in self.root.magnitude)),
            Box(self.box.lower.float(), self.box.upper.float()),
        )

    def bound(self, parameters: Sequence[Tensor], count: int) -> Backward:
        """The bound of ``parameters`` (``count`` alphas, ``count`` betas, maybe the mix)."""
        mix = parameters[2 * count] if len(parameters) > 2 * count else None
        C, d = mixed_rows(*self.rows, mix)
        return back_substitute(
            self.net,
            self.net.n_hidden,
            C,
            -d,
            self.relaxations,
            self.root.magnitude,
            self.box,
            parameters[:count],
            parameters[count : 2 * count],
        )


def optimise(
    problem: Problem,
    alphas: list[Tensor],
    betas: list[Tensor],
    iterations: int,
    learning_rates: tuple[float, float] = (0.1, 0.05),
    deadline: float | None = None,
    mix: Tensor | None = None,
) -> Optimised:
    """Maximise the lower bounds of the rows (``problem.rows``: ``(batch, m, n_out)`` and
    ``(batch, m)``, and the mixed row of :func:`mixed_rows` when ``mix`` is given) over the
    alphas and betas (``(batch, rows, n_j)`` each) and the mix, by Adam, projected after every
    step, until every domain has a row above zero, or at ``deadline``.

    The bound returned is the better of two float64 passes, with the starting parameters and
    with the best float32 iterate's, so it is sound and never below the given parameters'.
    """
    count = len(alphas)
    start = [parameter.detach().float() for parameter in alphas + betas]
    if mix is not None:
        start.append(mix.detach().float())
    kept, last = _steps(problem, start, count, iterations, learning_rates, deadline)
    with torch.no_grad():
        first, best = (problem.bound(_projected(chosen, count), count) for chosen in (start, kept))
    use_first = first.bound > best.bound
    return Optimised(
        torch.where(use_first, first.bound, best.bound),
        torch.where(use_first[..., None], first.inputs, best.inputs),
        last[:count],
        last[count : 2 * count],
        last[2 * count] if mix is not None else None,
    )


def _projected(parameters: list[Tensor], count: int) -> list[Tensor]:
    """float64 copies of float32 parameters, clamped into their valid ranges."""
    alphas = [alpha.to(DTYPE).clamp(0.0, 1.0) for alpha in parameters[:count]]
    betas = [beta.to(DTYPE).clamp(min=0.0) for beta in parameters[count : 2 * count]]
    return alphas + betas + [mix.to(DTYPE) for mix in parameters[2 * count :]]


def _steps(
    problem: Problem,
    start: list[Tensor],
    count: int,
    iterations: int,
    learning_rates: tuple[float, float],
    deadline: float | None,
) -> tuple[list[Tensor], list[Tensor]]:
    """The float32 Adam steps of :func:`optimise` on ``start`` (``count`` alphas, ``count``
    betas, maybe the mix): the best iterate's parameters per row, and the last ones."""
    parameters = [tensor.clone().requires_grad_(True) for tensor in start]
    kept = [tensor.clone() for tensor in start]
    if iterations <= 0:
        return kept, [tensor.detach() for tensor in parameters]
    optimiser = Adam(
        [
            (parameters[:count] + parameters[2 * count :], learning_rates[0]),
            (parameters[count : 2 * count], learning_rates[1]),
        ]
    )
    single = problem.single()
    best = torch.tensor(-torch.inf)
    for step in range(iterations + 1):
        with torch.set_grad_enabled(step < iterations):
            bound = single.bound(parameters, count).bound
        better = bound.detach() > best
        best = torch.where(better, bound.detach(), best)
        for index, (old, parameter) in enumerate(zip(kept, parameters, strict=True)):
            mask = better[:, -1:] if index >= 2 * count else better[..., None]
            old.copy_(torch.where(mask, parameter.detach(), old))
        done = best.max(dim=1).values > 0
        late = deadline is not None and time.perf_counter() > deadline
        if step == iterations or late or bool(done.all()):
            break
        optimiser.ascend((bound * (~done)[:, None]).sum())
        with torch.no_grad():
            for alpha in parameters[:count]:
                alpha.clamp_(0.0, 1.0)
            for beta in parameters[count : 2 * count]:
                beta.clamp_(min=0.0)
    return kept, [tensor.detach() for tensor in parameters]
