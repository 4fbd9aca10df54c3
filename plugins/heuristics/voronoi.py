"""The Voronoi heuristic: every cell of a Voronoi tessellation keeps its seed's class.

Like Grid it constrains regions rather than points, but its cells follow the data: ``points``
seeds are drawn from a split (or uniformly from the data's bounding box) and each seed's cell,
clipped to that box, must keep the original network's class at the seed. A cell is exactly
the box intersected with the perpendicular-bisector half-spaces ``A x <= b`` towards the
seed's Voronoi neighbours (its Delaunay neighbours); its piece's ``lower``/``upper`` are the
cell's own bounding box. The seed's class is the network's decision under ``decision``.
"""

from __future__ import annotations

import numpy as np

from nnv.core import Dataset, InputError, InputPiece, Network, hookimpl
from nnv.core.model.decision import check_decision
from nnv.core.plugin.heuristic import Heuristic, SoftConstraints

from ._options import integer_option, margin_option

UNIFORM = "uniform"
# A cell narrower than this fraction of the box (in a dimension the box spans) is a sliver
# between near-duplicate seeds: numerically fragile and worth nothing as a constraint.
TINY = 1e-9


def neighbour_pairs(seeds: np.ndarray) -> np.ndarray:
    """``(i, j)`` rows, both ways round, for seeds whose Voronoi cells may share a face.

    Voronoi neighbours are exactly the edges of the Delaunay triangulation. Not
    ``Voronoi.ridge_points``: Qhull leaves some unbounded ridges out in 3-D and up (its ``Fv``
    caveat, scipy issue #3989), and a missing neighbour makes a cell too big. When Qhull cannot
    triangulate (too few seeds, all on one hyperplane, d = 1) or leaves a seed out, every pair:
    more rows, but the cells are still exact.
    """
    # imported here: scipy.spatial and scipy.optimize cost a third of a second, and every
    # command (`nnv verify` above all) loads this plugin through the registry
    from scipy.spatial import Delaunay, QhullError

    n, d = seeds.shape
    if d >= 2 and n >= d + 1:
        try:
            triangulation = Delaunay(seeds)
        except QhullError:
            triangulation = None
        if triangulation is not None and triangulation.coplanar.size == 0:
            first, second = np.triu_indices(d + 1, k=1)
            simplices = triangulation.simplices
            edges = np.sort(np.stack([simplices[:, first], simplices[:, second]], -1), axis=-1)
            edges = np.unique(edges.reshape(-1, 2), axis=0)
            if np.unique(edges).size == n:
                return np.concatenate([edges, edges[:, ::-1]])
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    return np.column_stack([i, j])


