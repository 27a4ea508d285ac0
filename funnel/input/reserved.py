"""The engine's own column names, which a data column may not have."""

from __future__ import annotations

import re

from funnel.errors import SchemaError

__all__ = ["RESERVED", "check_names", "is_reserved"]

# the engine's own column names (engine/, causes/, runners/); a data column may not use them
RESERVED = frozenset(
    "_bucket _ch _cm _code _collision _conv _detail _dup _entry _event _exit_end _exit_sid "
    "_file _first _furthest _g _gend _gfirst _gstart _i _k _key _last _mask _names _new _p "
    "_pany _pe _pos _priority _read _reject _se _seen _session_end _session_start _sid "
    "_step_total _stepidx _t_entry _timestamp_raw _uh _unit _units _user _v _value _vs "
    # reading text files (funnel.input.text)
    "_bad _before _blank _cum _end _fields _inside _line _malformed _ok _row _seps _start "
    "_text".split()
)
_RESERVED_NUMBERED = re.compile(r"^_(c|e|l|m|n|p|r|s|ts|x|exit_end|exit_sid)\d+$")


def is_reserved(name: str) -> bool:
    """Whether a data column's name is one of the engine's own (:data:`RESERVED`, or one of
    its numbered families such as ``_c0``).

    >>> is_reserved("_k"), is_reserved("_c12"), is_reserved("_ltv_USD"), is_reserved("price")
    (True, True, False, False)
    """
    return name in RESERVED or bool(_RESERVED_NUMBERED.match(name))


def check_names(where: str, names: list[str]) -> None:
    """Refuse data columns named like one of the engine's own, naming ``where`` they are.

    >>> check_names("e.csv", ["user_id", "_line"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    funnel.errors.SchemaError: e.csv: column '_line' has the name of one of funnel's own ...
    """
    reserved = [c for c in names if is_reserved(c)]
    if reserved:  # a data column would be overwritten by one of the engine's own
        raise SchemaError(
            f"{where}: column '{reserved[0]}' has the name of one of funnel's own columns",
            hint="rename the column in the data (or drop it) before the analysis",
        )
