"""``funnel inspect``: what a dump holds, and a starter spec (the command alone; the work is
:func:`funnel.runners.inspect.inspect`)."""

from __future__ import annotations

from pathlib import Path

import click

from funnel.cli_handler import echo
from funnel.cli_options import analyze_options, format_option, input_options
from funnel.errors import FunnelError
from funnel.outputs import atomic_path, check_outputs
from funnel.render.progress import Progress
from funnel.render.text import format_inspection
from funnel.runners.inspect import inspect

EXAMPLES = """Examples:

\b
  funnel inspect export/
  funnel inspect events.ndjson --preset segment --spec-out checkout.toml
  funnel analyze export/ --spec checkout.toml"""


@click.command("inspect", epilog=EXAMPLES)
@click.argument("events", nargs=-1, required=True)
@format_option("table", "json")
@click.option(
    "--spec-out",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the starter spec guessed from the event names (.toml).",
)
@input_options
def inspect_cmd(events, fmt, spec_out, preset, maps, tz, unit, min_time, max_time, rejects, quiet):
    """What EVENTS hold: events with counts, columns with types and null shares, the time
    range and the ledger; and a starter checkout spec guessed from the event names (runs
    on this machine)."""
    check_outputs(
        {"--spec-out": spec_out, "--rejects-out": rejects}, list(events), {"--spec-out": (".toml",)}
    )
    opts = analyze_options(preset, maps, tz, unit, min_time, max_time, rejects=rejects)
    with Progress(f"inspecting {' '.join(events)}", quiet=quiet):
        found = inspect(list(events), opts)
    if spec_out:
        if found.starter is None:
            raise FunnelError(
                f"--spec-out {spec_out}: {found.notes[0]}",
                hint="write the spec by hand (README: Funnel specs)",
            )
        header = f"# starter spec written by funnel inspect from {' '.join(events)}: check it\n"
        with atomic_path(spec_out) as tmp:
            Path(tmp).write_text(header + found.starter.to_toml(), encoding="utf-8")
    echo(found.to_json() if fmt == "json" else format_inspection(found))
    if spec_out and not quiet:
        click.echo(f"starter spec written to {spec_out}", err=True)
