"""VNN-LIB properties: the subset VNN-COMP benchmarks use, read (vnnlib_write writes them).

A hand-written tokenizer and s-expression parser, because the PyPI ``vnnlib`` package targets
VNN-LIB 2.0 and rejects these (1.0-style) files with a syntax error at ``declare-const``.

Supported: ``;`` comments, ``(declare-const X_i Real)`` and ``(declare-const Y_j Real)``,
``(assert ...)`` over ``<=``, ``>=``, ``<``, ``>``, ``=`` (chains allowed), ``and`` and ``or``
nested freely, and linear terms ``(+ ...)``, ``(- a b ...)``, ``(- a)``, ``(* c X)`` with
numbers in decimal or scientific notation, negative literals included. Strict comparisons are
read as non-strict: that enlarges both the input region and the unsafe output set, so a
"holds" verdict stays sound (conservative). Refused, as bad input: no commands at all, no
``X_i`` or no ``Y_j``, a name declared twice, numbers beyond float64, nesting deeper than
``MAX_DEPTH`` and a DNF of more than ``MAX_DISJUNCTS`` conjunctions.

The file states the violation: the conjunction of all asserts. It is brought to disjunctive
normal form and factored as (input DNF) and (output DNF): each input disjunct becomes an
:class:`InputPiece` (bounds from single-variable atoms, other atoms as rows ``A x <= b``), each
output disjunct an :class:`OutputConjunction` ``C y <= d``. An assert whose disjuncts couple
input and output atoms in a way that does not factor is refused (``UnsupportedError``).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from nnv.core import (
    InputError,
    InputPiece,
    OutputConjunction,
    Property,
    PropertyLoader,
    UnsupportedError,
    hookimpl,
)

_TOKEN = re.compile(r"\s+|;[^\n]*|(?P<token>[()]|[^\s();]+)")
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_VARIABLE = re.compile(r"^([XY])_(\d+)$")
_COMPARISONS = {"<=", ">=", "<", ">", "="}
# Bad or hostile files must get an error, not a RecursionError or a DNF that fills the memory.
# The benchmark files nest 4 deep and have at most 9 disjuncts; the meaning is read
# recursively, about three Python frames per level, so 100 levels stay far from the limit.
MAX_DEPTH = 100
MAX_DISJUNCTS = 10_000

Var = tuple[str, int]  # ("X", i) or ("Y", j)
Atom = tuple[tuple[tuple[Var, float], ...], float]  # sum(coef * var) <= rhs
Conjunction = tuple[Atom, ...]
Dnf = list[Conjunction]


class _Token(str):
    """A token that remembers its line, for error messages."""

    line: int


class _List(list):  # type: ignore[type-arg]
    """A parenthesised expression that remembers the line it starts on."""

    line: int


# -- reading: tokens and s-expressions ------------------------------------------------------


def _tokens(text: str) -> Iterator[_Token]:
    line, counted = 1, 0
    for match in _TOKEN.finditer(text):  # every character matches one alternative
        if match.group("token"):
            line += text.count("\n", counted, match.start())
            counted = match.start()
            token = _Token(match.group("token"))
            token.line = line
            yield token


def _expressions(text: str, path: Path) -> list[_List]:
    """The top-level s-expressions of ``text``."""
    stack: list[_List] = [_List()]
    for token in _tokens(text):
        if token == "(":
            if len(stack) > MAX_DEPTH:
                raise InputError(f"{path}:{token.line}: nested deeper than {MAX_DEPTH} levels")
            node = _List()
            node.line = token.line
            stack[-1].append(node)
            stack.append(node)
        elif token == ")":
            if len(stack) == 1:
                raise InputError(f"{path}:{token.line}: unbalanced ')'")
            stack.pop()
        elif len(stack) == 1:
            raise InputError(f"{path}:{token.line}: {token!r} outside parentheses")
        else:
            stack[-1].append(token)
    if len(stack) > 1:
        raise InputError(f"{path}:{stack[-1].line}: unbalanced '(' (not closed by end of file)")
    return stack[0]


# -- meaning: linear terms, atoms, DNF -------------------------------------------------------


class _Reader:
    """Turns parsed expressions into variables, atoms and DNF, with file and line in errors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.declared: dict[str, Var] = {}

    def error(self, where: _Token | _List, message: str) -> InputError:
        return InputError(f"{self.path}:{where.line}: {message}")

    def declare(self, command: _List) -> None:
        if len(command) != 3 or not isinstance(command[1], str) or command[2] != "Real":
            raise self.error(command, "expected (declare-const <name> Real)")
        match = _VARIABLE.match(command[1])
        if match is None:
            raise self.error(command, f"variable {command[1]!r} is not X_<i> or Y_<j>")
        if command[1] in self.declared:
            raise self.error(command, f"{command[1]} is declared twice")
        self.declared[command[1]] = (match.group(1), int(match.group(2)))

    def linear(self, expr: _Token | _List) -> tuple[dict[Var, float], float]:
        """``expr`` as (coefficients, constant); anything nonlinear is an error."""
        if isinstance(expr, str):
            if _NUMBER.match(expr):
                return {}, self.number(expr)
            if expr in self.declared:
                return {self.declared[expr]: 1.0}, 0.0
            raise self.error(expr, f"unknown variable or bad number {expr!r}")
        if not expr or not isinstance(expr[0], str):
            raise self.error(expr, "expected an operator after '('")
        op, terms = expr[0], [self.linear(arg) for arg in expr[1:]]
        if op == "+" and terms:
            return _sum(terms)
        if op == "-" and len(terms) == 1:
            return _scaled(terms[0], -1.0)
        if op == "-" and terms:
            return _sum([terms[0], *(_scaled(term, -1.0) for term in terms[1:])])
        if op == "*" and terms:
            return self.product(expr, terms)
        raise self.error(expr, f"unknown or misused arithmetic operator {op!r}")

    def number(self, token: _Token) -> float:
        value = float(token)
        if not math.isfinite(value):
            raise self.error(token, f"number {token} is out of range")
        return value

    def product(
        self, expr: _List, terms: list[tuple[dict[Var, float], float]]
    ) -> tuple[dict[Var, float], float]:
        variable = [term for term in terms if term[0]]
        if len(variable) > 1:
            raise self.error(expr, "nonlinear term: a product of variables")
        factor = math.prod(const for coefs, const in terms if not coefs)
        return _scaled(variable[0], factor) if variable else ({}, factor)

    def dnf(self, expr: _Token | _List) -> Dnf:
        """``expr`` in disjunctive normal form (a list of conjunctions of atoms)."""
        if isinstance(expr, str) or not expr or not isinstance(expr[0], str):
            raise self.error(expr, "expected a comparison, 'and' or 'or'")
        op, args = expr[0], expr[1:]
        if op == "and":
            return _conjoin((self.dnf(arg) for arg in args), f"{self.path}:{expr.line}")
        if op == "or":
            return _unique([conj for arg in args for conj in self.dnf(arg)])
        if op in _COMPARISONS:
            if len(args) < 2:
                raise self.error(expr, f"{op!r} needs two operands")
            sides = [self.linear(arg) for arg in args]
            atoms = [atom for a, b in itertools.pairwise(sides) for atom in _atoms(op, a, b)]
            return self.conjunction(expr, atoms)
        raise self.error(expr, f"unknown operator {op!r}")

    def conjunction(self, expr: _List, atoms: list[Atom]) -> Dnf:
        """Drop atoms without variables that hold; a false one empties the conjunction."""
        kept = []
        for terms, rhs in atoms:
            if not all(math.isfinite(value) for value in (rhs, *(coef for _, coef in terms))):
                raise self.error(expr, "a coefficient or constant overflows")
            if not terms:
                if 0.0 > rhs:
                    return []
                continue
            if len({var[0] for var, _ in terms}) > 1:
                raise UnsupportedError(
                    f"{self.path}:{expr.line}: a comparison mixes inputs X and outputs Y"
                )
            kept.append((terms, rhs))
        return [tuple(dict.fromkeys(kept))]


