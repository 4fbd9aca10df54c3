"""Bounds on a network's values over input boxes: symbolic (one box) and batched (many)."""
