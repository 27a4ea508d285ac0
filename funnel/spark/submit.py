"""The file to give ``spark-submit``: the funnel command line on Spark.

    spark-submit --master yarn "$(python -m funnel.spark.submit --path)" \\
        analyze s3://shop/events/2024-05/ --format json

Runs :func:`funnel.cli.main` with ``--engine spark`` as the default engine, inside the
session ``spark-submit`` started (its master and configuration). ``python -m
funnel.spark.submit --path`` prints where this file is.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.argv[1:] == ["--path"]:
        print(os.path.abspath(__file__))
        return
    os.environ.setdefault("FUNNEL_ENGINE", "spark")
    from funnel.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
