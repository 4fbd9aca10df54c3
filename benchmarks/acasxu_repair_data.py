"""Inputs for an ACAS Xu repair: data sampled from property 8's region, labelled by N2,9, and
the part of the region around N2,9's worst violation as a property of its own.

    python benchmarks/acasxu_repair_data.py --out runs/acasxu_2_9_p8
    nnv run --network ../shared/benchmarks/acasxu/ACASXU_run2a_2_9_batch_2000.onnx \
        --property runs/acasxu_2_9_p8/prop_8_near.vnnlib --data runs/acasxu_2_9_p8/data.npz \
        --decision argmin --free b7.4 --out runs/acasxu_2_9_p8

ACAS Xu comes with no data, so a repair's soft constraints come from here: ``train`` and
``test`` are uniform samples of the property's region (its first box), each labelled with the
advisory the network gives it (``--decision argmin``: the smallest output). Points the
property forbids (N2,9 advises strong left on a few of property 8's inputs) are left out:
they have no label to keep, the repair must change them.

Why a part of the region: a repaired N2,9 must be proved safe on the whole region, and no
verifier here proves property 8 on it in minutes (with output 3 raised by 0.01 or 0.05, 10
or 50 times its worst violation: input branch and bound timed out after 120 s on both,
activation branch and bound and the MILP after 60 s on the first), while the box
``prop_8_near.vnnlib`` (property 8's outputs on the box around the worst violation found,
``NEAR`` of the region's width on each side, clipped to the region) is proved in about a
second. The data is made here, not kept in the repository; the same seed gives the same files.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from nnv.core import Dataset, InputPiece, Network, Property
from nnv.core.plugin.registry import default_registry
from nnv.plugins.loaders.vnnlib_write import write_vnnlib

ACASXU = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "acasxu"
NEAR = np.array([0.1, 0.1, 0.05, 0.05, 0.05])  # the box's half-width, of the region's width


def labelled_points(
    network: Network, prop: Property, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int]:
    """``count`` uniform points of the region: those the property allows, their labels, and
    how many it forbids."""
    piece = prop.pieces[0]
    X = rng.uniform(piece.lower, piece.upper, (count, piece.lower.size))
    outputs = network.forward(X)
    allowed = ~prop.is_unsafe(outputs)
    return X[allowed], np.argmin(outputs[allowed], axis=1).astype(np.int64), int(np.sum(~allowed))


def violation(network: Network, prop: Property, X: np.ndarray) -> np.ndarray:
    """How far inside the unsafe set each output is: the largest, over the unsafe disjuncts
    ``C y <= d``, of the smallest slack ``d - C y`` (> 0: the property is violated)."""
    outputs = network.forward(X)
    slacks = [np.min(c.d - outputs @ c.C.T, axis=1) for c in prop.unsafe_outputs]
    return np.max(slacks, axis=0)


def worst_violation(network: Network, prop: Property, rng: np.random.Generator) -> np.ndarray:
    """The most violating input among random samples of the region, refined by sampling
    ever closer around it."""
    piece = prop.pieces[0]
    width = piece.upper - piece.lower

    best = rng.uniform(piece.lower, piece.upper, (200000, width.size))
    best = best[np.argmax(violation(network, prop, best))]
    for scale in (0.05, 0.02, 0.005, 0.001):
        near = best + rng.normal(scale=scale, size=(50000, width.size)) * width
        near = np.vstack([best, np.clip(near, piece.lower, piece.upper)])
        best = near[np.argmax(violation(network, prop, near))]
    return best


def near_box(prop: Property, centre: np.ndarray) -> Property:
    """The property's outputs on the box of ``NEAR`` widths around ``centre``, in its region."""
    piece = prop.pieces[0]
    half = NEAR * (piece.upper - piece.lower)
    lower = np.maximum(piece.lower, centre - half)
    upper = np.minimum(piece.upper, centre + half)
    return dataclasses.replace(prop, pieces=[InputPiece(lower, upper)], name="prop_8_near")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", type=Path, default=ACASXU / "ACASXU_run2a_2_9_batch_2000.onnx")
    parser.add_argument("--property", type=Path, default=ACASXU / "prop_8.vnnlib")
    parser.add_argument("--train", type=int, default=2000, help="train points sampled")
    parser.add_argument("--test", type=int, default=1000, help="test points sampled")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for the two files")
    args = parser.parse_args()
    registry = default_registry()
    network = registry.load_network(args.network)
    prop = registry.load_property(args.property)
    rng = np.random.default_rng(args.seed)
    splits, forbidden = {}, 0
    for split, count in (("train", args.train), ("test", args.test)):
        X, y, dropped = labelled_points(network, prop, count, rng)
        splits[split] = (X, y)
        forbidden += dropped
    centre = worst_violation(network, prop, rng)
    args.out.mkdir(parents=True, exist_ok=True)
    Dataset(splits).save_npz(args.out / "data.npz")
    write_vnnlib(near_box(prop, centre), args.out / "prop_8_near.vnnlib")
    sizes = ", ".join(f"{split} {X.shape[0]}" for split, (X, _) in splits.items())
    worst = float(violation(network, prop, centre[None, :])[0])
    print(f"wrote {args.out}/data.npz: {sizes} ({forbidden} points the property forbids left out)")
    print(f"wrote {args.out}/prop_8_near.vnnlib: worst violation {worst:.6f} at {centre.round(5)}")


if __name__ == "__main__":
    main()
