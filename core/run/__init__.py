"""A whole repair run: its settings, its trials (run, recorded, resumed) and its results."""
