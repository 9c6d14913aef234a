"""Kubernetes resource quantities as integers.

CPU is counted in millicores, every other resource in its base unit (bytes for
memory, devices for ``nvidia.com/gpu``), rounded up as the scheduler rounds
(``Quantity.MilliValue`` / ``Quantity.Value`` both round towards +infinity).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

_SUFFIXES: dict[str, Decimal | int] = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
}

# Quantities repeat endlessly across a fleet ("1", "4Gi", "500m"): parse each
# distinct string once. Bounded so that a hostile stream cannot grow it forever.
_CACHE: dict[tuple[str, bool], int] = {}
_CACHE_LIMIT = 65536


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def _decimal(text: str) -> Decimal:
    for suffix in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"):
        if text.endswith(suffix):
            return Decimal(text[:-2]) * _SUFFIXES[suffix]
    if text[-1:] in ("n", "u", "m", "k", "M", "G", "T", "P", "E"):
        return Decimal(text[:-1]) * _SUFFIXES[text[-1]]
    return Decimal(text)  # plain or exponent form: "1", "0.5", "1e3"


def parse_quantity(value: str | int | float, milli: bool = False) -> int:
    """``"500m"`` -> 1 (or 500 with ``milli``), ``"4Gi"`` -> 4294967296.

    Raises ``QuantityError`` for text that is not a quantity.
    """
    if isinstance(value, int | float):
        value = str(value)
    key = (value, milli)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    try:
        amount = _decimal(value.strip())
    except (InvalidOperation, ValueError, IndexError) as exc:
        raise QuantityError(f"{value!r} is not a Kubernetes quantity") from exc
    if milli:
        amount *= 1000
    result = math.ceil(amount)
    if len(_CACHE) < _CACHE_LIMIT:
        _CACHE[key] = result
    return result


def resource_amount(resource: str, value: str | int | float) -> int:
    """The integer the inventory counts for ``resource``: millicores for cpu."""
    return parse_quantity(value, milli=resource == "cpu")


def format_cpu(milli: int) -> str:
    """4000 -> "4", 1500 -> "1.5" (cores, as people read them on the spawn page)."""
    return f"{milli / 1000:g}"


def format_bytes(amount: int) -> str:
    """17179869184 -> "16 GiB"; the largest binary unit that keeps one decimal at most."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if amount >= size:
            return f"{round(amount / size, 1):g} {unit}"
    return f"{amount} B"
