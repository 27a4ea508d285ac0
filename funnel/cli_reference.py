"""The command-line reference (docs/cli.md), generated from the commands themselves.

    python -m funnel.cli_reference > docs/cli.md

A test regenerates it and compares, so the page cannot drift from ``--help``.
"""

from __future__ import annotations

import click

from funnel.cli import main

__all__ = ["reference"]

WIDTH = 100


def reference() -> str:
    """Every command's ``--help`` as Markdown, in the order ``funnel --help`` lists them."""
    root = click.Context(main, info_name="funnel", terminal_width=WIDTH, max_content_width=WIDTH)
    out = [
        "# Command-line reference",
        "",
        "Generated from the commands (`python -m funnel.cli_reference > docs/cli.md`); a test",
        "keeps this page equal to `--help`. The same concept has the same flag everywhere:",
        "`--by` a breakdown, `--arm` the column of experiment arms, `--spec` the funnel spec,",
        "`--format` the output format, `--html`/`--*-out FILE` files written. Exit codes: 0",
        "success, 1 an error in the input, spec or run (message and hint on stderr), 2 wrong",
        "usage, 3 `compare --fail-if-worse` tripped, 130 interrupted.",
        "",
        "```text",
        main.get_help(root),
        "```",
    ]
    for name in main.list_commands(root):
        command = main.get_command(root, name)
        assert command is not None
        ctx = click.Context(
            command, info_name=name, parent=root, terminal_width=WIDTH, max_content_width=WIDTH
        )
        out += ["", f"## funnel {name}", "", "```text", command.get_help(ctx), "```"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(reference(), end="")
