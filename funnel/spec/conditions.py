"""Conditions in specs: SQL boolean expressions, as in a ``WHERE`` clause, parsed by polars.

Anything polars' SQL expression parser reads as a boolean works: comparisons (``=``,
``<>``, ``<``, ...), arithmetic, ``AND``/``OR``/``NOT``, ``IN (...)``, ``BETWEEN``,
``IS [NOT] NULL``, ``LIKE``/``ILIKE``, regular expressions (``~``, ``RLIKE``), functions
such as ``lower()`` or ``coalesce()``. Text goes in single quotes; a column whose name has a
dot or a blank goes in double quotes (``"ecommerce.shipping" > 0``).

* **Nulls as in ``WHERE``**: a comparison with a missing value is unknown (null), logic is
  three-valued (``NOT unknown`` is unknown, ``unknown OR true`` is true), and a row is kept
  only when the whole condition is true.
* **Numbers are floats**: a literal with a fraction (``0.15``) is a double, not an exact
  decimal, so arithmetic behaves the same on integer and float columns. Division by zero
  gives infinity (NaN for 0/0), which compares greater than any number; guard it
  (``value > 0 AND shipping / value > 0.1``, or ``NULLIF(value, 0)``).
* **Safe**: a condition is an expression over the row's own columns. Subqueries (the only
  way SQL could read a table or a file) are refused before polars sees the text, and the
  parsed expression is checked to hold none; nothing is evaluated as Python.

>>> df = pl.DataFrame({"payment_type": ["card", "card", None], "value": [5, 20, 30]})
>>> df.filter(parse_filter("payment_type = 'card' AND value >= 10").to_polars()).height
1
>>> sorted(parse_filter("\\"ecommerce.tax\\" / value > 0.1 OR coupon IS NULL").columns())
['coupon', 'ecommerce.tax', 'value']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from funnel.errors import SpecError, first_line

__all__ = ["Filter", "parse_filter"]

# the text's tokens that matter here: quoted text and names (skipped), words, numbers
_TOKENS = re.compile(
    r"""(?P<text>'(?:[^']|'')*')
      | (?P<quoted>"[^"]*"|`[^`]*`)
      | (?P<dotted>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<fraction>(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?)
    """,
    re.VERBOSE,
)
_EXAMPLE = "e.g. shipping + tax > 0.15 * value AND country IN ('DE', 'AT')"


@dataclass(frozen=True)
class Filter:
    """A condition of a spec: its SQL text and the spec key it came from (for messages).

    ``earlier``: names the text reads that are no column of the row but an earlier row's
    (``(name, column)``: a cause's earlier values, :mod:`funnel.spec.earlier`)."""

    text: str
    key: str = "where"
    earlier: tuple[tuple[str, str], ...] = ()

    def expression(self) -> pl.Expr:
        """The polars expression of the condition, null where SQL says unknown."""
        return pl.sql_expr(_as_doubles(self.text))

    def to_polars(self) -> pl.Expr:
        """A boolean expression that is true where the condition holds (``WHERE``)."""
        return self.expression().fill_null(False)

    def columns(self) -> set[str]:
        """Names of the columns the condition reads (of its earlier values: their columns)."""
        names = set(self.expression().meta.root_names())
        return names - {n for n, _ in self.earlier} | {c for _, c in self.earlier}

    def check(self, schema: pl.Schema | dict[str, pl.DataType]) -> None:
        """Raise a :class:`SpecError` naming the key when the condition cannot run on data
        of ``schema``: a column it lacks, types that do not compare, not a boolean."""
        names = list(schema)
        for name, _ in self.earlier:
            if name in schema:
                raise SpecError(
                    f"{self.key}: '{name}' is both a column of the data and an earlier value",
                    hint=f"give the earlier value another name than '{name}'",
                )
        missing = sorted(self.columns() - set(names))
        if missing:
            quoted = f'"{missing[0]}"' in self.text
            raise SpecError(
                f"{self.key}: column '{missing[0]}' is not in the data",
                hint=(
                    f"text goes in single quotes: '{missing[0]}'"
                    if quoted
                    else f"columns: {', '.join(names)}"
                ),
            )
        schema = {**schema, **{n: schema[c] for n, c in self.earlier}}
        try:  # on no rows: types are checked, nothing is computed
            empty = pl.LazyFrame(schema=schema).select(self.expression().alias("c")).collect()
            out = empty.schema["c"]
        except Exception as exc:  # polars' own words: "cannot compare string with ..."
            raise SpecError(
                f"{self.key}: {_short(self.text)} cannot run on this data: {first_line(exc)}",
                hint="compare text with 'quoted text' and numbers with numbers",
            ) from None
        if out not in (pl.Boolean, pl.Null):
            raise SpecError(
                f"{self.key}: {_short(self.text)} is not a condition (it gives {out})",
                hint="compare it with something, " + _EXAMPLE,
            )


MAX_LENGTH = 20_000  # characters of one condition


def _short(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _as_doubles(text: str) -> str:
    """``text`` with every number that has a fraction written as a double: polars' SQL would
    read ``0.15`` as an exact decimal, whose arithmetic differs (and fails on division by
    zero) on integer columns."""

    def swap(m: re.Match[str]) -> str:
        return f"CAST({m.group('fraction')} AS DOUBLE)" if m.group("fraction") else m.group(0)

    return _TOKENS.sub(swap, text)


def _refuse_old_style_and_subqueries(text: str, key: str) -> None:
    for m in _TOKENS.finditer(text):
        word = (m.group("word") or "").lower()
        if word in ("select", "from"):
            raise SpecError(
                f"{key}: subqueries are not allowed in a condition",
                hint="a condition reads the columns of the row itself, " + _EXAMPLE,
            )
        if m.group("dotted"):
            name = m.group("dotted")
            raise SpecError(
                f"{key}: {name} reads as table.column in SQL",
                hint=f'write a column with a dot in its name in double quotes: "{name}"',
            )


def parse_filter(text: str, *, key: str = "where") -> Filter:
    """Parse a condition such as ``"shipping > 0 AND country IN ('DE', 'AT')"``; errors
    name ``key``.

    >>> parse_filter("coupon IS NOT NULL OR NOT (total < 5)").columns() == {"coupon", "total"}
    True
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{key}: expected a condition as text", hint='e.g. where = "value > 0"')
    if len(text) > MAX_LENGTH:
        raise SpecError(
            f"{key}: a condition of {len(text):,} characters is too long (at most {MAX_LENGTH:,})",
            hint="split it, or list values with IN (...)",
        )
    _refuse_old_style_and_subqueries(text, key)
    try:
        expr = pl.sql_expr(_as_doubles(text))
        plan = expr.meta.serialize(format="json")
    except Exception as exc:  # polars' parser limits nesting itself (no RecursionError)
        raise SpecError(
            f"{key}: cannot read {_short(text)}: {first_line(exc)[:200]}", hint=_EXAMPLE
        ) from None
    if "SubPlan" in plan or "_POLARS_TMP" in plan:  # a second guard: no subquery at all
        raise SpecError(f"{key}: subqueries are not allowed in a condition", hint=_EXAMPLE)
    return Filter(text=text, key=key)
