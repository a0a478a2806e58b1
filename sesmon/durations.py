"""Parse and format human durations such as ``30s``, ``5m``, ``24h``, ``14d`` or ``1h30m``."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")


class DurationError(ValueError):
    """A duration string that cannot be parsed."""


def parse_duration(value: object) -> float:
    """Return the duration in seconds; accept strings with units only, so ``5`` is never ambiguous."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise DurationError(
            "invalid duration: expected a string with a unit (s, m, h, d, w), e.g. 30s, 5m, 24h, 14d"
        )
    text = value.strip()
    if not _WHOLE.match(text):
        raise DurationError(
            f"invalid duration {text!r}: use a number with a unit (ms, s, m, h, d, w), e.g. 30s, 5m, 24h, 14d"
        )
    seconds = sum(float(num) * _UNITS[unit] for num, unit in _PART.findall(text))
    if seconds <= 0:
        raise DurationError(f"invalid duration {text!r}: must be greater than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds in the largest whole unit, the inverse of :func:`parse_duration` for round values."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
