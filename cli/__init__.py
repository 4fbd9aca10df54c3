"""The ``nnv`` command line."""
