"""Stored counter keys: a JSON array of the key's parts, so no input value can shape or split a key."""

from __future__ import annotations

import orjson

# The first release joined parts with this separator; only the migration reads such keys.
LEGACY_SEPARATOR = "\x1f"


def encode_key(key: tuple[str, ...]) -> str:
    """``("events", "tx", "send")`` → ``'["events","tx","send"]'`` (one spelling per key)."""
    return orjson.dumps(list(key)).decode()


def decode_key(stored: str) -> tuple[str, ...]:
    """The inverse of :func:`encode_key`."""
    return tuple(str(part) for part in orjson.loads(stored))


def from_legacy(stored: str) -> str:
    """A first-release key (parts joined by \\x1f) in today's encoding."""
    return encode_key(tuple(stored.split(LEGACY_SEPARATOR)))
