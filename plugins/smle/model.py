"""The SMLE network: ``f(x) = g(clip(h(x), l(x), u(x)))`` on the region, ``g0(h(x))`` off it.

- ``h``: a ReLU backbone whose last layer is ReLU too (inputs standardised first when the data
  asks for it);
- ``l, u``: the box, constant ``[0, 1]^k`` ("unit") or ``[-1, 1]^k`` ("constant", the
  paper's), or linear maps of x (zero weights, biases -1 and +1 at the start, trained with
  the rest);
- ``g``: the linear head the property constrains; ``g0``: a free linear head for the inputs
  outside the property's region (absent when the region is every input).

With a *level* (an input column ``c``, forecasting's last input) the backbone sees
``x - x[c]`` (every input minus the level, then standardised) and ``x[c]`` is added to every
output, after the region switch: ``f(x) = g(clip(h(x - x[c]), l(x), u(x))) + x[c] 1``. This is
only sound for a property with ``A 1 = 0`` (every row summing to zero), where
``A (g(y) + c 1) = A g(y)``: the head, the box and the counterexample search are unchanged
(:func:`check_level` refuses anything else).

Everything is float64 so that the exported ONNX model computes the same numbers as the
model that was projected and verified.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from nnv.core import InputError

from .embedding import Box
from .grounding import Head
from .spec import LinearInequalities, Region, Spec, shift_invariant

DTYPE = torch.float64


class SmleNet(nn.Module):
    """See the module docstring; ``box`` is ``"linear"``, ``"constant"`` or ``"unit"``."""

    shift: torch.Tensor
    scale: torch.Tensor
    region_A: torch.Tensor
    region_b: torch.Tensor

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        widths: Sequence[int],
        box: str = "linear",
        region: Region | None = None,
        shift: np.ndarray | None = None,
        scale: np.ndarray | None = None,
        level: int | None = None,
    ) -> None:
        super().__init__()
        self.level = level_column(level, n_inputs)
        self.backbone = nn.Sequential(*relu_layers(n_inputs, widths))
        size = widths[-1]
        self.box_kind = box
        bound = _LinearBound if box == "linear" else _ConstantBound
        # the backbone's last ReLU keeps h >= 0, so a "unit" box [0, 1]^k loses nothing
        # that [-1, 1]^k keeps, and gives the verifier a quarter of the volume per pair
        floor = 0.0 if box == "unit" else -1.0
        self.lower: _LinearBound | _ConstantBound = bound(n_inputs, size, floor)
        self.upper: _LinearBound | _ConstantBound = bound(n_inputs, size, 1.0)
        self.head = nn.Linear(size, n_outputs, dtype=DTYPE)
        self.outside = None if region is None else nn.Linear(size, n_outputs, dtype=DTYPE)
        self.region = region
        self.register_buffer("shift", _tensor(np.zeros(n_inputs) if shift is None else shift))
        self.register_buffer("scale", _tensor(np.ones(n_inputs) if scale is None else scale))
        self.register_buffer(
            "region_A", _tensor(np.zeros((0, n_inputs)) if region is None else region.A)
        )
        self.register_buffer("region_b", _tensor(np.zeros(0) if region is None else region.b))

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone's output ``h(x)`` (of ``x - x[level]`` with a level) and the clipped
        embedding ``y``."""
        hidden = self.backbone((delevel(x, self.level) - self.shift) * self.scale)
        clipped = torch.maximum(torch.minimum(hidden, self.upper(x)), self.lower(x))
        return hidden, clipped

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, clipped = self.embed(x)
        output = self.head(clipped)
        if self.outside is not None:
            in_region = torch.all(x @ self.region_A.T - self.region_b <= 0.0, dim=1, keepdim=True)
            output = torch.where(in_region, output, self.outside(hidden))
        return output if self.level is None else output + x[:, self.level : self.level + 1]

    # -- the parts the solvers see ----------------------------------------------------------

    def head_value(self) -> Head:
        return Head(_numpy(self.head.weight), _numpy(self.head.bias))

    def set_head(self, head: Head) -> None:
        with torch.no_grad():
            self.head.weight.copy_(_tensor(head.W))
            self.head.bias.copy_(_tensor(head.w))

    def box_value(self) -> Box:
        return Box(
            _numpy(self.lower.weight),
            _numpy(self.lower.bias),
            _numpy(self.upper.weight),
            _numpy(self.upper.bias),
        )

    def predict(self, X: np.ndarray, batch: int = 65536) -> np.ndarray:
        """Outputs for the rows of ``X`` (logits for multi-label data)."""
        with torch.no_grad():
            parts = [self(_tensor(X[i : i + batch])) for i in range(0, X.shape[0], batch)]
        return np.concatenate([_numpy(part) for part in parts]) if parts else np.zeros((0, 0))


class _LinearBound(nn.Linear):
    """A trainable bound ``M x + c``, starting constant (``M = 0``)."""

    def __init__(self, n_inputs: int, size: int, value: float) -> None:
        super().__init__(n_inputs, size, dtype=DTYPE)
        with torch.no_grad():
            self.weight.zero_()
            self.bias.fill_(value)


class _ConstantBound(nn.Module):
    """A fixed bound; ``weight`` (zeros) and ``bias`` are buffers, never trained."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, n_inputs: int, size: int, value: float) -> None:
        super().__init__()
        self.register_buffer("weight", torch.zeros(size, n_inputs, dtype=DTYPE))
        self.register_buffer("bias", torch.full((size,), value, dtype=DTYPE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], -1)


def relu_layers(n_inputs: int, widths: Sequence[int]) -> list[nn.Module]:
    """``Linear`` + ``ReLU`` for each width: the backbone, and the plain baselines' hidden
    layers."""
    layers: list[nn.Module] = []
    previous = n_inputs
    for width in widths:
        layers += [nn.Linear(previous, width, dtype=DTYPE), nn.ReLU()]
        previous = width
    return layers


def standardisation(X: np.ndarray, level: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(shift, scale)`` that standardise what the layers see: ``X``, or ``X`` minus its
    level column; a constant column keeps scale 1."""
    seen = X if level is None else X - X[:, level : level + 1]
    std = seen.std(axis=0)
    return seen.mean(axis=0), 1.0 / np.where(std > 0, std, 1.0)


def training_loss(spec: Spec) -> nn.Module:
    """MSE for regression targets, binary cross-entropy on the logits for labels."""
    return nn.MSELoss() if isinstance(spec, LinearInequalities) else nn.BCEWithLogitsLoss()


def delevel(x: torch.Tensor, level: int | None) -> torch.Tensor:
    """``x`` minus its column ``level`` (every column, that one too); ``x`` when None."""
    return x if level is None else x - x[:, level : level + 1]


def check_level(spec: Spec, level: int | None, n_inputs: int) -> None:
    """Refuse a level that is not an input column, or for a property that adding the same
    value to every output can change: one that is not linear inequalities whose rows all sum
    to exactly zero."""
    level_column(level, n_inputs)
    if level is not None and not shift_invariant(spec):
        raise InputError(
            f"{spec.name}: the level shift needs a property that is invariant to shifting "
            "every output (linear inequalities whose rows of A each sum to zero); train "
            "without it (--no-level)"
        )


def level_column(level: int | None, n_inputs: int) -> int | None:
    """``level`` checked to be an input column (or None)."""
    if level is None:
        return None
    if not 0 <= level < n_inputs:
        raise InputError(f"the level must be an input column (0 to {n_inputs - 1}), not {level}")
    return int(level)


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float64, copy=True)
