"""What a dump holds, before any funnel: events, columns, time range, and a starter spec."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from funnel.results.ledger import Ledger
from funnel.results.records import clean, frame_records, html_table
from funnel.spec.funnel_spec import FunnelSpec

__all__ = ["Inspection"]


@dataclass(frozen=True)
class Inspection:
    """What :func:`funnel.inspect` found in a dump.

    Attributes
    ----------
    events : ``event``, ``rows``, ``share`` (of used rows), ``users``, most frequent first
    columns : ``column``, ``dtype``, ``null_share`` (of used rows), ``distinct``
    summary : ``rows`` not rejected (exact duplicates included), ``users``, the ``first`` and
        ``last`` timestamp (UTC, ISO text)
    ledger : where every input row went
    starter : a checkout funnel guessed from the event names, or None (``notes`` says why)
    notes : what the guess rests on
    """

    events: pl.DataFrame
    columns: pl.DataFrame
    summary: dict[str, Any]
    ledger: Ledger
    starter: FunnelSpec | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": clean(self.summary),
            "events": frame_records(self.events),
            "columns": frame_records(self.columns),
            "ledger": self.ledger.to_dict(),
            "starter_spec": self.starter.to_dict() if self.starter is not None else None,
            "notes": list(self.notes),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Stable JSON (keys in a fixed order)."""
        return json.dumps(self.to_dict(), indent=indent)

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"Inspection({s['rows']:,} valid rows, {self.events.height} events, "
            f"{self.columns.height} columns, {s['first']} .. {s['last']})"
        )

    def _repr_html_(self) -> str:
        parts = [f"<div><strong>{html.escape(repr(self))}</strong>"]
        parts.append(html_table(self.events, "Events", max_rows=30))
        parts.append(html_table(self.columns, "Columns", max_rows=60))
        parts += [f"<p>note: {html.escape(n)}</p>" for n in self.notes]
        if self.starter is not None:
            parts.append(f"<h4>Starter spec</h4><pre>{html.escape(self.starter.to_toml())}</pre>")
        return "".join(parts) + "</div>"
