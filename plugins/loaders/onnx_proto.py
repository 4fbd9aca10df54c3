"""Reading ONNX files without importing the ``onnx`` package when the graph does not need it.

``import onnx`` imports ml_dtypes, whose extension takes most of a second to load: more than
the whole verification of a typical ACAS Xu instance. Loading a network only needs ONNX's
generated protobuf classes (``onnx/onnx_ml_pb2.py``, which imports nothing but protobuf), the
attribute values and the common tensor types, so this module loads that file on its own,
under its own module name ``onnx.onnx_ml_pb2``: a later ``import onnx`` in the same process
finds it in ``sys.modules`` and reuses it, so the protobuf descriptors are registered once
(the one difference: the attribute ``onnx.onnx_ml_pb2`` is then unset; onnx itself never
reads it, and ``onnx.ModelProto`` and the rest are the same classes).

Tensors of other element types, attributes of other kinds and graphs that need ONNX's
reference evaluator still go through the ``onnx`` package, imported then.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

_PB2 = "onnx.onnx_ml_pb2"


def proto() -> ModuleType:
    """ONNX's protobuf module (ModelProto, TensorProto, ...), loaded without ``onnx``."""
    if _PB2 in sys.modules:
        return sys.modules[_PB2]
    package = importlib.util.find_spec("onnx")  # finds the package without importing it
    if package is None or not package.submodule_search_locations:
        raise ImportError("the onnx package is not installed")
    location = Path(list(package.submodule_search_locations)[0]) / "onnx_ml_pb2.py"
    spec = importlib.util.spec_from_file_location(_PB2, location)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {location}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_PB2] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_PB2]
        raise
    return module


# TensorProto element type -> (numpy dtype, the repeated field that holds it when not raw)
_ELEMENTS: dict[int, tuple[type, str]] = {
    1: (np.float32, "float_data"),  # FLOAT
    11: (np.float64, "double_data"),  # DOUBLE
    7: (np.int64, "int64_data"),  # INT64
    6: (np.int32, "int32_data"),  # INT32
}


def to_array(tensor: Any) -> np.ndarray:
    """The tensor as an array, like ``onnx.numpy_helper.to_array`` (which it defers to for
    element types other than float32, float64, int64 and int32)."""
    if tensor.data_type not in _ELEMENTS or tensor.HasField("segment"):
        from onnx import numpy_helper

        return np.asarray(numpy_helper.to_array(tensor))
    dtype, field = _ELEMENTS[tensor.data_type]
    shape = tuple(tensor.dims)
    if tensor.HasField("raw_data"):
        flat = np.frombuffer(tensor.raw_data, dtype=np.dtype(dtype).newbyteorder("<"))
    else:
        flat = np.asarray(getattr(tensor, field), dtype=dtype)
    count = int(np.prod(shape, dtype=np.int64))
    if flat.size != count:
        raise ValueError(f"{flat.size} values for shape {list(shape)}")
    return flat.astype(dtype).reshape(shape)


def uses_external_data(tensor: Any) -> bool:
    """Whether the tensor's values live in another file (as ``onnx.external_data_helper``)."""
    return bool(
        tensor.HasField("data_location") and tensor.data_location == proto().TensorProto.EXTERNAL
    )


def attribute_value(attribute: Any) -> Any:
    """An attribute's value, like ``onnx.helper.get_attribute_value`` (which it defers to for
    graph, sparse-tensor and type attributes)."""
    kinds = proto().AttributeProto
    simple = {
        kinds.FLOAT: lambda a: a.f,
        kinds.INT: lambda a: a.i,
        kinds.STRING: lambda a: a.s,
        kinds.TENSOR: lambda a: a.t,
        kinds.FLOATS: lambda a: list(a.floats),
        kinds.INTS: lambda a: list(a.ints),
        kinds.STRINGS: lambda a: list(a.strings),
        kinds.TENSORS: lambda a: list(a.tensors),
    }
    if attribute.type in simple:
        return simple[attribute.type](attribute)
    from onnx import helper

    return helper.get_attribute_value(attribute)
