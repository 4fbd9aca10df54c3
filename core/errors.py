"""Errors a user can cause. The CLI turns each into one line on stderr and exit code 2."""


class NnvError(Exception):
    """Base class of every error that is the user's input, not a bug in nnv."""


class InputError(NnvError):
    """A file or value handed to nnv is missing, malformed or inconsistent."""


class UnsupportedError(InputError):
    """The input is well-formed but uses something nnv does not support (an ONNX operator, say)."""


class PluginError(NnvError):
    """A plugin name is unknown, or two plugins claim the same name."""


class CapabilityError(NnvError):
    """The chosen solver cannot take the formulation the task needs."""
