"""Verification: falsification, branch and bound, the exact solve, and certification."""
