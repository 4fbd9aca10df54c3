"""How nnv runs things: trials in child processes, atomic files, BLAS threads."""
