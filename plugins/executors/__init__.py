"""Executors: where repair trials run (this machine's cores, or a dask cluster)."""
