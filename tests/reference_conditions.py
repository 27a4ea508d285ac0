"""A tiny, independent evaluator of spec conditions on one plain-Python row (for the
reference implementations): the SQL subset the tests use, with polars' semantics.

Three-valued logic (None = unknown), ``WHERE``: a row holds only when the result is True.
Numbers: ``/`` is true division, division by zero gives +-inf (NaN for 0/0), and NaN
compares greater than every number and equal to itself (polars' order).

>>> holds("a + 1 > 2 AND s IN ('x', 'y')", {"a": 2, "s": "y"})
True
>>> holds("NOT (a > 1)", {"a": None}), holds("a > 1 OR b IS NULL", {"a": None, "b": None})
(False, True)
"""

from __future__ import annotations

import math
import operator
import re
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:(?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+|\d+(?:[eE][-+]?\d+)?)
    |(?P<str>'(?:[^']|'')*')|(?P<qname>"[^"]*"|`[^`]*`)
    |(?P<op><>|!=|==|<=|>=|<|>|=|\(|\)|,|\+|-|\*|/)|(?P<name>[A-Za-z_][A-Za-z0-9_]*))""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false", "between", "like"}


def _tokens(text: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        assert m and m.end() > pos, f"cannot read {text[pos:]!r}"
        pos, kind, val = m.end(), m.lastgroup, m.group(m.lastgroup or "")
        if kind == "num":
            out.append(("val", float(val) if any(c in val for c in ".eE") else int(val)))
        elif kind == "str":
            out.append(("val", val[1:-1].replace("''", "'")))
        elif kind == "qname":
            out.append(("name", val[1:-1]))
        elif kind == "name" and val.lower() in _KEYWORDS:
            low = val.lower()
            special = {"true": ("val", True), "false": ("val", False), "null": ("val", None)}
            out.append(special.get(low, ("kw", low)))
        else:
            out.append((kind or "", val))
    return out


def _key(x: Any) -> tuple:
    return (1, 0) if isinstance(x, float) and math.isnan(x) else (0, x)


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    fn = {"=": operator.eq, "==": operator.eq, "<>": operator.ne, "!=": operator.ne}
    fn |= {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
    if isinstance(a, str) or isinstance(b, str):
        return fn[op](a, b)
    return fn[op](_key(a), _key(b))


def _divide(a: float, b: float) -> float:
    if b != 0:
        return a / b
    return math.nan if a == 0 else math.copysign(math.inf, a) * math.copysign(1, b)


class _Eval:
    def __init__(self, text: str, row: dict[str, Any]) -> None:
        self.t, self.i, self.row = _tokens(text), 0, row

    def peek(self) -> tuple[str, Any] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def eat(self, kind: str, val: Any = None) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == kind and (val is None or tok[1] == val):
            self.i += 1
            return True
        return False

    def or_(self) -> Any:
        a = self.and_()
        while self.eat("kw", "or"):
            b = self.and_()
            a = True if (a is True or b is True) else (None if None in (a, b) else False)
        return a

    def and_(self) -> Any:
        a = self.not_()
        while self.eat("kw", "and"):
            b = self.not_()
            a = False if (a is False or b is False) else (None if None in (a, b) else True)
        return a

    def not_(self) -> Any:
        if self.eat("kw", "not"):
            v = self.not_()
            return None if v is None else not v
        return self.pred()

    def pred(self) -> Any:
        a = self.sum_()
        tok = self.peek()
        if tok and tok[0] == "op" and tok[1] in ("=", "==", "<>", "!=", "<", "<=", ">", ">="):
            self.i += 1
            return _compare(tok[1], a, self.sum_())
        if self.eat("kw", "is"):
            negated = self.eat("kw", "not")
            assert self.eat("val", None) or True
            return (a is not None) if negated else (a is None)
        negated = self.eat("kw", "not")
        if self.eat("kw", "in"):
            assert self.eat("op", "(")
            values = [self.sum_()]
            while self.eat("op", ","):
                values.append(self.sum_())
            assert self.eat("op", ")")
            found = None if a is None else any(_compare("=", a, v) for v in values)
            return None if found is None else found != negated
        if self.eat("kw", "between"):
            lo = self.sum_()
            assert self.eat("kw", "and")
            hi = self.sum_()
            inside = self._and(_compare(">=", a, lo), _compare("<=", a, hi))
            return None if inside is None else inside != negated
        if self.eat("kw", "like"):
            pattern = self.sum_()
            if a is None or pattern is None:
                return None
            wild = {"%": ".*", "_": "."}
            regex = "".join(wild.get(c, re.escape(c)) for c in pattern)
            return (re.fullmatch(regex, a, re.S) is not None) != negated
        return a

    @staticmethod
    def _and(a: Any, b: Any) -> Any:
        return False if (a is False or b is False) else (None if None in (a, b) else True)

    def sum_(self) -> Any:
        a = self.prod()
        while (tok := self.peek()) in (("op", "+"), ("op", "-")):
            self.i += 1
            b = self.prod()
            a = None if a is None or b is None else (a + b if tok[1] == "+" else a - b)
        return a

    def prod(self) -> Any:
        a = self.unary()
        while (tok := self.peek()) in (("op", "*"), ("op", "/")):
            self.i += 1
            b = self.unary()
            if a is None or b is None:
                a = None
            else:
                a = a * b if tok[1] == "*" else _divide(float(a), float(b))
        return a

    def unary(self) -> Any:
        if self.eat("op", "-"):
            v = self.unary()
            return None if v is None else -v
        if self.eat("op", "("):
            v = self.or_()
            assert self.eat("op", ")")
            return v
        kind, val = self.t[self.i]
        self.i += 1
        return self.row.get(val) if kind == "name" else val


def holds(text: str, row: dict[str, Any]) -> bool:
    """Whether the condition ``text`` is true on ``row`` (unknown counts as not)."""
    ev = _Eval(text, row)
    out = ev.or_()
    assert ev.peek() is None, f"unread: {ev.t[ev.i :]}"
    return out is True
