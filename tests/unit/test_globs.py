"""The one glob helper: literal names, matching, and IAM widening."""

from __future__ import annotations

import pytest

from sesmon import globs


def test_literals_are_the_non_glob_patterns_in_order() -> None:
    assert globs.literals(["tx", "mkt-*", "a?c", "[ab]x", "plain.name"]) == ("tx", "plain.name")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("tx", False), ("mkt-*", True), ("a?c", True), ("[ab]x", True), ("a.b-c_d", False)],
)
def test_is_glob(pattern: str, expected: bool) -> None:
    assert globs.is_glob(pattern) is expected


@pytest.mark.parametrize(
    ("name", "pattern", "expected"),
    [
        ("marketing", "mark*", True),
        ("Marketing", "mark*", False),  # case-sensitive, as AWS names are
        ("abc", "a?c", True),
        ("ac", "a?c", False),
        ("ax", "[ab]x", True),
        ("cx", "[ab]x", False),
        ("", "*", True),
        ("exact", "exact", True),
        ("exact", "exac", False),
    ],
)
def test_matches(name: str, pattern: str, expected: bool) -> None:
    assert globs.matches(name, pattern) is expected


def test_matches_any() -> None:
    assert globs.matches_any("tx-eu", ["mkt-*", "tx-*"])
    assert not globs.matches_any("ops", ["mkt-*", "tx-*"])
    assert not globs.matches_any("anything", [])


@pytest.mark.parametrize(
    ("pattern", "expected"), [("tx", "tx"), ("mkt-*", "mkt-*"), ("a?c", "a?c"), ("[ab]x", "*"), ("x]", "*")]
)
def test_as_iam_never_narrows(pattern: str, expected: str) -> None:
    assert globs.as_iam(pattern) == expected
