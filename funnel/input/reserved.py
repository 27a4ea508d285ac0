"""The engine's own column names, and how a data column with such a name is kept apart.

The engine names its own columns ``_...`` (:data:`RESERVED`) and the time of each step
``at_<step>``. A data column whose name starts with ``_`` or ``at_`` is read as
``data:<name>`` (:func:`escape`): the readers rename it on the way in, so it never meets
one of the engine's columns, and the outputs that show data columns (``--sessions-out``,
the breakdown, ``--rejects-out``) give it its own name back (:func:`restore`). A spec
refers to it as ``data:<name>``; ``--by`` takes either name. A ``--by`` column named like a
column of the per-session table (``converted``, ``exit_step``...) is carried as
``data:<name>`` too, and keeps that name in the session table, beside the engine's.
"""

from __future__ import annotations

import re
from typing import TypeVar

import polars as pl

from funnel.errors import SchemaError

__all__ = [
    "DATA_PREFIX",
    "RESERVED",
    "RESULT_COLUMNS",
    "by_columns",
    "check_names",
    "escape",
    "is_reserved",
    "restore",
    "units_column",
]

DATA_PREFIX = "data:"

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

# the engine's own column names (engine/, causes/, runners/, input/text.py)
RESERVED = frozenset(
    "_bucket _ch _cm _code _collision _conv _detail _dup _entry _event _exit_end _exit_sid "
    "_file _first _furthest _g _gend _gfirst _gstart _i _k _key _last _mask _names _new _p "
    "_pany _pe _pos _priority _read _reject _se _seen _session_end _session_start _sid "
    "_step_total _stepidx _t_entry _timestamp_raw _uh _unit _units _user _v _value _vs "
    "_bad _before _blank _cum _end _fields _inside _line _malformed _ok _row _seps _start "
    "_text _decided_at _exit_row _specific _min_count _ci _step _bits".split()
)
_RESERVED_NUMBERED = re.compile(r"^_(c|e|l|m|n|p|r|s|t|ts|x|exposed|matched|exit_end|exit_sid)\d+$")

# columns of the per-session table (FunnelResult.units) beside the --by columns
RESULT_COLUMNS = frozenset(
    "user_id session_id entry_step furthest_step steps_reached converted exit_step "
    "entered_at time_to_convert_s time_at_exit_s primary_cause causes cart_value".split()
)


def is_reserved(name: str) -> bool:
    """Whether a name is one of the engine's own (:data:`RESERVED`, or one of its numbered
    families such as ``_c0``); every one starts with ``_``, so no data column keeps it.

    >>> is_reserved("_k"), is_reserved("_c12"), is_reserved("_ltv_USD"), is_reserved("price")
    (True, True, False, False)
    """
    return name in RESERVED or bool(_RESERVED_NUMBERED.match(name))


def escape(name: str) -> str:
    """The name a data column is read under: ``data:<name>`` when it starts with ``_`` or
    ``at_`` (the engine's own names), otherwise itself.

    >>> escape("_k"), escape("at_home"), escape("device"), escape("data:_k")
    ('data:_k', 'data:at_home', 'device', 'data:_k')
    """
    return DATA_PREFIX + name if name.startswith(("_", "at_")) else name


def restore(frame: Frame) -> Frame:
    """``frame`` (eager or lazy) with each ``data:<name>`` column under its own name again,
    where the frame has no column of that name.

    >>> frame = pl.DataFrame({"data:_k": [1], "data:converted": [1], "converted": [0]})
    >>> restore(frame).columns
    ['_k', 'data:converted', 'converted']
    """
    columns = frame.collect_schema().names()
    names = set(columns)
    back = {c: c.removeprefix(DATA_PREFIX) for c in columns if c.startswith(DATA_PREFIX)}
    return frame.rename({c: n for c, n in back.items() if n not in names})


def by_columns(by: tuple[str, ...], names: frozenset[str] | set[str]) -> dict[str, str]:
    """``--by`` columns as the engine carries them -> the data column each is read from: a
    name the reader escaped is found under either name; a name of the per-session table is
    carried as ``data:<name>``.

    >>> by_columns(("_seg", "converted", "device"), {"data:_seg", "converted", "device"})
    {'data:_seg': 'data:_seg', 'data:converted': 'converted', 'device': 'device'}
    """
    out = {}
    for b in by:
        if b in RESULT_COLUMNS and b in names:
            out[DATA_PREFIX + b] = b
        elif escape(b) in names:
            out[escape(b)] = escape(b)
        else:
            out[b] = b
    return out


def check_names(where: str, names: list[str]) -> None:
    """Refuse two data columns that would be read under one name (:func:`escape`).

    >>> check_names("e.csv", ["user_id", "_k", "data:_k"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    funnel.errors.SchemaError: e.csv: columns '_k' and 'data:_k' would have one name, ...
    """
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(escape(name), name)
        if other != name:
            raise SchemaError(
                f"{where}: columns '{other}' and '{name}' would have one name, "
                f"'{escape(name)}' (funnel reads a column named _... or at_... as data:...)",
                hint="rename one of them in the data before the analysis",
            )


def units_column(columns: list[str], name: str) -> str:
    """The column of the session table that holds ``--by`` column ``name``: its
    ``data:<name>`` when the table has one (a name the table uses itself), else ``name``.

    >>> units_column(["converted", "data:converted"], "converted"), units_column(["_k"], "_k")
    ('data:converted', '_k')
    """
    return DATA_PREFIX + name if DATA_PREFIX + name in columns else name