def bisectors(seeds: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows ``a x <= b``: the side of the bisector of ``(i, j)`` that holds seed i."""
    own, other = seeds[pairs[:, 0]], seeds[pairs[:, 1]]
    A = other - own
    b = np.einsum("kd,kd->k", A, (own + other) / 2)
    norms = np.linalg.norm(A, axis=1)
    return A / norms[:, None], b / norms


def clip_polygon(polygon: np.ndarray, a: np.ndarray, b: float) -> np.ndarray:
    """Sutherland-Hodgman: the convex ``polygon`` (vertices in order) cut by ``a x <= b``."""
    slack = polygon @ a - b
    following, slack_following = np.roll(polygon, -1, axis=0), np.roll(slack, -1)
    inside = slack <= 0
    crossing = inside != (slack_following <= 0)
    t = np.where(crossing, slack / np.where(crossing, slack - slack_following, 1.0), 0.0)
    cuts = polygon + t[:, None] * (following - polygon)
    candidates = np.stack([polygon, cuts], axis=1).reshape(-1, 2)
    return candidates[np.stack([inside, crossing], axis=1).reshape(-1)]


def polygon_bounds(
    A: np.ndarray, b: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """A 2-D cell's bounding box from its clipped polygon; None when nothing is left."""
    polygon = np.array([[low[0], low[1]], [high[0], low[1]], [high[0], high[1]], [low[0], high[1]]])
    for a, offset in zip(A, b, strict=True):
        polygon = clip_polygon(polygon, a, offset)
        if polygon.shape[0] == 0:
            return None
    return polygon.min(axis=0), polygon.max(axis=0)


def lp_bounds(
    A: np.ndarray, b: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """A cell's bounding box by linear programming (2 d LPs); None when an LP fails."""
    from scipy.optimize import linprog  # imported here, like Delaunay above

    d = low.shape[0]
    box = list(zip(low, high, strict=True))
    extremes = np.empty((2, d))
    for k in range(d):
        for side, sign in enumerate((1.0, -1.0)):
            cost = np.zeros(d)
            cost[k] = sign
            result = linprog(
                cost,
                A_ub=A if A.size else None,
                b_ub=b if b.size else None,
                bounds=box,
                method="highs",
            )
            if result.status != 0:
                return None
            extremes[side, k] = result.x[k]
    return extremes[0], extremes[1]


def cell_piece(
    A: np.ndarray, b: np.ndarray, low: np.ndarray, high: np.ndarray
) -> InputPiece | None:
    """The cell as a piece: its own bounding box and the rows that still cut it; None if tiny."""
    bounds = polygon_bounds(A, b, low, high) if low.shape[0] == 2 else lp_bounds(A, b, low, high)
    if bounds is None:
        return None
    lower, upper = np.clip(bounds[0], low, high), np.clip(bounds[1], low, high)
    spans = high - low
    if np.any((spans > 0) & (upper - lower <= TINY * spans)):
        return None
    # A row whose half-space holds the cell's whole bounding box cuts nothing: leave it out.
    reach = np.where(A > 0, A * upper, A * lower).sum(axis=1)
    cutting = reach > b
    if not cutting.any():
        return InputPiece(lower, upper)
    return InputPiece(lower, upper, A[cutting], b[cutting])


class VoronoiHeuristic(Heuristic):
    """Each Voronoi cell of ``points`` seeds, clipped to the data's box, keeps its seed's class."""

    name = "voronoi"
    description = (
        "Voronoi cells of sampled points (linear pieces), labelled by the original network"
    )

    def __init__(
        self,
        points: int = 50,
        split: str = "sampled",
        seed: int = 0,
        margin: float = 0.0,
        decision: str = "argmax",
    ) -> None:
        self.points = integer_option("voronoi", "points", points, 1)
        self.split = str(split)
        self.seed = integer_option("voronoi", "seed", seed, 0)
        self.margin = margin_option("voronoi", margin)
        self.decision = check_decision(decision, "voronoi: decision")
        super().__init__(
            points=self.points,
            split=self.split,
            seed=self.seed,
            margin=self.margin,
            decision=self.decision,
        )

    def constraints(self, network: Network, data: Dataset) -> SoftConstraints:
        low, high = data.bounding_box(self.margin)
        seeds = self.seeds(data, low, high)
        pairs = neighbour_pairs(seeds)
        A, b = bisectors(seeds, pairs)
        owner = pairs[:, 0]
        order = np.argsort(owner, kind="stable")
        starts = np.searchsorted(owner[order], np.arange(seeds.shape[0] + 1))
        regions, kept = [], []
        for i in range(seeds.shape[0]):
            rows = order[starts[i] : starts[i + 1]]
            piece = cell_piece(A[rows], b[rows], low, high)
            if piece is not None:
                regions.append(piece)
                kept.append(i)
        chosen = seeds[np.asarray(kept, dtype=np.int64)]
        labels = network.predict(chosen, self.decision).astype(np.int64)
        empty = np.zeros((0, seeds.shape[1]))
        return SoftConstraints(empty, np.zeros(0, dtype=np.int64), tuple(regions), labels)

    def seeds(self, data: Dataset, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """The distinct seed points, in the order they were drawn."""
        rng = np.random.default_rng(self.seed)
        if self.split == UNIFORM:
            drawn = rng.uniform(low, high, (self.points, low.shape[0]))
        else:
            X = self._split_inputs(data)
            if self.points > X.shape[0]:
                raise InputError(
                    f"voronoi: points={self.points}, but the split has {X.shape[0]} samples"
                )
            drawn = X[np.sort(rng.choice(X.shape[0], size=self.points, replace=False))]
        _, first = np.unique(drawn, axis=0, return_index=True)
        return drawn[np.sort(first)]

    def _split_inputs(self, data: Dataset) -> np.ndarray:
        """The chosen split's inputs; the default "sampled" falls back to "train"."""
        if self.split in data.splits:
            return data.splits[self.split][0]
        if self.split == "sampled" and "train" in data.splits:
            return data.splits["train"][0]
        known = ", ".join(sorted(data.splits))
        raise InputError(
            f"voronoi: the data has no split {self.split!r} (it has: {known}; or use 'uniform')"
        )


@hookimpl
def nnv_heuristics() -> dict[str, type]:
    return {"voronoi": VoronoiHeuristic}
