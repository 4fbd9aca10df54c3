"""VNN-LIB text for a property, which :mod:`vnnlib_format` reads back to an equal one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnv.core import InputPiece, Property
from nnv.core.runtime.files import write_atomic


def _linear_text(coefs: np.ndarray, prefix: str) -> str:
    terms = [f"(* {coef!r} {prefix}_{index})" for index, coef in enumerate(coefs.tolist()) if coef]
    if not terms:
        return "0.0"
    return terms[0] if len(terms) == 1 else f"(+ {' '.join(terms)})"


def _rows_text(matrix: np.ndarray, rhs: np.ndarray, prefix: str) -> list[str]:
    return [
        f"(<= {_linear_text(row, prefix)} {value!r})"
        for row, value in zip(matrix, rhs.tolist(), strict=True)
    ]


def _piece_text(piece: InputPiece) -> list[str]:
    atoms = []
    for index, (low, high) in enumerate(
        zip(piece.lower.tolist(), piece.upper.tolist(), strict=True)
    ):
        atoms += [f"(>= X_{index} {low!r})", f"(<= X_{index} {high!r})"]
    if piece.A is not None and piece.b is not None:
        atoms += _rows_text(piece.A, piece.b, "X")
    return atoms


def vnnlib_text(prop: Property) -> str:
    """VNN-LIB text stating the violation of ``prop``.

    Reading it back gives an equal property, except that a polytope row with a single nonzero
    coefficient comes back as a box bound.
    """
    lines = [f"; {prop.name}"]
    lines += [f"(declare-const X_{index} Real)" for index in range(prop.n_inputs)]
    lines += [f"(declare-const Y_{index} Real)" for index in range(prop.n_outputs)]
    lines.append("; input region")
    if len(prop.pieces) == 1:
        lines += [f"(assert {atom})" for atom in _piece_text(prop.pieces[0])]
    else:
        disjuncts = [f"    (and {' '.join(_piece_text(piece))})" for piece in prop.pieces]
        lines += ["(assert (or", *disjuncts, "))"]
    lines.append("; unsafe outputs")
    disjuncts = [
        f"    (and {' '.join(_rows_text(conj.C, conj.d, 'Y')) or '(<= 0.0 0.0)'})"
        for conj in prop.unsafe_outputs
    ]
    lines += ["(assert (or", *disjuncts, "))"]
    return "\n".join(lines) + "\n"


def write_vnnlib(prop: Property, path: str | Path) -> None:
    """Write ``prop`` as a VNN-LIB file (atomically)."""
    write_atomic(Path(path), vnnlib_text(prop).encode("utf-8"))
