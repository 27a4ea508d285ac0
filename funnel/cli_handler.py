"""How the command line ends: output without control characters, one line per error,
and the exit codes (README, "Command line"): 0 success; 1 an error in the input, the spec
or the run (message and hint on stderr); 2 wrong usage (click); 3 ``compare
--fail-if-worse`` tripped; 130 interrupted (Ctrl-C)."""

from __future__ import annotations

import click

from funnel.errors import FunnelError, first_line
from funnel.render.terminal import safe_output

__all__ = ["EXIT_INTERRUPTED", "EXIT_WORSE", "Commands", "check_notes", "echo", "usage"]

EXIT_WORSE = 3
EXIT_INTERRUPTED = 130


def usage(parse, value, param: click.Parameter):
    """``parse(value)``, with a funnel error turned into a usage error of ``param`` (exit 2)."""
    try:
        return parse(value)
    except FunnelError as exc:
        raise click.BadParameter(str(exc), param=param) from None


def echo(text: str, *, err: bool = False) -> None:
    """Print output whose text comes partly from the data: no control character reaches
    the terminal (:func:`funnel.render.terminal.safe_output`)."""
    click.echo(safe_output(text), err=err)


class Commands(click.Group):
    """The top-level handler: a funnel error is one line and its hint (exit 1), Ctrl-C exits
    130, and anything unexpected is one line asking for a report, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, click.Abort):
            echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except FunnelError as exc:
            echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except (click.ClickException, click.exceptions.Exit):
            raise
        except Exception as exc:  # a bug: say so in one line, never a traceback
            echo(
                f"error: unexpected {type(exc).__name__}: {first_line(exc, '')} (hint: this is a "
                "bug in funnel; please report it with the command you ran)",
                err=True,
            )
            ctx.exit(1)


def check_notes(notes: tuple[str, ...], *, quiet: bool, strict: bool) -> None:
    """Print the result's notes on the spec and the data to stderr; with ``--strict``,
    any note is an error (exit 1)."""
    if not quiet:
        for note in notes:
            click.echo(f"note: {note}", err=True)
    if strict and notes:
        raise FunnelError(
            f"--strict: {len(notes)} note{'s' if len(notes) > 1 else ''} on the spec and the "
            f"data; the first: {notes[0]}",
            hint="fix the spec (or the data), or run without --strict",
        )
