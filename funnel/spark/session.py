"""The Spark session funnel runs in: the active one, or a new one (local mode by default).

A new session runs its Python workers with this interpreter (so they import the same
funnel and polars), binds to the loopback address in local mode, and keeps Spark's own
output off the user's: the JVM it starts writes to a log file (:func:`spark_log_path`;
``FUNNEL_SPARK_LOG=-`` keeps it on stderr), at level ERROR (``spark.log.level=INFO`` in
``conf`` logs more), and shows no progress bars. Anything else is the usual Spark
configuration: ``master`` (``--spark-master``), ``conf`` (``--spark-conf KEY=VALUE``),
or ``spark-submit`` options, which a session started by ``spark-submit`` already has.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from funnel.errors import FunnelError, first_line

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["require_pyspark", "spark_log_path", "spark_session"]

DEFAULT_MASTER = "local[*]"


def require_pyspark() -> None:
    """Raise a :class:`FunnelError` with the install command when PySpark is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise FunnelError(
            "the Spark engine needs PySpark, which is not installed",
            hint="pip install 'checkout-funnel[spark]' (Java 17 or 21 must be on the PATH)",
        ) from None


def spark_log_path() -> str | None:
    """Where the JVM of a session started here writes its output (None: stderr)."""
    chosen = os.environ.get("FUNNEL_SPARK_LOG")
    if chosen == "-":
        return None
    return chosen or os.path.join(tempfile.gettempdir(), f"funnel-spark-{os.getpid()}.log")


@contextlib.contextmanager
def _stderr_to(path: str | None) -> Iterator[None]:
    """Point file descriptor 2 at ``path`` while the JVM starts: it inherits the file and
    writes there for good (its warnings and logs); this process gets its stderr back."""
    if path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The active Spark session when neither ``master`` nor ``conf`` is given; otherwise
    (or when there is none) a session built with them, ``local[*]`` by default."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None and not conf:
        return active
    # started by spark-submit: its JVM runs already, with the master it was given
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if master is None and not submitted:
        master = os.environ.get("FUNNEL_SPARK_MASTER") or DEFAULT_MASTER
    local = master is not None and master.startswith("local")
    # the workers run this interpreter: the same funnel, polars and pyarrow
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = {
        "spark.pyspark.python": sys.executable,
        "spark.log.level": "ERROR",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if local:
        settings |= {
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
            "spark.ui.enabled": "false",
            "spark.driver.maxResultSize": "0",  # the partials come back to this process
        }
    settings |= dict(conf or {})
    builder = SparkSession.builder.appName("funnel")
    if master is not None:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    log = None if submitted else spark_log_path()
    try:
        with _stderr_to(log):
            return builder.getOrCreate()
    except Exception as exc:  # Java missing, a bad master URL, a port in use...
        raise FunnelError(
            f"could not start Spark ({master or 'spark-submit'}): {first_line(exc)}",
            hint="check that Java 17 or 21 is installed and the --spark-master URL"
            + (f"; Spark's log: {log}" if log else ""),
        ) from exc
