"""One vocabulary across the command line, documented by a page generated from it."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from funnel.cli import main
from funnel.cli_reference import reference
from funnel.input.load import CANONICAL

ROOT = Path(__file__).resolve().parent.parent


def test_the_reference_page_is_the_help_of_every_command():
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == reference(), (
        "regenerate: python -m funnel.cli_reference > docs/cli.md"
    )


def _commands():
    ctx = click.Context(main)
    return {name: main.get_command(ctx, name) for name in main.list_commands(ctx)}


def test_every_option_has_help_and_every_command_an_example():
    for name, command in _commands().items():
        assert "Examples:" in (command.epilog or ""), name
        assert f"funnel {name}" in command.epilog, name
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, (name, param.opts)


def test_the_same_concept_has_the_same_flag():
    commands = _commands()
    names = {
        n: {o for p in c.params if isinstance(p, click.Option) for o in p.opts[:1]}
        for n, c in commands.items()
    }
    for n in ("analyze", "report"):
        assert "--by" in names[n]  # a breakdown
    for n in ("compare", "report"):
        assert "--arm" in names[n]  # experiment arms
    for n in ("analyze", "causes", "compare", "report"):
        assert "--spec" in names[n]
    for n in ("analyze", "compare", "report"):
        assert "--html" in names[n]
    for n in ("analyze", "causes", "compare", "validate"):
        assert "--format" in names[n]
    assert all(c in reference() for c in CANONICAL)  # --map lists them


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "sample_events/", "--by", "experiment_arm", "--bootstrap", "0", "-q"],
        ["validate", "sample_events/", "--rejects", "REJECTS", "-q"],
        ["report", "sample_events/", "-o", "OUT", "--compare-by", "experiment_arm", "-q"],
    ],
)
def test_old_spellings_still_work(tmp_path, args):
    args = [
        a.replace("REJECTS", str(tmp_path / "r.csv")).replace("OUT", str(tmp_path / "r.html"))
        for a in args
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def test_reduce_in_is_refused_without_the_spark_engine():
    result = CliRunner().invoke(main, ["analyze", "sample_events/", "--reduce-in", "spark"])
    assert result.exit_code == 2 and "--reduce-in is for --engine spark" in result.output
