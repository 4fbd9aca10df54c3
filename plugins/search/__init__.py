"""Search strategies over sets of free parameters."""
