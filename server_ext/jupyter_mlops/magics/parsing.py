"""Pure parsers for what users type after ``%mlops``: distributions, objectives, ``K=V`` lists.

Each raises ``MagicInputError`` with one sentence naming the bad input and
the accepted form, which the magic shows as one line (no traceback).
"""

from __future__ import annotations

import ast
import keyword
import math
import re

from ..jobs import Parameter
from .report import METRIC_NAME


class MagicInputError(ValueError):
    """Something the user typed cannot be understood; the message says what to type instead."""


DISTRIBUTIONS = {
    "uniform": "uniform(low, high[, step])  a float drawn evenly between low and high",
    "loguniform": "loguniform(low, high)  a positive float drawn evenly on a log scale",
    "int": "int(low, high[, step])  an integer between low and high",
    "choice": "choice(a, b, ...)  one of the listed values (numbers or words)",
}
_PARAM_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([A-Za-z_]+)\s*\((.*)\)\s*$", re.S)


def parse_parameter(text: str) -> Parameter:
    """``lr=loguniform(1e-4,1e-1)`` -> the jobs API's ``Parameter``; see ``DISTRIBUTIONS``."""
    match = _PARAM_RE.match(text)
    if not match:
        raise MagicInputError(
            f"--param {text!r}: write NAME=DISTRIBUTION(ARGS), e.g. lr=loguniform(1e-4,1e-1) "
            f"or bs=choice(32,64); distributions: {', '.join(DISTRIBUTIONS)}"
        )
    name, function, raw_args = match.groups()
    if keyword.iskeyword(name):
        raise MagicInputError(f"--param {name}: a Python keyword cannot be a variable of the cell; choose another name")
    if function not in DISTRIBUTIONS:
        raise MagicInputError(
            f"--param {name}: unknown distribution {function!r}; use one of {', '.join(DISTRIBUTIONS)}"
        )
    values = [_literal(part) for part in _split_args(raw_args)]
    usage = DISTRIBUTIONS[function].split("  ")[0]
    if function == "choice":
        if not values:
            raise MagicInputError(f"--param {name}: choice() needs at least one value")
        if len(set(map(str, values))) != len(values):
            raise MagicInputError(f"--param {name}: choice() lists a value twice")
        numeric = all(_is_number(v) for v in values)
        return Parameter(name, "discrete" if numeric else "categorical", values=values)
    if (
        len(values) not in (2, 3)
        or not all(_is_number(v) for v in values)
        or (function == "loguniform" and len(values) == 3)
    ):
        raise MagicInputError(f"--param {name}: write {name}={usage} with numbers")
    low, high, *step = values
    if not low < high:
        raise MagicInputError(f"--param {name}: low ({low}) must be below high ({high})")
    if step and not step[0] > 0:
        raise MagicInputError(f"--param {name}: step must be positive")
    if function == "int":
        if not all(isinstance(v, int) for v in values):
            raise MagicInputError(f"--param {name}: int() takes whole numbers, e.g. {name}=int(1,8)")
        return Parameter(name, "int", min=low, max=high, step=step[0] if step else None)
    if function == "loguniform":
        if low <= 0:
            raise MagicInputError(f"--param {name}: loguniform() needs low > 0 (got {low})")
        return Parameter(name, "double", min=float(low), max=float(high), distribution="loguniform")
    return Parameter(
        name,
        "double",
        min=float(low),
        max=float(high),
        step=float(step[0]) if step else None,
        distribution="uniform",
    )


def log_scale(parameter: Parameter) -> Parameter:
    """A loguniform range searched as its base-10 exponent: the suggestion services the
    cluster serves ignore ``distribution`` (``mlops_contract.sweep_algorithms``), and an
    even draw of the exponent is what loguniform means."""
    if parameter.min is None or parameter.max is None:  # parse_parameter always gives both
        raise MagicInputError(f"--param {parameter.name}: loguniform() needs low and high")
    return Parameter(parameter.name, "double", min=math.log10(parameter.min), max=math.log10(parameter.max))


def parse_settings(pairs: list[str] | None) -> dict[str, str | int | float]:
    """``["random_state=42"]`` -> ``{"random_state": "42"}`` (text, as typed; typed as the
    ``Sweep`` takes them); the jobs API checks them against the algorithm's settings."""
    settings: dict[str, str | int | float] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise MagicInputError(f"--setting {pair!r}: write NAME=VALUE, e.g. --setting random_state=42")
        settings[name] = value
    return settings


def parse_objective(text: str) -> tuple[str, str]:
    """``"maximize accuracy"`` -> ``("maximize", "accuracy")``; a bare metric name maximizes."""
    words = text.split()
    aliases = {"maximize": "maximize", "max": "maximize", "minimize": "minimize", "min": "minimize"}
    if len(words) == 1 and words[0].lower() not in aliases:
        direction, metric = "maximize", words[0]
    elif len(words) == 2 and words[0].lower() in aliases:
        direction, metric = aliases[words[0].lower()], words[1]
    else:
        raise MagicInputError(
            f'--objective {text!r}: write "maximize METRIC" or "minimize METRIC", e.g. --objective "maximize accuracy"'
        )
    if not METRIC_NAME.match(metric):
        raise MagicInputError(
            f"--objective: {metric!r} is not a metric name Katib can read (letters, digits, '_', '-')"
        )
    return direction, metric


def parse_env(pairs: list[str] | None) -> dict[str, str]:
    """``["K=V", "DEBUG=1"]`` -> ``{"K": "V", "DEBUG": "1"}``; a later pair wins."""
    env: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise MagicInputError(
                f"--env {pair!r}: write NAME=VALUE with NAME made of letters, "
                "digits and '_' (e.g. --env NCCL_DEBUG=INFO)"
            )
        env[name] = value
    return env


def parse_variable(name: str) -> str:
    """``-o VAR``: a name a notebook can use afterwards (an identifier, not a keyword)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise MagicInputError(f"-o {name!r}: not a Python variable name")
    return name


def match_gpu_type(name: str, types) -> str:
    """The GPU type ``--gpu-type name`` means, among ``types`` (the availability keys).

    A full name is kept; a short one (``A100``, ``a100-sxm4``, ``V100``) stands
    for the one whole-GPU type it is a dash-separated part of. MIG slices
    (``PRODUCT/mig-…``) are not ``--gpu-type`` values. A name nothing matches
    is returned unchanged, for the GPU check to say which types exist.
    """
    whole = sorted(t for t in types if "/" not in t)
    if name in whole:
        return name
    wanted = f"-{name.lower()}-"
    matches = [t for t in whole if wanted in f"-{t.lower()}-"]
    if len(matches) > 1:
        raise MagicInputError(
            f"--gpu-type {name}: several GPU types match ({', '.join(matches)}); "
            "give the full name (%mlops gpus lists them)."
        )
    return matches[0] if matches else name


def _split_args(raw: str) -> list[str]:
    """Comma-separated arguments; quotes may protect commas in words."""
    parts, current, quote = [], "", None
    for char in raw:
        if quote:
            current += char
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            current += char
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip() or parts:
        parts.append(current)
    if any(not p.strip() for p in parts):
        raise MagicInputError(f"empty value in ({raw})")
    return [p.strip() for p in parts]


def _literal(token: str):
    """A number or quoted string as Python reads it; any other word as itself."""
    try:
        value = ast.literal_eval(token)
    except (ValueError, SyntaxError):
        return token
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    return token


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
