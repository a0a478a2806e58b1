"""Shell-style glob matching of names, one definition for config, counting, rules and routing (pure)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Final

# The characters that make a pattern a glob rather than a literal name (fnmatch's syntax).
GLOB_CHARS: Final = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    """True when ``pattern`` contains a wildcard (``*``, ``?`` or a ``[...]`` class)."""
    return not GLOB_CHARS.isdisjoint(pattern)


def matches(name: str, pattern: str) -> bool:
    """True when ``name`` matches the glob ``pattern``; case-sensitive, as AWS names are."""
    return fnmatch.fnmatchcase(name, pattern)


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    """True when ``name`` matches at least one of ``patterns``."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def literals(patterns: Iterable[str]) -> tuple[str, ...]:
    """The patterns that are plain names, not globs, in their given order."""
    return tuple(p for p in patterns if not is_glob(p))


def as_iam(pattern: str) -> str:
    """``pattern`` as an IAM resource wildcard, never narrower than the glob.

    IAM ARNs understand ``*`` and ``?`` but not ``[...]`` classes: a pattern with a class widens to ``*``.
    """
    return "*" if "[" in pattern or "]" in pattern else pattern
