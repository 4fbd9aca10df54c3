"""Objectives of repair synthesis (see :mod:`nnv.core.plugin.objective`)."""
