"""Synthesis of free-parameter values over fixed points, without a solver where it can be
exact: the line analysis for one parameter (:mod:`.line`), the pair search for two
(:mod:`.pair`)."""
