"""ONNX feed-forward ReLU networks, in and out.

The loader lowers the graph to affine layers with a ReLU between each two
(:mod:`.onnx_graph`): the affine operators (Gemm, MatMul, Add, Sub, Mul, Div,
BatchNormalization, Conv, AveragePool, Pad, Concat, Transpose and the reshapes) compose into
one map until the next Relu, and MaxPool becomes ReLU layers that compute it exactly.
Convolutions and pooling give sparse layers. Nodes whose inputs are all constants are
evaluated. Initializers that are also listed among the graph inputs (as in the VNN-COMP
ACAS Xu files) are constants, not inputs. Any other operator is refused by name, so nothing
is silently approximated. External data (tensors kept in files the model names) is refused
too: nnv reads the one file it is given, never a path taken from it. The network's input
vector is the input tensor in C order with batch size 1; its output vector, the output's.

The network's precision is the file's: ``float32`` when the input tensor is float32 and every
lowered parameter is a float32 value (the ACAS Xu files, the paper's), ``float64`` otherwise,
so that loading never changes a parameter. The saver writes Gemm(transB=1) + Relu layers in the
network's precision (or the ``dtype`` it is given), input ``X`` [1, n] and output ``Y`` [1, m]:
the round trip is exact, and onnxruntime, Marabou and the VNN-COMP tools run the file. Sparse layers
are written as dense Gemm weights, up to ``DENSE_LIMIT`` entries each; larger ones are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from google.protobuf.message import DecodeError

from nnv.core import InputError, Network, NetworkLoader, NetworkSaver, hookimpl
from nnv.core.runtime.files import write_atomic
from nnv.plugins.loaders.onnx_graph import Lowering
from nnv.plugins.loaders.onnx_proto import proto

if TYPE_CHECKING:
    import onnx

OPSET = 17
IR_VERSION = 8  # the oldest IR that carries opset 17, so older runtimes read the files too
_DTYPES = {"float64": np.float64, "float32": np.float32}


def _read_model(path: Path) -> onnx.ModelProto:
    try:
        # without external data: tensors that name files are refused when converted
        model = proto().ModelProto()
        model.ParseFromString(path.read_bytes())
    except (DecodeError, OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable ONNX model ({error})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise InputError(f"{path}: not an ONNX model (no graph)")
    return model


def network_to_model(network: Network, dtype: type = np.float64) -> onnx.ModelProto:
    """Gemm(transB=1) + Relu layers, input ``X`` [1, n], output ``Y`` [1, m]."""
    import onnx  # the saver builds with onnx's helpers and checker
    from onnx import helper, numpy_helper

    network = network.as_dense("the ONNX saver")
    element = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    nodes, initializers, tensor = [], [], "X"
    last = len(network.layers) - 1
    for index, layer in enumerate(network.layers):
        weight, bias = f"W{index}", f"B{index}"
        initializers += [
            numpy_helper.from_array(layer.weight.astype(dtype), weight),
            numpy_helper.from_array(layer.bias.astype(dtype), bias),
        ]
        output = "Y" if index == last else f"z{index}"
        nodes.append(
            helper.make_node(
                "Gemm", [tensor, weight, bias], [output], name=f"gemm{index}", transB=1
            )
        )
        if index < last:
            tensor = f"a{index}"
            nodes.append(helper.make_node("Relu", [output], [tensor], name=f"relu{index}"))
    graph = helper.make_graph(
        nodes,
        "nnv",
        [helper.make_tensor_value_info("X", element, [1, network.n_inputs])],
        [helper.make_tensor_value_info("Y", element, [1, network.n_outputs])],
        initializers,
    )
    model = helper.make_model(
        graph, producer_name="nnv", opset_imports=[helper.make_opsetid("", OPSET)]
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


class OnnxLoader(NetworkLoader):
    """ONNX ReLU networks: affine operators, Conv, pooling and shape operators (see above)."""

    suffixes = (".onnx",)
    description = "ONNX feed-forward ReLU network"

    def load(self, path: Path) -> Network:
        model = _read_model(Path(path))
        return Lowering(Path(path), model).network(model.graph)


class OnnxSaver(NetworkSaver):
    """ONNX Gemm + Relu layers in the network's precision, so the round trip is exact."""

    suffixes = (".onnx",)
    description = "ONNX Gemm + Relu layers (in the network's precision)"

    def __init__(self, dtype: str | None = None) -> None:
        if dtype is not None and dtype not in _DTYPES:
            raise InputError(
                f"ONNX saver: dtype must be one of {', '.join(_DTYPES)}, not {dtype!r}"
            )
        self.dtype = None if dtype is None else _DTYPES[dtype]

    def save(self, network: Network, path: Path) -> None:
        dtype = _DTYPES[network.precision] if self.dtype is None else self.dtype
        write_atomic(Path(path), network_to_model(network, dtype).SerializeToString())


@hookimpl
def nnv_network_loaders() -> dict[str, type]:
    return {"onnx": OnnxLoader}


@hookimpl
def nnv_network_savers() -> dict[str, type]:
    return {"onnx": OnnxSaver}
