"""Generate a 4-input example: a 4-12-3 ReLU classifier (12 hidden ReLUs), 1800 training
points and a robustness property it violates.

Run from the repository root: ``python examples/make_four_input.py``. It writes, into
examples/four_input/, ``network.onnx``, ``data.npz`` (1800 train, 600 test and 600 sampled
points, the sampled ones labelled by the network) and ``robust_violated.vnnlib`` (a box around
a point near the boundary between classes 0 and 1, where some inputs get the wrong class).
Deterministic: the same files every run. It is the size of network on which first-layer pair
trials used to take minutes each, so the repair benchmarks use it for searches and timeouts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnv.core import Dataset, Network, Property
from nnv.core.plugin.registry import default_registry
from nnv.plugins.loaders.vnnlib_format import write_vnnlib

HERE = Path(__file__).resolve().parent / "four_input"
SEED = 11
CENTERS = np.array([[1, 1, 0, 0], [-1, 0, 1, 0], [0, -1, -1, 1]], dtype=np.float64)


def make_points(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Three overlapping Gaussian clouds in 4-D, one per class."""
    y = rng.integers(0, 3, count)
    X = CENTERS[y] + rng.normal(scale=0.6, size=(count, 4))
    return X, y.astype(np.int64)


def train(X: np.ndarray, y: np.ndarray, hidden: int, rng: np.random.Generator) -> Network:
    """Full-batch gradient descent on softmax cross-entropy; small and deterministic."""
    W1 = rng.normal(size=(hidden, 4)) / 2
    b1 = np.zeros(hidden)
    W2 = rng.normal(size=(3, hidden)) / np.sqrt(hidden)
    b2 = np.zeros(3)
    onehot = np.eye(3)[y]
    for _ in range(3000):
        z = X @ W1.T + b1
        a = np.maximum(z, 0)
        logits = a @ W2.T + b2
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / X.shape[0]
        gW2, gb2 = g.T @ a, g.sum(0)
        ga = (g @ W2) * (z > 0)
        gW1, gb1 = ga.T @ X, ga.sum(0)
        for param, grad in ((W1, gW1), (b1, gb1), (W2, gW2), (b2, gb2)):
            param -= 0.3 * grad
    return Network([(W1, b1), (W2, b2)])


def violated_box(network: Network, rng: np.random.Generator) -> Property:
    """A box of radius 0.1 around a point of class 0 near class 1, partly misclassified."""
    candidates = rng.uniform(-1.5, 1.5, (20000, 4))
    outputs = network.forward(candidates)
    gap = outputs[:, 0] - outputs[:, 1]
    chosen = candidates[(network.predict(candidates) == 0) & (gap > 0.02) & (gap < 0.08)][0]
    prop = Property.robustness(chosen, 0.1, label=0, n_outputs=3, name="robust_violated")
    inside = rng.uniform(prop.pieces[0].lower, prop.pieces[0].upper, (20000, 4))
    wrong = np.mean(network.predict(inside) != 0)
    assert 0 < wrong < 0.5, f"the box should be partly misclassified ({wrong:.3f})"
    return prop


def main() -> None:
    rng = np.random.default_rng(SEED)
    X_train, y_train = make_points(rng, 1800)
    X_test, y_test = make_points(rng, 600)
    network = train(X_train, y_train, hidden=12, rng=rng)
    X_sampled = rng.uniform(X_train.min(0), X_train.max(0), (600, 4))
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