def _sum(terms: list[tuple[dict[Var, float], float]]) -> tuple[dict[Var, float], float]:
    coefs: dict[Var, float] = {}
    for term_coefs, _ in terms:
        for var, coef in term_coefs.items():
            coefs[var] = coefs.get(var, 0.0) + coef
    return coefs, float(sum(const for _, const in terms))


def _scaled(term: tuple[dict[Var, float], float], factor: float) -> tuple[dict[Var, float], float]:
    coefs, const = term
    return {var: factor * coef for var, coef in coefs.items()}, factor * const


def _atoms(
    op: str, left: tuple[dict[Var, float], float], right: tuple[dict[Var, float], float]
) -> list[Atom]:
    """``left op right`` as atoms ``sum(coef * var) <= rhs`` (strict read as non-strict)."""
    pairs = {
        "<=": [(left, right)],
        "<": [(left, right)],
        ">=": [(right, left)],
        ">": [(right, left)],
        "=": [(left, right), (right, left)],
    }[op]
    atoms = []
    for small, big in pairs:
        coefs, const = _sum([small, _scaled(big, -1.0)])
        terms = tuple(sorted((var, coef) for var, coef in coefs.items() if coef != 0.0))
        atoms.append((terms, 0.0 - const))
    return atoms


def _unique(dnf: Iterable[Conjunction]) -> Dnf:
    """Conjunctions without repeats (as sets of atoms), in first-seen order."""
    seen: dict[frozenset[Atom], Conjunction] = {}
    for conj in dnf:
        seen.setdefault(frozenset(conj), conj)
    return list(seen.values())


