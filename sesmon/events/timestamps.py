"""SES timestamps (ISO 8601, e.g. ``2026-10-05T14:02:03.000Z``) → Unix seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_timestamp(value: object) -> float | None:
    """Unix seconds of an ISO 8601 string, or None when it is not one; naive times are taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        # fromisoformat (3.11+) reads SES's 'Z'-suffixed millisecond form in C, far faster than strptime.
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):
        return None
