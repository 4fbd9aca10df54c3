"""Bad input, table-driven: every case exits 2 with one ``nnv: error:`` line and no traceback,
and an ``nnv run`` case leaves an earlier run's folder byte for byte as it was.

Each case is one real ``nnv`` subprocess; they run a few at a time in one module fixture (a
run case on its own copy of the earlier folder), and the tests below check what came back.
The cases: malformed VNN-LIB, ONNX with external data or non-finite weights, bad dask
scheduler addresses (including a server that answers garbage and one that never answers), and
usage errors of every command.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import onnx
import pytest
from cli_helpers import assert_bad_input, nnv
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parent.parent
XOR = ROOT / "examples" / "xor"
README_RUN = {
    "--network": "{xor}/network.onnx",
    "--property": "{xor}/robust_violated.vnnlib",
    "--data": "{xor}/data.npz",
    "--free": "w2.1.8,w2.2.8",
}
HEADER = "".join(f"(declare-const {name} Real)\n" for name in ("X_0", "X_1", "Y_0", "Y_1"))
BOX = "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n(assert (<= X_1 1))\n"
DEEP = 50_000
TIMEOUT = 60  # seconds for one case; the slowest (a silent scheduler) gives up after 10


def run(*extra: str, **replaced: str) -> tuple[str, ...]:
    """The README's `nnv run` into the earlier run's folder, with options replaced or added
    (``property="..."`` replaces ``--property``)."""
    options = {**README_RUN, **{f"--{key}": value for key, value in replaced.items()}}
    return ("run", *(item for pair in options.items() for item in pair), "--out", "{out}", *extra)


def dask(scheduler: str) -> tuple[str, ...]:
    return run("--executor", "dask", "--scheduler", scheduler)


Case = tuple[str, tuple[str, ...], str]  # name, arguments, what the error line names


VNNLIB: list[Case] = [
    ("vnnlib-empty", run(property="{files}/empty.vnnlib"), "empty.vnnlib: no VNN-LIB comm"),
    ("vnnlib-comments", run(property="{files}/comments.vnnlib"), "or only comments"),
    ("vnnlib-only-y", run(property="{files}/only_y.vnnlib"), "only_y.vnnlib: declares no in"),
    ("vnnlib-only-x", run(property="{files}/only_x.vnnlib"), "only_x.vnnlib: declares no out"),
    ("vnnlib-deep", run(property="{files}/deep.vnnlib"), "deep.vnnlib:5: nested deeper"),
    ("vnnlib-deep-verify", ("verify", "{xor}/network.onnx", "{files}/deep.vnnlib"), "deeper"),
    ("vnnlib-twice", run(property="{files}/twice.vnnlib"), "twice.vnnlib:2: X_0 is declared"),
    ("vnnlib-dnf", run(property="{files}/dnf.vnnlib"), "dnf.vnnlib:5: more than 10000 case"),
    ("vnnlib-overflow", run(property="{files}/overflow.vnnlib"), "overflow.vnnlib:5: a coef"),
    ("vnnlib-1e400", run(property="{files}/huge.vnnlib"), "huge.vnnlib:5: number 1e400 is"),
]
ONNX: list[Case] = [
    (f"onnx-external-{kind}", run(network=f"{{files}}/{kind}/model.onnx"), f"{kind}/model.onnx")
    for kind in ("absolute", "parent", "symlink", "missing", "inside")
] + [
    ("onnx-external-verify", ("verify", "{files}/parent/model.onnx", "{xor}/robust_holds.vnnlib"),
         "external data is not supported"),
    ("onnx-inf-weight", run(network="{files}/inf.onnx"), "inf.onnx: tensor 'W0' has NaN or"),
    ("onnx-nan-weight", run(network="{files}/nan.onnx"), "nan.onnx: tensor 'W0' has NaN or"),
]  # fmt: skip
DASK: list[Case] = [
    ("dask-garbage", dask("garbage"), "'garbage' is not a dask scheduler address"),
    ("dask-no-port", dask("tcp://127.0.0.1"), "missing port number"),
    ("dask-port-range", dask("tcp://127.0.0.1:99999"), "a port from 1 to 65535"),
    ("dask-scheme", dask("http://127.0.0.1:8786"), "scheme 'http' is not one of"),
    ("dask-refused", dask("{refused}"), ": Connection refused"),
    ("dask-not-dask", dask("{chatty}"), "did not answer as a dask scheduler"),
    ("dask-silent", dask("{silent}"), "no dask scheduler answered at tcp://127.0.0.1:"),
]
USAGE: list[Case] = [
    ("run-timeout-negative", run("--timeout", "-1"), "Invalid value for '--timeout'"),
    ("run-timeout-nan", run("--timeout", "nan"), "Invalid value for '--timeout'"),
    ("run-max-free-0", run("--max-free", "0"), "Invalid value for '--max-free'"),
    ("run-workers-0", run("--workers", "0"), "Invalid value for '--workers'"),
    ("run-workers-abc", run("--workers", "abc"), "Invalid value for '--workers'"),
    ("run-trial-timeout", run("--trial-timeout", "-5"), "Invalid value for '--trial-timeout'"),
    ("run-threshold", run("--threshold", "-3"), "Invalid value for '--threshold'"),
    ("run-max-change-nan", run("--max-change", "nan"), "'--max-change': nan is not a number"),
    ("run-target-nan", run("--target-accuracy", "nan"), "'--target-accuracy': nan is not a"),
    ("run-no-such-option", run("--nope"), "No such option: --nope"),
    ("run-no-value", run("--timeout"), "Option '--timeout' requires an argument"),
    ("run-config-nan", ("run", "{files}/nan.toml", "--out", "{out}"), "max_change must be a "),
    ("run-objective", run("--objective", "keep,nosuch"), "unknown objective 'nosuch' (install"),
    ("run-free-layer", run("--free-layer", "3"), "'w3.*.*': the network has 2 layers"),
    ("run-free-neuron", run("--free-neuron", "2.x"), "free neuron is <layer>.<neuron>"),
    ("run-free-glob", run(free="w2.9.*"), "'w2.9.*' match no parameter of the network"),
    ("verify-timeout-nan", ("verify", "--timeout", "nan", "a", "b"), "'--timeout'"),
    ("verify-no-arguments", ("verify",), "Missing argument 'NETWORK'"),
    ("verify-extra-argument", ("verify", "a", "b", "c"), "unexpected extra argument"),
    ("train-no-data", ("train", "--out", "x"), "Missing option '--data'"),
    ("train-quantile-nan", ("train", "--data", "x", "--out", "y", "--quantile", "nan"),
         "Invalid value for '--quantile'"),
    ("train-epochs-0", ("train", "--data", "x", "--out", "y", "--epochs", "0"),
         "Invalid value for '--epochs'"),
    ("plugins-no-such-option", ("plugins", "--nope"), "No such option: --nope"),
    ("no-such-command", ("bogus",), "No such command 'bogus'"),
]  # fmt: skip
CASES = {name: (args, fragment) for name, args, fragment in VNNLIB + ONNX + DASK + USAGE}
RUN_CASES = [name for name, (args, _) in CASES.items() if "{out}" in args]


# -- the bad files -----------------------------------------------------------------------------


def _write_vnnlib(folder: Path) -> None:
    texts = {
        "empty": "",
        "comments": "; a property\n; nothing else\n",
        "only_y": "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n(assert (<= Y_0 Y_1))\n",
        "only_x": "(declare-const X_0 Real)\n(declare-const X_1 Real)\n" + BOX,
        "deep": HEADER + "(assert " + "(and " * DEEP + "(<= X_0 1)" + ")" * DEEP + ")\n",
        "twice": "(declare-const X_0 Real)\n" + HEADER + BOX,
        # 2**20 cases if multiplied out
        "dnf": HEADER + "(assert (and "
        + " ".join(f"(or (<= Y_0 {i}) (<= Y_1 {i}))" for i in range(20))
        + "))\n" + BOX,
        "overflow": HEADER + "(assert (<= (* 1e300 1e300 X_0) 1))\n" + BOX,
        "huge": HEADER + "(assert (<= X_0 1e400))\n" + BOX,
    }  # fmt: skip
    for name, text in texts.items():
        (folder / f"{name}.vnnlib").write_text(text)


def _external(folder: Path, location: str) -> None:
    """The example network as ``folder/model.onnx``, its tensors' data named ``location``."""
    folder.mkdir()
    onnx.save_model(
        onnx.load(XOR / "network.onnx"),
        folder / "model.onnx",
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    model = onnx.load(folder / "model.onnx", load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    (folder / "model.onnx").write_bytes(model.SerializeToString())


def _with_first_weight(path: Path, value: float) -> None:
    model = onnx.load(XOR / "network.onnx")
    tensor = model.graph.initializer[0]
    weights = numpy_helper.to_array(tensor).copy()
    weights.flat[0] = value
    tensor.CopyFrom(numpy_helper.from_array(weights, tensor.name))
    onnx.save_model(model, path)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    _write_vnnlib(folder)
    _external(folder / "inside", "weights.bin")  # also the target of the next three
    outside = folder / "inside" / "weights.bin"
    _external(folder / "absolute", str(outside))
    _external(folder / "parent", "../inside/weights.bin")
    _external(folder / "symlink", "link.bin")
    (folder / "symlink" / "link.bin").symlink_to(outside)
    _external(folder / "missing", "nosuch.bin")
    _with_first_weight(folder / "inf.onnx", math.inf)
    _with_first_weight(folder / "nan.onnx", math.nan)
    (folder / "nan.toml").write_text(
        "".join(f'{key[2:]} = "{value.format(xor=XOR)}"\n' for key, value in README_RUN.items())
        + "max_change = nan\n"
    )
    return folder


# -- fake dask schedulers ----------------------------------------------------------------------


class _Chatty(socketserver.BaseRequestHandler):
    """Answers like an HTTP server (a dashboard port given by mistake)."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")


class _Silent(socketserver.BaseRequestHandler):
    """Accepts the connection and never says a word, until the client gives up."""

    def handle(self) -> None:
        while self.request.recv(65536):
            pass


@pytest.fixture(scope="module")
def schedulers() -> Iterator[dict[str, str]]:
    """Addresses: nothing listening, a server that answers garbage, one that never answers."""
    closed = socket.socket()  # bound, never listening: connections are refused
    closed.bind(("127.0.0.1", 0))
    servers = [
        socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) for handler in (_Chatty, _Silent)
    ]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    names = ("refused", "chatty", "silent")
    ports = [closed.getsockname()[1], *(server.server_address[1] for server in servers)]
    yield {name: f"tcp://127.0.0.1:{port}" for name, port in zip(names, ports, strict=True)}
    for server in servers:
        server.shutdown()
        server.server_close()
    closed.close()


# -- running every case once ---------------------------------------------------------------------


def _hashes(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and the SHA-256 of its bytes."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a successful run (the README example)."""
    out = tmp_path_factory.mktemp("earlier") / "run"
    args = [item.format(xor=XOR) for pair in README_RUN.items() for item in pair]
    done = nnv("run", *args, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert {"result.json", "trials.csv", "run.json", "repaired.onnx"} <= set(_hashes(out))
    return out


@dataclass
class Outcome:
    done: subprocess.CompletedProcess[str] | None  # None: still running after TIMEOUT s
    folder: dict[str, str] | None  # the earlier run's files afterwards (run cases only)


@pytest.fixture(scope="module")
def outcomes(
    files: Path, earlier: Path, schedulers: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Every case's subprocess, a few at a time; a run case writes into its own copy of
    ``earlier``."""
    base = tmp_path_factory.mktemp("outs")

    def one(index: int, args: tuple[str, ...]) -> Outcome:
        out = base / str(index)
        values = {"xor": str(XOR), "files": str(files), "out": str(out), **schedulers}
        if "{out}" in args:
            shutil.copytree(earlier, out)
        try:
            done = nnv(*(arg.format(**values) for arg in args), timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            done = None
        return Outcome(done, _hashes(out) if "{out}" in args else None)

    names = list(CASES)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        done = pool.map(one, range(len(names)), (CASES[name][0] for name in names))
        return dict(zip(names, done, strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_exit_2(outcomes: dict[str, Outcome], name: str) -> None:
    done = outcomes[name].done
    assert done is not None, f"still running after {TIMEOUT} s"
    assert_bad_input(done, CASES[name][1])


@pytest.mark.parametrize("name", RUN_CASES)
def test_bad_input_leaves_the_earlier_run_as_it_was(
    outcomes: dict[str, Outcome], earlier: Path, name: str
) -> None:
    assert outcomes[name].folder == _hashes(earlier)
