"""The documents the notebook side's REST API exchanges, declared once.

The jobs Python API, the REST handlers, the OpenAPI document and the
sidebar's TypeScript types all take their vocabulary from here.
"""

from __future__ import annotations

PARAMETER_TYPES = ("double", "int", "categorical", "discrete")
"""Katib's parameter types: numeric ranges (double, int) or listed values."""

DISTRIBUTIONS = {
    "uniform": "uniform",
    "loguniform": "logUniform",
    "normal": "normal",
    "lognormal": "logNormal",
}
"""How a numeric parameter's values are drawn: the name users write -> Katib's
``feasibleSpace.distribution`` (the values Katib v0.19's webhook accepts). The
log ones need a positive range."""
LOG_DISTRIBUTIONS = ("loguniform", "lognormal")
