"""Bounded YAML reading: the work done is the document's own size, never what its aliases expand to."""

from __future__ import annotations

import pytest
import yaml

from sesmon import config_yaml


def _bomb(levels: int) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_after_walking_only_its_own_nodes() -> None:
    text = _bomb(9)  # about 280 bytes standing for 9**9 = 387 million strings
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert root is not None
    with pytest.raises(config_yaml.YamlError, match="alias bomb"):
        config_yaml.measure(root)
    # The same graph measured without a limit: every distinct node was walked once, a few dozen.
    found = config_yaml.measure(root, max_values=10**12)
    lists = [10]  # l0: the list and its nine strings; each next list: itself and nine of the previous
    for _ in range(8):
        lists.append(1 + 9 * lists[-1])
    assert found.values == 1 + sum(1 + size for size in lists)  # the root, then each key and its list
    assert found.nodes < 60


def test_a_budget_just_large_enough_admits_the_expansion() -> None:
    text = _bomb(3)
    data, found = config_yaml.load(text, max_values=10_000)
    assert len(data["l2"]) == 9
    assert all(len(item) == 9 for item in data["l2"])
    assert found.values < 10_000
    with pytest.raises(config_yaml.YamlError):
        config_yaml.load(text, max_values=found.values - 1)


def test_depth_counts_expanded_aliases() -> None:
    # Each level is shallow as written, but the aliases nest it ten deep.
    text = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 10))
    _, found = config_yaml.load(text)
    assert found.depth == 12  # the root mapping, ten lists, the scalar
    with pytest.raises(config_yaml.YamlError, match="once aliases are expanded"):
        config_yaml.load(text, max_depth=11)


def test_merge_keys_may_be_overridden_but_own_keys_not_repeated() -> None:
    data, _ = config_yaml.load("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert data["use"] == {"x": 1, "y": 3}
    with pytest.raises(config_yaml.YamlError, match=r"line 3: duplicate key 'x' \(first given at line 2\)"):
        config_yaml.load("use:\n  x: 1\n  x: 2\n")


def test_keys_that_differ_only_in_type_are_distinct() -> None:
    data, _ = config_yaml.load("1: a\n'1': b\n")
    assert data == {1: "a", "1": "b"}


def test_an_empty_document_is_none() -> None:
    assert config_yaml.load("")[0] is None
    assert config_yaml.load("# only a comment\n")[0] is None
