"""A small, safe filter language for step conditions, parsed into polars expressions.

Grammar (keywords are case-insensitive)::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | "(" expr ")" | test
    test    := sum ("==" | "!=" | "<" | "<=" | ">" | ">=") sum
             | NAME ["not"] "in" "(" VALUE ("," VALUE)* ")"
             | NAME "is" ["not"] "null"
    sum     := product (("+" | "-") product)*
    product := atom (("*" | "/") atom)*
    atom    := NAME | VALUE | "-" atom | "(" sum ")"
    NAME    := letters, digits, "_" and "." (``ecommerce.shipping``), or `back-quoted`
    VALUE   := number | 'text' | "text" | true | false

Arithmetic makes relative thresholds possible: ``shipping + tax > 0.15 * value``. A
comparison with a missing (null) value is false, as in SQL's WHERE (``in`` and ``not in``
included), and so is one with a division by zero; ``not`` negates the result of its operand
after that rule. Nothing is ever evaluated as Python: the text is tokenised and parsed into
a tree.

>>> df = pl.DataFrame({"payment_type": ["card", "card", None], "value": [5, 20, 30]})
>>> df.filter(parse_filter("payment_type == 'card' and value >= 10").to_polars()).height
1
>>> parse_filter("country in ('DE', 'AT')").evaluate({"country": "AT"})
True
>>> parse_filter("(shipping + tax) / value > 0.15").evaluate({"shipping": 9, "tax": 3, "value": 40})
True
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from funnel.errors import SpecError

__all__ = ["Filter", "parse_filter"]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<op>==|!=|<=|>=|<|>|\(|\)|,|\+|-|\*|/)
    | (?P<name>`[^`]+`|[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}


def _tokenize(text: str, key: str) -> list[tuple[str, Any]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SpecError(
                f"{key}: cannot read {text[pos:].strip()[:20]!r} at position {pos}",
                hint="use comparisons (==, !=, <, >), in (...), is null, and/or/not",
            )
        pos = m.end()
        kind = m.lastgroup
        val = m.group(kind)  # type: ignore[arg-type]
        if kind == "num":
            out.append(("val", float(val) if any(c in val for c in ".eE") else int(val)))
        elif kind == "str":
            out.append(("val", re.sub(r"\\(.)", r"\1", val[1:-1])))
        elif kind == "name" and val.lower() in _KEYWORDS:
            low = val.lower()
            out.append(("val", low == "true") if low in ("true", "false") else ("kw", low))
        elif kind == "name":
            out.append(("name", val.strip("`")))
        else:
            out.append(("op", val))
    return out


@dataclass(frozen=True)
class Filter:
    """A parsed condition: a tree of tuples, turned into polars or evaluated on a dict."""

    text: str
    tree: tuple

    def columns(self) -> set[str]:
        """Names of the columns the condition reads."""

        def walk(node: tuple) -> set[str]:
            if node[0] in ("and", "or"):
                return walk(node[1]) | walk(node[2])
            if node[0] == "not":
                return walk(node[1])
            if node[0] == "cmp":
                return _arith_columns(node[1]) | _arith_columns(node[3])
            return {node[1]}

        return walk(self.tree)

    def to_polars(self, missing: frozenset[str] = frozenset()) -> pl.Expr:
        """A boolean polars expression; null comparisons count as false.

        Columns named in ``missing`` read as null (data without that property).
        """

        def build(node: tuple) -> pl.Expr:
            kind = node[0]
            if kind == "and":
                return build(node[1]) & build(node[2])
            if kind == "or":
                return build(node[1]) | build(node[2])
            if kind == "not":
                return ~build(node[1])
            if kind == "cmp":
                lhs, rhs = _arith_polars(node[1], missing), _arith_polars(node[3], missing)
                return _OPS[node[2]](lhs, rhs).fill_null(False)
            col = pl.lit(None) if node[1] in missing else pl.col(node[1])
            if kind == "null":
                return col.is_null() if node[2] else col.is_not_null()
            return pl.when(col.is_null()).then(False).otherwise(col.is_in(list(node[2])) ^ node[3])

        return build(self.tree)

    def evaluate(self, row: dict[str, Any]) -> bool:
        """Evaluate on one plain-Python row (for references and tests)."""

        def ev(node: tuple) -> bool:
            kind = node[0]
            if kind == "and":
                return ev(node[1]) and ev(node[2])
            if kind == "or":
                return ev(node[1]) or ev(node[2])
            if kind == "not":
                return not ev(node[1])
            if kind == "cmp":
                lhs, rhs = _arith_value(node[1], row), _arith_value(node[3], row)
                if lhs is None or rhs is None:
                    return False
                try:
                    return bool(_OPS[node[2]](lhs, rhs))
                except TypeError:
                    return False
            value = row.get(node[1])
            if kind == "null":
                return (value is None) == node[2]
            if value is None:
                return False
            return (value in node[2]) != node[3]

        return ev(self.tree)


def _arith_columns(node: tuple) -> set[str]:
    if node[0] == "col":
        return {node[1]}
    if node[0] == "bin":
        return _arith_columns(node[2]) | _arith_columns(node[3])
    return set()


def _arith_polars(node: tuple, missing: frozenset[str]) -> pl.Expr:
    if node[0] == "col":
        return pl.lit(None) if node[1] in missing else pl.col(node[1])
    if node[0] == "val":
        return pl.lit(node[1])
    a, b = _arith_polars(node[2], missing), _arith_polars(node[3], missing)
    if node[1] == "/":
        return pl.when(b != 0).then(a / b)
    return _ARITH[node[1]](a, b)


def _arith_value(node: tuple, row: dict[str, Any]) -> Any:
    if node[0] == "col":
        return row.get(node[1])
    if node[0] == "val":
        return node[1]
    a, b = _arith_value(node[2], row), _arith_value(node[3], row)
    if a is None or b is None or (node[1] == "/" and b == 0):
        return None
    try:
        return _ARITH[node[1]](a, b)
    except TypeError:
        return None


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]], key: str) -> None:
        self.toks, self.i, self.key = tokens, 0, key

    def peek(self) -> tuple[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str, value: Any = None) -> Any:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            want = value or kind
            got = "the end" if tok is None else repr(tok[1])
            raise SpecError(
                f"{self.key}: expected {want!r} but found {got}",
                hint="a test looks like: price > 10, country in ('DE', 'AT'), coupon is null",
            )
        self.i += 1
        return tok[1]

    def accept(self, kind: str, value: Any) -> bool:
        if self.peek() == (kind, value):
            self.i += 1
            return True
        return False

    def parse_or(self) -> tuple:
        node = self.parse_and()
        while self.accept("kw", "or"):
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self) -> tuple:
        node = self.parse_not()
        while self.accept("kw", "and"):
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self) -> tuple:
        if self.accept("kw", "not"):
            return ("not", self.parse_not())
        if self.peek() == ("op", "("):
            # either a grouped condition or arithmetic: "(a + b) > c"
            start = self.i
            try:
                return self.parse_comparison()
            except SpecError:
                self.i = start
            self.take("op", "(")
            node = self.parse_or()
            self.take("op", ")")
            return node
        tok = self.peek()
        if tok is not None and tok[0] == "name":
            nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
            if nxt in (("kw", "is"), ("kw", "in"), ("kw", "not")):
                return self.parse_membership()
        return self.parse_comparison()

    def parse_membership(self) -> tuple:
        name = self.take("name")
        if self.accept("kw", "is"):
            negated = self.accept("kw", "not")
            self.take("kw", "null")
            return ("null", name, not negated)
        negated = self.accept("kw", "not")
        self.take("kw", "in")
        self.take("op", "(")
        values = [self.take("val")]
        while self.accept("op", ","):
            values.append(self.take("val"))
        self.take("op", ")")
        return ("in", name, tuple(values), negated)

    def parse_comparison(self) -> tuple:
        lhs = self.parse_sum()
        op = self.take("op")
        if op not in _OPS:
            raise SpecError(
                f"{self.key}: {op!r} is not a comparison", hint="use ==, !=, <, <=, >, >="
            )
        return ("cmp", lhs, op, self.parse_sum())

    def parse_sum(self) -> tuple:
        node = self.parse_product()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take("op")
            node = ("bin", op, node, self.parse_product())
        return node

    def parse_product(self) -> tuple:
        node = self.parse_atom()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take("op")
            node = ("bin", op, node, self.parse_atom())
        return node

    def parse_atom(self) -> tuple:
        if self.accept("op", "-"):
            inner = self.parse_atom()
            if inner[0] == "val" and isinstance(inner[1], (int, float)):
                return ("val", -inner[1])
            return ("bin", "-", ("val", 0), inner)
        if self.accept("op", "("):
            node = self.parse_sum()
            self.take("op", ")")
            return node
        tok = self.peek()
        if tok is not None and tok[0] == "name":
            self.i += 1
            return ("col", tok[1])
        return ("val", self.take("val"))


def parse_filter(text: str, *, key: str = "where") -> Filter:
    """Parse a condition such as ``"shipping > 0 and country in ('DE', 'AT')"``.

    >>> parse_filter("coupon is not null or not (total < 5)").columns() == {"coupon", "total"}
    True
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{key}: expected a condition as text", hint='e.g. where = "value > 0"')
    parser = _Parser(_tokenize(text, key), key)
    tree = parser.parse_or()
    if parser.peek() is not None:
        raise SpecError(
            f"{key}: unexpected {parser.peek()[1]!r} after a complete condition",  # type: ignore[index]
            hint="join tests with 'and' / 'or'",
        )
    return Filter(text=text, tree=tree)
