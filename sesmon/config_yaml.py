"""YAML text → plain Python with bounded work: deep nesting, alias bombs, recursive aliases and duplicate
keys are one-line errors, never a hang, a memory blow-up or a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

# A real config nests about six levels; 64 leaves room for any layout while keeping every recursive
# walk (ours, pydantic's) far from Python's recursion limit.
MAX_DEPTH: Final = 64
# Values the document stands for once every alias is expanded. A config with hundreds of targets,
# rules and sinks is a few thousand; a 283-byte "billion laughs" is 10**9.
MAX_VALUES: Final = 100_000

_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


class YamlError(Exception):
    """A document refused before or while it is built; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


@dataclass(frozen=True, slots=True)
class Measure:
    """What :func:`measure` found: distinct nodes walked (the work done), expanded values, depth."""

    nodes: int
    values: int
    depth: int


def load(text: str, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> tuple[Any, Measure]:
    """Parse one YAML document (safe tags only); raise :class:`YamlError` or ``yaml.YAMLError``."""
    loader = _Loader(text, max_depth)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, Measure(0, 0, 0)
        # Checked on the node graph, where an alias is one shared node: the cost is the document's
        # size, however far its aliases would expand.
        found = measure(root, max_depth=max_depth, max_values=max_values)
        return loader.construct_document(root), found
    finally:
        loader.dispose()


def measure(root: Node, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> Measure:
    """Expanded size and depth of a composed document, each node visited once (iteratively).

    Raises :class:`YamlError` for an alias that contains itself, for more than ``max_values``
    values after expansion, or for nesting deeper than ``max_depth`` after expansion.
    """
    done: dict[int, tuple[int, int]] = {}  # id(node) → (values, depth), capped at the limits + 1
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            values, depth = 1, 1
            for child in _children(node):
                child_values, child_depth = done[id(child)]
                values = min(values + child_values, max_values + 1)
                depth = max(depth, child_depth + 1)
            open_nodes.discard(key)
            line = node.start_mark.line + 1
            if values > max_values:
                raise YamlError(
                    f"aliases expand to more than {max_values:,} values (an alias bomb?)",
                    line,
                )
            if depth > max_depth:
                raise YamlError(f"nested deeper than {max_depth} levels once aliases are expanded", line)
            done[key] = (values, depth)
            continue
        if key in done:
            continue
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise YamlError(
                    "recursive alias: an anchor's value contains an alias to itself",
                    child.start_mark.line + 1,
                )
            if id(child) not in done:
                stack.append((child, False))
    values, depth = done[id(root)]
    return Measure(len(done), values, depth)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _Loader(yaml.SafeLoader):
    """SafeLoader that bounds nesting while composing and refuses duplicate keys while constructing."""

    def __init__(self, text: str, max_depth: int) -> None:
        super().__init__(text)
        self._max_depth = max_depth
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        # PyYAML composes recursively: without this bound, 5,000 nested brackets end in RecursionError.
        self._depth += 1
        try:
            if self._depth > self._max_depth:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise YamlError(f"nested deeper than {self._max_depth} levels", line)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Only the mapping's own keys: a key that overrides one brought in by a merge (<<) is intended.
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.get(key)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            line = key_node.start_mark.line + 1
            if seen is not None:
                raise YamlError(f"duplicate key {key!r} (first given at line {seen})", line)
            first[key] = line
        return super().construct_mapping(node, deep)
