"""Specs written back as TOML (what the report and the notebook show), from the data a
spec was read from: tables, arrays of tables, strings, numbers, booleans and lists.

>>> print(to_toml({"name": "x", "steps": [{"event": "a"}, {"event": ["b", "c"]}]}))
name = "x"
<BLANKLINE>
[[steps]]
event = "a"
<BLANKLINE>
[[steps]]
event = ["b", "c"]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["to_toml"]


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _key(k: str) -> str:
    bare = k.replace("_", "").replace("-", "").isalnum()
    return k if bare else json.dumps(k)


def _is_tables(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, Mapping) for x in v)


def to_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """``data`` as TOML text: plain keys first, then tables, then arrays of tables."""
    lines = [
        f"{_key(k)} = {_value(v)}"
        for k, v in data.items()
        if not isinstance(v, Mapping) and not _is_tables(v)
    ]
    blocks = []
    for k, v in data.items():
        name = f"{prefix}{_key(k)}"
        if isinstance(v, Mapping):
            blocks.append(f"[{name}]\n" + to_toml(v, prefix=f"{name}.").strip())
        elif _is_tables(v):
            blocks += [f"[[{name}]]\n" + to_toml(x, prefix=f"{name}.").strip() for x in v]
    return "\n\n".join(["\n".join(lines)] * bool(lines) + blocks)
