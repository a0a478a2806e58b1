"""Process-wide registry of secret values, scrubbed from every log line and error message."""

from __future__ import annotations

import threading

MASK = "***"
_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()

# Values this short are too likely to collide with ordinary words to be masked everywhere.
_MIN_LENGTH = 4


def register(*values: str) -> None:
    """Remember secret values so :func:`redact` masks them from now on."""
    global _secrets  # noqa: PLW0603 - one registry per process, swapped atomically
    fresh = {v for v in values if len(v) >= _MIN_LENGTH}
    if not fresh:
        return
    with _lock:
        _secrets = _secrets | fresh


def redact(text: str, extra: frozenset[str] | set[str] = frozenset()) -> str:
    """Replace every registered (and every ``extra``) secret in ``text`` with ``***``."""
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(_secrets | {v for v in extra if len(v) >= _MIN_LENGTH}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def clear() -> None:
    """Forget every secret (tests only)."""
    global _secrets  # noqa: PLW0603
    with _lock:
        _secrets = frozenset()
