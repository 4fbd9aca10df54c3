"""Repair methods: the paper's solver-based search, and the retraining baseline."""
