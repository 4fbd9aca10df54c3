"""Synthesis of free-parameter values over the counterexamples found so far: one
:class:`~.base.Synthesiser` protocol answering each round with a typed :class:`~.base.Proposal`.

Exact without a solver where it can be: the line analysis for one parameter (:mod:`.line`),
the pair search for two (:mod:`.pair`); otherwise a solver's MILP or QF_NRA (:mod:`.solver`),
or the MILP falling back to the pair search when it runs out of time (:mod:`.fallback`)."""
