"""nnv's core: models, the constraint form, interfaces, hook specs and engines.

Imports no solver library; plugins meet the engines only through the interfaces here.
"""

from .dataset import Dataset
from .errors import CapabilityError, InputError, NnvError, PluginError, UnsupportedError
from .formats import NetworkLoader, NetworkSaver, PropertyLoader
from .hookspecs import hookimpl, hookspec
from .network import Layer, Network, ParameterAddress
from .property import InputPiece, OutputConjunction, Property
from .query import Query, QueryBuilder
from .solver import Solution, Solver

__all__ = [
    "CapabilityError",
    "Dataset",
    "InputError",
    "InputPiece",
    "Layer",
    "Network",
    "NetworkLoader",
    "NetworkSaver",
    "NnvError",
    "OutputConjunction",
    "ParameterAddress",
    "PluginError",
    "Property",
    "PropertyLoader",
    "Query",
    "QueryBuilder",
    "Solution",
    "Solver",
    "UnsupportedError",
    "hookimpl",
    "hookspec",
]
