"""The solver-neutral constraint form (:mod:`.form`), how to build one (:mod:`.builder`) and
the reductions that fit it to a solver (:mod:`.reductions`)."""
