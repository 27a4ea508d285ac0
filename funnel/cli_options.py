"""Command-line options and small parsers shared by the commands of :mod:`funnel.cli`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from funnel.cli_handler import usage
from funnel.durations import parse_duration
from funnel.errors import SpecError
from funnel.input.load import CANONICAL, LoadOptions
from funnel.input.presets import PRESETS
from funnel.input.validate import ValidateOptions
from funnel.outputs import check_outputs
from funnel.runners.analyze import AnalyzeOptions
from funnel.runners.local import parse_size

__all__ = [
    "EXAMPLES",
    "Renamed",
    "analyze_options",
    "arm_option",
    "by_option",
    "check_run_outputs",
    "format_option",
    "html_option",
    "input_options",
    "mapping",
    "period",
    "shares",
    "spec_option",
    "trend_option",
]


def mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r}: expected CANONICAL=COLUMN, e.g. user_id=visitor")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def parse_time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date or datetime") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _remember(ctx: click.Context, param: click.Parameter, value):
    """Keep a run option (``--memory``, ``--tmp-dir``) for :func:`analyze_options`."""
    check = {"memory": parse_size, "censor": _horizon}.get(param.name)
    if value is not None and check is not None:
        usage(check, value, param)
    if value is not None and value != ():
        ctx.meta[f"funnel.{param.name}"] = value
    return value


def _horizon(text: str) -> None:
    if text not in ("auto", "off") and parse_duration(text, key="--censor") <= 0:
        raise SpecError("--censor: the horizon must be positive", hint="off keeps every unit")


def run_option(name: str) -> Any:
    """A run option kept by ``_remember`` (None when not given)."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(f"funnel.{name}")


def _zone(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--tz``: a zone the time-zone database knows (a typo would silently read UTC)."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"{value!r} is not a time zone (e.g. UTC, Europe/Berlin, America/New_York)"
        ) from None
    return value


def analyze_options(preset, maps, tz, unit, min_time, max_time, by=(), trend="day", rejects=None):
    low, high = parse_time(min_time), parse_time(max_time)
    if low is not None and high is not None and low >= high:
        raise click.BadParameter(
            f"--min-time {min_time} is not before --max-time {max_time}", param_hint="--min-time"
        )
    validate_opts = ValidateOptions(max_time=parse_time(max_time))
    if min_time:
        validate_opts = ValidateOptions(
            min_time=parse_time(min_time), max_time=parse_time(max_time)
        )
    return AnalyzeOptions(
        load=LoadOptions(preset=preset, mapping=mapping(maps), timezone=tz, timestamp_unit=unit),
        validate=validate_opts,
        by=tuple(by),
        trend_every={"day": "1d", "week": "1w"}[trend],
        rejects_path=rejects,
        memory=run_option("memory"),
        tmp_dir=run_option("tmp_dir"),
        censor=run_option("censor") or "auto",
    )


class Renamed(click.Option):
    """An option whose later names are old spellings: still accepted, not shown in help."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        names = self.opts
        self.opts = names[:1]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = names


def html_option(f):
    return click.option(
        "--html",
        "html_out",
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="Also write a self-contained HTML report with charts (needs the report extra).",
    )(f)


def spec_option(f):
    return click.option(
        "--spec",
        "spec_path",
        type=click.Path(dir_okay=False),
        metavar="FILE",
        help="Funnel spec (TOML). Default: the built-in checkout funnel and causes.",
    )(f)


def by_option(f):
    return click.option(
        "--by",
        multiple=True,
        metavar="COLUMN",
        help="Break the funnel down by this column, its value on the unit's entry event "
        "(repeatable).",
    )(f)


def arm_option(help_text: str, old: str):
    def wrap(f):
        return click.option("--arm", old, "arm", cls=Renamed, metavar="COLUMN", help=help_text)(f)

    return wrap


def trend_option(f):
    return click.option(
        "--trend",
        type=click.Choice(["day", "week"]),
        default="day",
        show_default=True,
        help="Period of the trend table and chart (by the time units entered).",
    )(f)


def format_option(*choices: str):
    def wrap(f):
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(list(choices)),
            default="table",
            show_default=True,
            help="table: for the terminal; json: stable, for CI (docs/json.md)"
            + ("; markdown: for a pull request or a wiki." if "markdown" in choices else "."),
        )(f)

    return wrap


EXAMPLES = {
    "analyze": """Examples:

