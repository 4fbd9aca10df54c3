"""Similarity heuristics for repair."""
