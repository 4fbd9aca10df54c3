"""Built-in plugins: each module is registered through the entry-point group ``nnv``."""