def _conjoin(dnfs: Iterable[Dnf], where: str) -> Dnf:
    """The DNF of a conjunction of DNFs; single-disjunct ones are merged first, in one pass.
    ``where`` names the conjunction in the error when the DNF grows too large."""
    dnfs = list(dnfs)
    common = [atom for dnf in dnfs if len(dnf) == 1 for atom in dnf[0]]
    result: Dnf = [] if any(not dnf for dnf in dnfs) else [tuple(dict.fromkeys(common))]
    for dnf in (dnf for dnf in dnfs if len(dnf) > 1):
        if len(result) * len(dnf) > MAX_DISJUNCTS:
            raise InputError(f"{where}: more than {MAX_DISJUNCTS} cases in disjunctive normal form")
        result = _unique(tuple(dict.fromkeys(a + b)) for a in result for b in dnf)
    return result


def _kind(atom: Atom) -> str:
    """``"X"`` or ``"Y"``: every atom is over inputs only or outputs only."""
    (first_var, _), *_ = atom[0]
    return first_var[0]


def _split(conj: Conjunction, kind: str) -> Conjunction:
    return tuple(atom for atom in conj if _kind(atom) == kind)


def _factor(dnf: Dnf, path: Path) -> tuple[Dnf, Dnf]:
    """``dnf`` as (input DNF) and (output DNF), when it is their product."""
    inputs = _unique(_split(conj, "X") for conj in dnf)
    outputs = _unique(_split(conj, "Y") for conj in dnf)
    pairs = {(frozenset(_split(conj, "X")), frozenset(_split(conj, "Y"))) for conj in dnf}
    if len(pairs) != len(inputs) * len(outputs):
        raise UnsupportedError(
            f"{path}: a disjunction couples input and output constraints; only properties "
            "of the form (input region) and (unsafe outputs) are supported"
        )
    return inputs, outputs


# -- building the property -------------------------------------------------------------------


