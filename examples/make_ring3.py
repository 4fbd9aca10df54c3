"""Generate a ring-like 3-class example: a 2-D classifier of three concentric rings, its data
and a robustness property it violates.

Run from the repository root: ``python examples/make_ring3.py`` (needs PyTorch). It writes,
into examples/ring3/, ``network.onnx`` (a 2-16-3 ReLU network trained here with torch),
``data.npz`` (train, test and sampled splits, the sampled points labelled by the network) and
``robust_violated.vnnlib`` (a box around a point of the middle ring, near the inner ring,
where some inputs get the wrong class). Deterministic: the same files every run (same
machine and PyTorch); the picture of its repair is docs/images/ring3_repair.png.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nnv.core import Dataset, Network, Property
from nnv.core.plugin.registry import default_registry
from nnv.plugins.loaders.vnnlib_write import write_vnnlib

HERE = Path(__file__).resolve().parent / "ring3"
SEED = 3
RADII = (0.5, 1.5, 2.5)  # the rings' centre lines, class 0 innermost
HIDDEN = 16


def make_points(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Points on three noisy concentric rings; the label is the ring's index."""
    y = rng.integers(0, 3, count)
    radius = np.asarray(RADII)[y] + rng.normal(scale=0.2, size=count)
    angle = rng.uniform(0, 2 * np.pi, count)
    X = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return X, y.astype(np.int64)


def train(X: np.ndarray, y: np.ndarray) -> Network:
    """Full-batch Adam on cross-entropy, in float64 on one thread: small and deterministic."""
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 3)
    ).double()
    inputs, labels = torch.from_numpy(X), torch.from_numpy(y)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(1500):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        loss.backward()
        optimiser.step()
    first, last = model[0], model[2]
    return Network(
        [
            (first.weight.detach().numpy(), first.bias.detach().numpy()),
            (last.weight.detach().numpy(), last.bias.detach().numpy()),
        ]
    )


def violated_box(network: Network, rng: np.random.Generator) -> Property:
    """A box of radius 0.1 around a class-1 point near the inner ring's boundary, where some
    inputs get class 0: the network draws that boundary a little too far out there."""
    candidates = rng.uniform(-2, 2, (20000, 2))
    outputs = network.forward(candidates)
    gap = outputs[:, 1] - outputs[:, 0]
    near = (network.predict(candidates) == 1) & (gap > 0.05) & (gap < 0.3)
    chosen = candidates[near][0]
    prop = Property.robustness(chosen, 0.1, label=1, n_outputs=3, name="robust_violated")
    inside = rng.uniform(prop.pieces[0].lower, prop.pieces[0].upper, (20000, 2))
    wrong = np.mean(network.predict(inside) != 1)
    assert 0 < wrong < 0.5, f"the box should be partly misclassified ({wrong:.3f})"
    return prop


def main() -> None:
    rng = np.random.default_rng(SEED)
    X_train, y_train = make_points(rng, 1200)
    X_test, y_test = make_points(rng, 400)
    network = train(X_train, y_train)
    X_sampled = rng.uniform(X_train.min(0), X_train.max(0), (400, 2))
    y_sampled = network.predict(X_sampled)
    HERE.mkdir(parents=True, exist_ok=True)
    default_registry().save_network(network, HERE / "network.onnx")
    splits = {
        "train": (X_train, y_train),
        "test": (X_test, y_test),
        "sampled": (X_sampled, y_sampled),
    }
    Dataset(splits).save_npz(HERE / "data.npz")
    write_vnnlib(violated_box(network, rng), HERE / "robust_violated.vnnlib")
    for split, (X, y) in list(splits.items())[:2]:
        print(f"{split} accuracy {np.mean(network.predict(X) == y):.4f}")


if __name__ == "__main__":
    main()
