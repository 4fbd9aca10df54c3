"""alpha-CROWN at the root: intermediate bounds tightened by optimised slopes, once per box.

Plain CROWN bounds every hidden layer with the adaptive lower slopes; in deep networks the
looseness compounds, and the last hidden layers keep many unstable neurons that branch and
bound would then have to split. Here each layer's unstable neurons get their own alphas (one
set per neuron and side, for every earlier layer), and all of them, with the final rows'
alphas, are optimised together to raise the final rows' bounds: every iteration recomputes the
intermediate bounds from the current alphas, so the gradient reaches the early layers through
the relaxations they shape. Each iteration's bounds are valid (float64, rounded outward), and
so is their intersection with the best found so far; that intersection is what the search
inherits.
"""

from __future__ import annotations

import time

import torch

from nnv.core.bounds.crown import (
    DTYPE,
    Box,
    Relaxation,
    Root,
    TorchNetwork,
    back_substitute,
    selector_rows,
)
from nnv.core.bounds.crown_optimise import Adam

Tensor = torch.Tensor

# Beyond this many unstable neurons in all, the root keeps plain CROWN's intermediate bounds:
# one set of alphas per neuron and side for every earlier layer would not fit in memory.
MAX_OPTIMISED = 4096


def _unstable(root: Root) -> list[Tensor | None]:
    """Per hidden layer, its unstable neurons; None for layer 0 (exact already) and for
    layers without unstable neurons."""
    found: list[Tensor | None] = []
    for index, (low, high) in enumerate(zip(root.lower, root.upper, strict=True)):
        unstable = torch.nonzero((low < 0) & (high > 0)).flatten()
        found.append(unstable if index and unstable.numel() else None)
    return found


def _selectors(root: Root, unstable: list[Tensor | None]) -> list[tuple[Tensor, Tensor] | None]:
    """Per hidden layer, its unstable neurons and the rows (``+e_j`` then ``-e_j``) that bound
    them (dense: built only once the count is known to fit)."""
    return [
        None if chosen is None else (chosen, selector_rows(chosen, low.numel()))
        for chosen, low in zip(unstable, root.lower, strict=True)
    ]


def optimise_root(
    net: TorchNetwork,
    box: Box,
    rows: tuple[Tensor, Tensor],
    root: Root,
    iterations: int,
    learning_rate: float = 0.1,
    deadline: float | None = None,
) -> Root:
    """Tighter intermediate bounds than ``root`` (plain CROWN's), optimised for the lower
    bounds of ``rows`` (``(k, m, n_out)`` and ``(k, m)``, one domain per row set)."""
    per_layer = _unstable(root)
    unstable = sum(chosen.numel() for chosen in per_layer if chosen is not None)
    late = deadline is not None and time.perf_counter() > deadline
    if iterations <= 0 or not unstable or unstable > MAX_OPTIMISED or late:
        return root
    selectors = _selectors(root, per_layer)
    plain = [
        Relaxation.of(low[None, :], high[None, :])
        for low, high in zip(root.lower, root.upper, strict=True)
    ]
    inner: list[list[Tensor]] = [
        []
        if selector is None
        else [
            relax.adaptive.expand(1, selector[1].shape[1], -1).clone().requires_grad_(True)
            for relax in plain[:index]
        ]
        for index, selector in enumerate(selectors)
    ]
    C, d = rows
    final = [
        relax.adaptive.expand(C.shape[0], C.shape[1], -1).clone().requires_grad_(True)
        for relax in plain
    ]
    parameters = [alpha for layer in inner for alpha in layer] + final
    optimiser = Adam([(parameters, learning_rate)])
    best_low, best_high = list(root.lower), list(root.upper)
    for _ in range(iterations):
        relaxations: list[Relaxation] = []
        for index, selector in enumerate(selectors):
            low, high = best_low[index], best_high[index]
            if selector is not None:
                chosen, selector_rows_ = selector
                found = back_substitute(
                    net,
                    index,
                    selector_rows_,
                    torch.zeros(selector_rows_.shape[:2], dtype=DTYPE),
                    relaxations,
                    root.magnitude,
                    box,
                    inner[index],
                ).bound[0]
                count = chosen.numel()
                low, high = low.clone(), high.clone()
                low[chosen] = torch.maximum(found[:count], low[chosen])
                high[chosen] = torch.minimum(-found[count:], high[chosen])
            best_low[index], best_high[index] = low.detach(), high.detach()
            relaxations.append(Relaxation.of(low[None, :], high[None, :]))
        bound = back_substitute(
            net, net.n_hidden, C, -d, relaxations, root.magnitude, box, final
        ).bound
        open_rows = bound.detach().max(dim=1).values <= 0
        if not bool(open_rows.any()) or (deadline is not None and time.perf_counter() > deadline):
            break
        optimiser.ascend((bound * open_rows[:, None]).sum())
        with torch.no_grad():
            for alpha in parameters:
                alpha.clamp_(0.0, 1.0)
    return Root(tuple(best_low), tuple(best_high), root.magnitude)
