"""PyTorch ``nn.Sequential`` models to and from :class:`Network`, in memory only: the one place
nnv converts between the two (the retrain method fine-tunes through it, users bring their
trained models through it).

The conversion is float64 both ways, so the weights go across bit for bit and a trained
network is the very one then verified. There is deliberately no file loader: PyTorch files
are pickles, and nnv never unpickles a user's file. Train in PyTorch, convert here, and save
as ONNX or JSON. PyTorch is optional (``pip install 'nnv[torch]'``), so it is imported only when
a function here is called, and core imports without it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from nnv.core.errors import InputError, UnsupportedError
from nnv.core.model.network import Network


def _torch() -> ModuleType:
    try:
        import torch
    except ImportError:
        raise InputError("PyTorch is not installed: pip install 'nnv[torch]'") from None
    return torch


def _linear_layer(module: Any) -> tuple[np.ndarray, np.ndarray]:
    weight = module.weight.detach().cpu().double().numpy()
    bias = module.bias
    return weight, (
        np.zeros(weight.shape[0]) if bias is None else bias.detach().cpu().double().numpy()
    )


def from_sequential(module: Any) -> Network:
    """The network an ``nn.Sequential`` of Linear, ReLU and Flatten computes.

    A ReLU must follow every Linear but the last; a model that ends with a ReLU gets an
    identity last layer (nnv's last layer is linear). Anything else is refused by type name.
    """
    nn = _torch().nn
    if not isinstance(module, nn.Sequential):
        raise InputError(f"expected a torch.nn.Sequential, got {type(module).__name__}")
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    awaiting_relu = False  # the last Linear has not been followed by its ReLU yet
    for index, child in enumerate(module):
        if isinstance(child, nn.Linear):
            if awaiting_relu:
                raise UnsupportedError(f"layer {index} (Linear) follows a Linear without a ReLU")
            layers.append(_linear_layer(child))
            awaiting_relu = True
        elif isinstance(child, nn.ReLU):
            if not awaiting_relu:
                raise UnsupportedError(f"layer {index} (ReLU) does not follow a Linear layer")
            awaiting_relu = False
        elif not isinstance(child, nn.Flatten):
            raise UnsupportedError(
                f"layer {index}: unsupported PyTorch layer {type(child).__name__} "
                "(only Linear, ReLU and Flatten)"
            )
    if not layers:
        raise InputError("the model has no Linear layer")
    if not awaiting_relu:
        size = layers[-1][0].shape[0]
        layers.append((np.eye(size), np.zeros(size)))
    return Network(layers)


def to_sequential(network: Network) -> Any:
    """An ``nn.Sequential`` of float64 Linear and ReLU layers computing ``network``."""
    torch = _torch()
    network = network.as_dense("a torch nn.Linear model")
    modules = []
    for index, layer in enumerate(network.layers):
        linear = torch.nn.Linear(layer.n_in, layer.n_out, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(layer.weight.copy()))
            linear.bias.copy_(torch.from_numpy(layer.bias.copy()))
        modules.append(linear)
        if index < len(network.layers) - 1:
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)
