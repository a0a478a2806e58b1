"""SQS body → envelope (SNS | EventBridge | raw) → ``SesEvent`` or a typed ``Rejection`` (pure)."""

from __future__ import annotations

from sesmon.events import reasons
from sesmon.events.addresses import (
    SIMULATOR_DOMAIN,
    invert_providers,
    is_simulator,
    normalise_address,
    provider_of,
)
from sesmon.events.envelopes import EVENTBRIDGE_DETAIL_TYPES, parse_body
from sesmon.events.reasons import CONTROL_REASONS, INVALID_REASONS
from sesmon.events.vocabulary import (
    BOUNCE_SUBTYPES,
    BOUNCE_TYPES,
    COMPLAINT_FEEDBACK_TYPES,
    COMPLAINT_SUBTYPES,
    DELAY_TYPES,
)
from sesmon.model import Rejection, SesEvent

__all__ = [
    "BOUNCE_SUBTYPES",
    "BOUNCE_TYPES",
    "COMPLAINT_FEEDBACK_TYPES",
    "COMPLAINT_SUBTYPES",
    "CONTROL_REASONS",
    "DELAY_TYPES",
    "EVENTBRIDGE_DETAIL_TYPES",
    "INVALID_REASONS",
    "SIMULATOR_DOMAIN",
    "invert_providers",
    "is_simulator",
    "normalise_address",
    "parse_message",
    "provider_of",
]


def parse_message(body: str | bytes, now: float | None = None) -> SesEvent | Rejection:
    """Parse one SQS message body into a countable ``SesEvent``, or a control/invalid ``Rejection``.

    ``now`` is the processing time (Unix seconds): an event dated more than
    ``records.MAX_FUTURE_SECONDS`` after it is invalid (``future_timestamp``). Ingestion always passes
    it; offline readers of recorded bodies (fixtures, the demo's checks) may leave it out.

    Never raises: every input maps to an outcome. The parser is written to reject bad shapes
    explicitly (fuzz-tested without this net); the net only keeps one unforeseen body from stopping
    a whole receive loop, and files it under ``bad_field``.
    """
    try:
        return parse_body(body, now)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError, RecursionError):
        return reasons.invalid(reasons.BAD_FIELD)
