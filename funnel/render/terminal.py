"""Text for the terminal: tables drawn by rich, and data made harmless to print.

Event names, file names and property values come from the data; a control character in
them (an escape sequence) must not reach the terminal, so every cell shows it as ``\\x1b``
and :func:`safe_output` does the same for whole outputs (keeping line breaks and tabs).
Tables are plain text (no colours), so they paste and pipe cleanly.

>>> escape_controls("pay\\x1b[31mment")
'pay\\\\x1b[31mment'
"""

from __future__ import annotations

import io
import re
import shutil

__all__ = ["escape_controls", "rich_table", "safe_output"]

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROLS_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _hex(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character (line breaks included) written as ``\\xNN``."""
    return _CONTROLS.sub(_hex, text)


def safe_output(text: str) -> str:
    """``text`` with control characters other than line breaks and tabs as ``\\xNN``."""
    return _CONTROLS_BUT_LINES.sub(_hex, text)


def rich_table(header: list[str], rows: list[list[str]], right: list[bool]) -> str:
    """Cells (already text) as a table with a rule under the header; ``right``: which
    columns align right (numbers).

    >>> print(rich_table(["step", "rate"], [["cart", "50.0%"]], [False, True]))
     step    rate
    ──────────────
     cart   50.0%
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=True, header_style="")
    for name, is_right in zip(header, right, strict=True):
        table.add_column(Text(escape_controls(name)), justify="right" if is_right else "left")
    for row in rows:
        table.add_row(*(Text(escape_controls(cell)) for cell in row))
    width = max(100, shutil.get_terminal_size((100, 24)).columns)
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines() if line.strip())
