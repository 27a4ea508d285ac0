"""Which engine a command runs (``--engine``, ``--reduce-in``): the local one, or Spark's."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from funnel.cli_options import mapping, run_option
from funnel.runners.analyze import analyze, validate
from funnel.runners.compare import compare

__all__ = ["Engine", "engine"]


@dataclass(frozen=True)
class Engine:
    """The functions a command runs: the local engine's, or Spark's (``--engine``)."""

    analyze: Callable[..., Any]
    validate: Callable[..., Any]
    compare: Callable[..., Any]


def _needs_units(ctx: click.Context) -> str | None:
    """The option of this command that reads the per-unit rows, if any: they must reach
    the driver, so Spark's reduce stays there."""
    given = ctx.params
    if ctx.command.name == "compare":
        return "compare"
    for key, flag in (
        ("sessions_out", "--sessions-out"),
        ("evidence_out", "--evidence-out"),
        ("arm", "--compare-by"),
    ):
        if given.get(key):
            return flag
    if given.get("by") and (given.get("html_out") or ctx.command.name == "report"):
        return "the HTML report's breakdown charts (--by)"
    return None


def engine() -> Engine:
    """The engine of ``--engine`` (local by default); Spark's starts its session here, and
    reduces where ``--reduce-in`` says (auto: inside Spark only when the per-unit rows
    would not fit the driver, and never when the command reads them)."""
    where = run_option("reduce_in")
    if run_option("engine") != "spark":
        if where is not None:
            raise click.UsageError("--reduce-in is for --engine spark")
        return Engine(analyze=analyze, validate=validate, compare=compare)
    ctx = click.get_current_context()
    needs_units = _needs_units(ctx)
    if needs_units and where == "spark":
        raise click.UsageError(
            f"{needs_units} needs the per-unit rows, which --reduce-in spark leaves in Spark: "
            "leave out one of them"
        )
    import funnel.spark as on_spark

    conf = mapping(tuple(run_option("spark_conf") or ()))
    session = on_spark.spark_session(run_option("spark_master"), conf)
    quiet = ctx.params.get("quiet", False)
    return Engine(
        analyze=functools.partial(
            on_spark.analyze,
            spark=session,
            reduce_in="driver" if needs_units else where or "auto",
            told=None if quiet else (lambda text: click.echo(f"note: {text}", err=True)),
        ),
        validate=functools.partial(on_spark.validate, spark=session),
        compare=functools.partial(on_spark.compare, spark=session),
    )
