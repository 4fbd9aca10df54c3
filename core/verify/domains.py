"""The sub-domains of activation branch and bound, as batched tensors.

A domain is an unsafe disjunct plus splits that fix some hidden ReLUs active (``z >= 0``) or
inactive (``z <= 0``). It keeps its own intermediate bounds: its parent's, clamped at the
split and then tightened by back-substitution through the now exact split neurons. They are
stored in float32, rounded outward (a float32 lower bound is never above the float64 one),
which halves the memory of a large pool and loses nothing that matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch

from nnv.core.bounds.crown import DTYPE, Relaxation, Root
from nnv.core.bounds.crown_optimise import mixed_rows

Tensor = torch.Tensor


def outward(lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor]:
    """float32 copies of float64 bounds, each rounded away from the interval's inside."""
    low, high = lower.float(), upper.float()
    low = torch.where(low.double() > lower, torch.nextafter(low, torch.tensor(-torch.inf)), low)
    high = torch.where(high.double() < upper, torch.nextafter(high, torch.tensor(torch.inf)), high)
    return low, high


def outward_layers(
    lower: Sequence[Tensor], upper: Sequence[Tensor]
) -> tuple[list[Tensor], list[Tensor]]:
    """:func:`outward` for every layer."""
    pairs = [outward(low, high) for low, high in zip(lower, upper, strict=True)]
    return [low for low, _ in pairs], [high for _, high in pairs]


@dataclass
class Domains:
    """Open domains: their disjunct, splits (``+1`` active, ``-1`` inactive, ``0`` free, int8
    ``(batch, n_j)`` per hidden layer), intermediate bounds ``(batch, n_j)``, alphas and betas
    ``(batch, m, n_j)`` (float32: only a warm start, any value is valid after clamping), the
    rows' lower bounds ``(batch, rows)`` and the depth. With ``m >= 2`` rows per disjunct,
    a last row mixes them (:func:`~nnv.core.bounds.crown_optimise.mixed_rows`) with weights
    of its own."""

    disjunct: Tensor
    splits: list[Tensor]
    lower: list[Tensor]
    upper: list[Tensor]
    alphas: list[Tensor]
    betas: list[Tensor]
    bound: Tensor
    depth: Tensor
    mix: Tensor  # (batch, m): the logits of the mixed row's weights; (batch, 0) for no mix

    def __len__(self) -> int:
        return int(self.disjunct.shape[0])

    @classmethod
    def roots(cls, root: Root, count: int, m: int) -> Domains:
        """One domain per disjunct over the whole box, ``m`` rows each (and a mixed one when
        ``m >= 2``), no splits yet."""
        mixes = m if m >= 2 else 0
        rows = m + (mixes > 0)
        lower, upper = outward_layers(root.lower, root.upper)
        relaxations = [
            Relaxation.of(low[None, :], high[None, :])
            for low, high in zip(root.lower, root.upper, strict=True)
        ]
        return cls(
            torch.arange(count),
            [torch.zeros((count, low.numel()), dtype=torch.int8) for low in root.lower],
            [low.expand(count, -1) for low in lower],
            [high.expand(count, -1) for high in upper],
            [relax.adaptive.expand(count, rows, -1).float() for relax in relaxations],
            [torch.zeros((count, rows, low.numel())) for low in root.lower],
            torch.full((count, rows), -torch.inf, dtype=DTYPE),
            torch.zeros(count, dtype=torch.int64),
            torch.zeros((count, mixes)),
        )

    def rows(self, C: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
        """Every domain's rows, mixed row included, from every disjunct's ``C``, ``d``."""
        return mixed_rows(
            C[self.disjunct], d[self.disjunct], self.mix if self.mix.shape[1] else None
        )

    @property
    def objective(self) -> Tensor:
        """Per domain, a lower bound of its disjunct's worst-placed row: closed when > 0."""
        return self.bound.max(dim=1).values

    def relaxations(self) -> list[Relaxation]:
        return [
            Relaxation.of(low.to(DTYPE), high.to(DTYPE), split)
            for low, high, split in zip(self.lower, self.upper, self.splits, strict=True)
        ]

    def free(self) -> Tensor:
        """How many hidden ReLUs of each domain are unstable and not split."""
        return sum(
            (
                ((low < 0) & (high > 0)).sum(dim=1)
                for low, high in zip(self.lower, self.upper, strict=True)
            ),
            torch.zeros(len(self), dtype=torch.int64),
        )

    def take(self, index: Any) -> Domains:
        parts: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            parts[item.name] = (
                [layer[index] for layer in value] if isinstance(value, list) else value[index]
            )
        return Domains(**parts)

    @staticmethod
    def concatenate(groups: Sequence[Domains]) -> Domains:
        parts: dict[str, Any] = {}
        for item in fields(Domains):
            values = [getattr(group, item.name) for group in groups]
            parts[item.name] = (
                [torch.cat(layer) for layer in zip(*values, strict=True)]
                if isinstance(values[0], list)
                else torch.cat(values)
            )
        return Domains(**parts)


def locate(root: Root, flat: Tensor) -> tuple[Tensor, Tensor]:
    """(layer, neuron) of flat neuron indices (hidden layers one after the other)."""
    widths = torch.tensor([low.numel() for low in root.lower])
    ends = torch.cumsum(widths, 0)
    layer = torch.searchsorted(ends, flat, right=True)
    return layer, flat - (ends - widths)[layer]


def split(root: Root, domains: Domains, flat: Tensor, value: Tensor, beta: Tensor) -> Domains:
    """Children: domain ``i`` with neuron ``flat[i]`` split ``value[i]`` (``+1`` active: its
    lower bound clamped at 0; ``-1`` inactive: its upper bound), that split's beta set to
    ``beta[i]`` ``(m,)``, and one level deeper."""
    layer, neuron = locate(root, flat)
    everyone = torch.arange(len(domains))
    splits, lowers, uppers, betas = [], [], [], []
    for index in range(len(domains.splits)):
        mine = layer == index
        rows, column = everyone[mine], neuron[mine]
        chosen = value[mine]
        split_, low, high, beta_ = (
            part[index].clone()
            for part in (domains.splits, domains.lower, domains.upper, domains.betas)
        )
        split_[rows, column] = chosen
        low[rows, column] = torch.where(
            chosen > 0, low[rows, column].clamp(min=0.0), low[rows, column]
        )
        high[rows, column] = torch.where(
            chosen < 0, high[rows, column].clamp(max=0.0), high[rows, column]
        )
        beta_[rows, :, column] = beta[mine].to(beta_.dtype)
        splits.append(split_)
        lowers.append(low)
        uppers.append(high)
        betas.append(beta_)
    return Domains(
        domains.disjunct,
        splits,
        lowers,
        uppers,
        domains.alphas,
        betas,
        domains.bound,
        domains.depth + 1,
        domains.mix,
    )