\b
  funnel analyze sample_events/
  funnel analyze events/*.parquet --by device --trend week --html report.html
  funnel analyze ga4/ --preset ga4 --format json > funnel.json
  funnel analyze s3a://shop/events/ --engine spark""",
    "causes": """Examples:

\b
  funnel causes sample_events/
  funnel causes events/ --spec checkout.toml --evidence-out evidence.csv""",
    "compare": """Examples:

\b
  funnel compare sample_events/ --arm experiment_arm
  funnel compare before/ after/ --fail-if-worse overall:1pp
  funnel compare events/ --split-at 2024-05-15 --format markdown
  funnel compare events/ --spec old.toml --other-spec new.toml""",
    "report": """Examples:

\b
  funnel report sample_events/
  funnel report events/ --by device --arm experiment_arm --html report.html""",
    "validate": """Examples:

\b
  funnel validate events/ --rejects-out rejected.csv
  funnel validate export.ndjson --preset ga4 --format json""",
    "simulate": """Examples:

\b
  funnel simulate demo/ --users 10000 --truth demo/truth.parquet""",
}


def input_options(f):
    for opt in reversed(
        [
            click.option(
                "--preset",
                type=click.Choice(sorted(PRESETS)),
                help="The export's shape (funnel/input/presets.py); default: canonical columns.",
            ),
            click.option(
                "--map",
                "maps",
                multiple=True,
                metavar="CANONICAL=COLUMN",
                help=f"Read a canonical column ({', '.join(CANONICAL)}) from COLUMN, e.g. "
                "--map user_id=visitor (repeatable).",
            ),
            click.option(
                "--tz",
                default="UTC",
                show_default=True,
                metavar="ZONE",
                callback=_zone,
                help="Zone of naive timestamps, e.g. Europe/Berlin.",
            ),
            click.option(
                "--timestamp-unit",
                "unit",
                type=click.Choice(["s", "ms", "us", "ns"]),
                help="Unit of epoch-number timestamps (inferred if all values agree).",
            ),
            click.option(
                "--min-time",
                metavar="TIME",
                help="Reject rows before this (ISO; default 2000-01-01).",
            ),
            click.option(
                "--max-time", metavar="TIME", help="Reject rows after this (ISO; default: now)."
            ),
            click.option(
                "--rejects-out",
                "--rejects",
                "rejects",
                cls=Renamed,
                type=click.Path(dir_okay=False),
                metavar="FILE",
                help="Write the rejected rows with their reason (.csv or .parquet).",
            ),
            click.option(
                "--memory",
                metavar="SIZE",
                expose_value=False,
                callback=_remember,
                help="Memory budget, e.g. 2GiB (default: half of the available memory, "
                "at most 4GiB). Larger dumps run out of core in buckets of users.",
            ),
            click.option(
                "--censor",
                metavar="HORIZON",
                expose_value=False,
                callback=_remember,
                help="Leave out as censored the units that ended within HORIZON of the end "
                "of the data (they may have gone on): auto (default: the session timeout), "
                "a duration such as 2h, or off.",
            ),
            click.option(
                "--tmp-dir",
                type=click.Path(file_okay=False, exists=True),
                expose_value=False,
                callback=_remember,
                help="Folder for the bucket files of out-of-core runs (removed afterwards).",
            ),
            click.option(
                "--engine",
                type=click.Choice(["local", "spark"]),
                envvar="FUNNEL_ENGINE",
                expose_value=False,
                callback=_remember,
                help="Where to run: this machine (default) or Spark (needs the spark extra; "
                "docs/spark.md).",
            ),
            click.option(
                "--spark-master",
                metavar="URL",
                expose_value=False,
                callback=_remember,
                help="Spark master for --engine spark (default: local[*], or the session "
                "spark-submit started).",
            ),
            click.option(
                "--spark-conf",
                metavar="KEY=VALUE",
                multiple=True,
                expose_value=False,
                callback=_remember,
                help="Spark configuration for --engine spark (repeatable).",
            ),
            click.option(
                "--reduce-in",
                type=click.Choice(["auto", "driver", "spark"]),
                expose_value=False,
                callback=_remember,
                help="With --engine spark, where the per-unit rows are reduced: auto (default: "
                "inside Spark only when they would not fit the driver's --memory), driver, or "
                "spark (the same tables; no per-unit rows in the result).",
            ),
            click.option("--quiet", "-q", is_flag=True, help="Print only the result."),
        ]
    ):
        f = opt(f)
    return f


def shares(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected shares like 50,50") from None


def period(text: str) -> tuple[str, str]:
    if ".." not in text:
        raise click.BadParameter(f"{text!r}: expected START..END, e.g. 2024-05-01..2024-05-08")
    start, end = text.split("..", 1)
    return start, end


def check_run_outputs(events, **outputs: str | None) -> None:
    """Before any work: the outputs of a command (``--html``, ``--sessions-out``, ...) may
    not touch the inputs, and their folders must take them (:func:`check_outputs`)."""
    named = {"--" + k.replace("_", "-"): v for k, v in outputs.items()}
    formats = {"--html": (".html", ".htm")}
    check_outputs(named, list(events), formats)


strict_option = click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when the spec does not fit the data (an event name that never occurs, a "
    "funnel nobody entered): for CI.",
)
