"""Solver back-ends."""
