"""``report(accuracy=0.93)``: print metrics the way Katib's StdOut collector reads them."""

from __future__ import annotations

import math
import re

METRIC_NAME = re.compile(r"^[A-Za-z_][\w-]*$")
"""A name Katib's StdOut collector reads: its default filter takes word characters and '-'."""


def format_metrics(**metrics: float) -> str:
    """``name=value`` pairs, one per line (pure)."""
    lines = []
    for name, value in metrics.items():
        if not METRIC_NAME.match(name):
            raise ValueError(f"{name!r} is not a metric name Katib can read")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{name}={value}: Katib records finite numbers only")
        lines.append(f"{name}={number!r}")
    return "\n".join(lines)


def report(**metrics: float) -> None:
    """Print each metric on its own line, ``accuracy=0.93``, and flush.

    In a ``%%mlops sweep`` cell this is how a trial reports its objective;
    plain ``print(f"accuracy={accuracy}")`` does the same.
    """
    print(format_metrics(**metrics), flush=True)
