"""Generate nnv's own example: a small XOR classifier, its data and two properties.

Run from the repository root: ``python examples/make_xor.py``. It writes, into examples/xor/,
``network.onnx`` (2-8-2 ReLU network trained here with plain numpy gradient descent),
``data.npz`` (train, test and sampled splits), ``robust_holds.vnnlib`` (a box the network
classifies right everywhere) and ``robust_violated.vnnlib`` (a box straddling its decision
boundary, where some inputs get the wrong class). Deterministic: the same files every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnv.core import Dataset, Network, Property
from nnv.core.plugin.registry import default_registry
from nnv.plugins.loaders.vnnlib_write import write_vnnlib

HERE = Path(__file__).resolve().parent / "xor"
SEED = 7


def make_points(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Four Gaussian blobs at (+-1, +-1); class 1 where the signs differ (XOR)."""
    centers = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=np.float64)
    which = rng.integers(0, 4, count)
    X = centers[which] + rng.normal(scale=0.35, size=(count, 2))
    y = (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(np.int64)
    return X, y


def train(X: np.ndarray, y: np.ndarray, hidden: int, rng: np.random.Generator) -> Network:
    """Full-batch gradient descent on softmax cross-entropy; small and deterministic."""
    W1 = rng.normal(size=(hidden, 2))
    b1 = np.zeros(hidden)
    W2 = rng.normal(size=(2, hidden)) / np.sqrt(hidden)
    b2 = np.zeros(2)
    onehot = np.eye(2)[y]
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
            param -= 0.5 * grad
    return Network([(W1, b1), (W2, b2)])


def main() -> None:
    rng = np.random.default_rng(SEED)
    X_train, y_train = make_points(rng, 800)
    X_test, y_test = make_points(rng, 400)
    network = train(X_train, y_train, hidden=8, rng=rng)
    X_sampled = rng.uniform(X_train.min(0) - 0.5, X_train.max(0) + 0.5, (400, 2))
    y_sampled = network.predict(X_sampled)

    HERE.mkdir(parents=True, exist_ok=True)
    default_registry().save_network(network, HERE / "network.onnx")
    Dataset({
        "train": (X_train, y_train), "test": (X_test, y_test), "sampled": (X_sampled, y_sampled),
    }).save_npz(HERE / "data.npz")

    holds = Property.robustness([1.0, 1.0], 0.3, label=0, n_outputs=2, name="robust_holds")
    # Crosses the network's boundary (near x0 = 0) at its left edge.
    violated = Property.robustness([0.12, 1.0], 0.15, label=0, n_outputs=2, name="robust_violated")
    piece = violated.pieces[0]
    axes = [np.linspace(piece.lower[i], piece.upper[i], 81) for i in range(2)]
    grid = np.stack(np.meshgrid(*axes), -1).reshape(-1, 2)
    wrong = np.mean(network.predict(grid) != 0)
    assert 0 < wrong < 0.5, f"the 'violated' box should be partly misclassified ({wrong:.2f})"
    write_vnnlib(holds, HERE / "robust_holds.vnnlib")
    write_vnnlib(violated, HERE / "robust_violated.vnnlib")
    accuracy = {s: float(np.mean(network.predict(X) == y)) for s, (X, y) in
                {"train": (X_train, y_train), "test": (X_test, y_test)}.items()}
    print(f"wrote {HERE}: accuracy {accuracy}, {wrong:.1%} of the violated box misclassified")


if __name__ == "__main__":
    main()
