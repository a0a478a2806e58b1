"""SES timestamps (ISO 8601, e.g. ``2026-10-05T14:02:03.000Z``) → Unix seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

# Bound once: a module global, not an attribute lookup per event.
_from_iso: Final = datetime.fromisoformat
_timestamp: Final = datetime.timestamp


def parse_timestamp(value: object) -> float | None:
    """Unix seconds of an ISO 8601 string, or None when it is not one; naive times are taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        # fromisoformat (3.11+) reads SES's 'Z'-suffixed millisecond form in C, far faster than strptime.
        moment = _from_iso(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return _timestamp(moment)
    except (ValueError, OverflowError):
        return None
