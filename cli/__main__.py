"""``python -m nnv.cli``: the ``nnv`` command (how a batch runs each instance)."""

from nnv.cli.main import main

main()
