"""Projected gradient descent with random restarts on the unsafe margin, batched in torch.

Per unsafe disjunct ``C y <= d``, many starting points in the box (the centre, random corners
and uniform points: in wide boxes the violations are often near corners, where steps that
start inside get stuck) take signed gradient steps that lower the sum of the disjunct's
positive slacks, each projected back onto the box, with a step that shrinks from a quarter
of the box's width. All disjuncts and restarts go through the network as one batch. The hits
are only candidates: the caller replays each in float64 before it may be called a
counterexample.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from nnv.core.bounds.crown import DTYPE, TorchNetwork


def pgd_attack(
    net: TorchNetwork,
    lower: np.ndarray,
    upper: np.ndarray,
    rows: tuple[torch.Tensor, torch.Tensor],
    restarts: int,
    steps: int,
    seed: int = 0,
    deadline: float | None = None,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """Points of the box whose outputs meet some disjunct (``rows``: ``(k, m, n_out)`` and
    ``(k, m)``, as :func:`~nnv.core.bounds.crown.stacked_rows` gives), ``(hits, n_in)``, maybe none.

    ``starts`` (``(s, n_in)``) are tried for every disjunct besides the centre and the
    uniform restarts.
    """
    C, d = rows
    generator = torch.Generator().manual_seed(seed)
    low = torch.tensor(lower, dtype=DTYPE)
    high = torch.tensor(upper, dtype=DTYPE)
    k = C.shape[0]
    shape = (restarts, k, low.numel())
    uniform = low + torch.rand(shape, generator=generator, dtype=DTYPE) * (high - low)
    corner = torch.where(torch.rand(shape, generator=generator) < 0.5, low, high)
    vertex = torch.arange(restarts)[:, None, None] % 2 == 0  # every other start: a random corner
    points = [((low + high) / 2).expand(1, k, -1), torch.where(vertex, corner, uniform)]
    if starts is not None and len(starts):
        given = torch.tensor(np.clip(starts, lower, upper), dtype=DTYPE)
        points.append(given[:, None, :].expand(-1, k, -1))
    x = torch.cat(points).clone()
    width = high - low
    for step in range(steps + 1):
        x.requires_grad_(True)
        slack = torch.einsum("rko,kmo->rkm", net.forward(x), C) - d
        hits = (slack <= 0).all(dim=-1)
        if bool(hits.any()) or step == steps:
            return x.detach()[hits].numpy()
        if deadline is not None and time.perf_counter() > deadline:
            return np.zeros((0, low.numel()))
        loss = slack.clamp(min=0.0).sum()
        (gradient,) = torch.autograd.grad(loss, x)
        size = width * (0.25 * (1 + math.cos(math.pi * step / steps)) / 2 + 0.005)
        with torch.no_grad():
            x = torch.minimum(torch.maximum(x - size * gradient.sign(), low), high)
    return np.zeros((0, low.numel()))