def _rows(conj: Conjunction, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The atoms of one conjunction as ``M v <= r``."""
    lengths = [len(terms) for terms, _ in conj]
    matrix = np.zeros((len(conj), n))
    rows = np.repeat(np.arange(len(conj)), lengths)
    columns = [var[1] for terms, _ in conj for var, _ in terms]
    matrix[rows, columns] = [coef for terms, _ in conj for _, coef in terms]
    return matrix, np.array([rhs for _, rhs in conj], dtype=np.float64)


def _piece(conj: Conjunction, n: int, path: Path, index: int) -> InputPiece:
    """Single-variable atoms bound the box; the rest become ``A x <= b``."""
    matrix, rhs = _rows(conj, n)
    single = np.count_nonzero(matrix, axis=1) == 1
    column = np.argmax(matrix[single] != 0, axis=1)
    coef = matrix[single, column]
    bound = rhs[single] / coef + 0.0  # + 0.0 turns -0.0 (from 0 / -1) into 0.0
    lower, upper = np.full(n, -np.inf), np.full(n, np.inf)
    np.minimum.at(upper, column[coef > 0], bound[coef > 0])
    np.maximum.at(lower, column[coef < 0], bound[coef < 0])
    where = f"(input region, disjunct {index + 1})"
    unbounded = np.flatnonzero(~(np.isfinite(lower) & np.isfinite(upper)))
    if unbounded.size:
        raise InputError(f"{path}: X_{unbounded[0]} needs finite lower and upper bounds {where}")
    empty = np.flatnonzero(lower > upper)
    if empty.size:
        i = empty[0]
        raise InputError(f"{path}: empty box, X_{i}: {float(lower[i])} > {float(upper[i])} {where}")
    if single.all():
        return InputPiece(lower, upper)
    return InputPiece(lower, upper, matrix[~single], rhs[~single])


def _declared_count(declared: dict[str, Var], kind: str, path: Path) -> int:
    indices = sorted(index for k, index in declared.values() if k == kind)
    if not indices:
        what = "inputs" if kind == "X" else "outputs"
        raise InputError(f"{path}: declares no {what} (declare-const {kind}_0 Real)")
    if indices != list(range(len(indices))):
        raise InputError(f"{path}: the {kind}_i variables must be numbered 0, 1, 2, ...")
    return len(indices)


def parse_vnnlib(text: str, path: Path, name: str | None = None) -> Property:
    """The property that VNN-LIB ``text`` states; ``path`` names it in errors."""
    reader = _Reader(path)
    asserted: list[Dnf] = []
    commands = _expressions(text, path)
    if not commands:
        raise InputError(f"{path}: no VNN-LIB commands (the file is empty or only comments)")
    for command in commands:
        head = command[0] if command else None
        if head == "declare-const":
            reader.declare(command)
        elif head == "assert" and len(command) == 2:
            asserted.append(reader.dnf(command[1]))
        else:
            raise reader.error(
                command, f"expected (declare-const ...) or (assert ...), not {head!r}"
            )
    n_inputs = _declared_count(reader.declared, "X", path)
    n_outputs = _declared_count(reader.declared, "Y", path)
    factors = [_factor(dnf, path) for dnf in asserted]
    input_dnf = _conjoin((inputs for inputs, _ in factors), str(path))
    output_dnf = _conjoin((outputs for _, outputs in factors), str(path))
    pieces = tuple(_piece(conj, n_inputs, path, index) for index, conj in enumerate(input_dnf))
    unsafe = tuple(OutputConjunction(*_rows(conj, n_outputs)) for conj in output_dnf)
    return Property(pieces, unsafe, n_inputs, n_outputs, name=name or Path(path).stem)


class VnnlibLoader(PropertyLoader):
    """VNN-LIB 1.0 properties as used by VNN-COMP."""

    suffixes = (".vnnlib",)
    description = "VNN-LIB property (the VNN-COMP subset)"

    def load(self, path: Path, name: str | None = None) -> Property:
        """A VNN-LIB file holds one property; ``name``, if given, names it (default: stem)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: cannot read ({error})") from None
        return parse_vnnlib(text, Path(path), name)


@hookimpl
def nnv_property_loaders() -> dict[str, type]:
    return {"vnnlib": VnnlibLoader}
