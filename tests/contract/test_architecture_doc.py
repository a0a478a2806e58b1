"""docs/ARCHITECTURE.md stays the map: its layout lists every module; code cites only its sections."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def layout_paths(text: str) -> set[str]:
    """The file paths of the ``sesmon/`` tree in the Layout section's code block (2 spaces a level)."""
    section = text.split("## Layout", 1)[1].split("```", 2)[1]
    paths: set[str] = set()
    stack: list[str] = []
    for line in section.splitlines():
        match = re.match(r"( *)(\S+)", line)
        if match is None:
            continue
        depth = len(match.group(1)) // 2
        name = match.group(2)
        if depth == 0 and name != "sesmon/":
            stack = []
            continue  # top-level directories beside the package
        if depth == 0:
            stack = ["sesmon"]
            continue
        if not stack:
            continue
        del stack[depth:]
        if name.endswith("/"):
            stack.append(name.rstrip("/"))
        else:
            paths.add("/".join([*stack, name]))
    return paths


def test_layout_lists_every_module_and_only_existing_ones() -> None:
    listed = layout_paths(DOC.read_text())
    actual = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sesmon").rglob("*.py")}
    assert sorted(actual - listed) == [], "modules missing from docs/ARCHITECTURE.md#layout"
    assert sorted(listed - actual) == [], "docs/ARCHITECTURE.md#layout lists modules that do not exist"


def test_the_layout_parser_reads_nesting() -> None:
    text = "## Layout\n```\nsesmon/\n  a.py   x\n  sub/\n    b.py   y\n  c.py   z\ndocs/   d\n```\n"
    assert layout_paths(text) == {"sesmon/a.py", "sesmon/sub/b.py", "sesmon/c.py"}


def test_code_and_tests_cite_the_architecture_doc_only() -> None:
    cited = [
        str(path.relative_to(ROOT))
        for folder in ("sesmon", "tests", "benchmarks", "scripts", "grafana", "deploy")
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and path.suffix in {".py", ".md", ".yaml", ".yml", ""} and path != Path(__file__)
        if "DESIGN" + ".md" in path.read_text(errors="ignore")
    ]
    assert cited == []


def test_cited_sections_exist() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", DOC.read_text(), flags=re.MULTILINE)
    }
    cited = {
        (str(path.relative_to(ROOT)), anchor)
        for folder in ("sesmon", "tests")
        for path in (ROOT / folder).rglob("*.py")
        for anchor in re.findall(r"ARCHITECTURE\.md#([a-z0-9-]+)", path.read_text())
    }
    assert sorted(c for c in cited if c[1] not in anchors) == []


def _metrics_section(text: str) -> str:
    return text.split("### Metrics", 1)[1].split("\n### ", 1)[0]


def test_the_metric_table_names_exactly_the_families_the_collectors_define() -> None:
    # Collectors (metrics/, and capabilities that keep their own) name their families with string
    # literals; an f-string name stands for its prefix.
    written = {
        match.group(2): bool(match.group(1))
        for path in (ROOT / "sesmon").rglob("*.py")
        for match in re.finditer(r'(f?)"(sesmon_[a-z0-9_{}]+)"', path.read_text())
    }
    exact = {name for name, templated in written.items() if not templated}
    prefixes = [name.split("{", 1)[0] for name, templated in written.items() if templated]
    documented = set(re.findall(r"`(sesmon_[a-z0-9_]+)`", _metrics_section(DOC.read_text())))
    # The scans found the catalogue at all.
    assert len(exact) > 30
    assert len(documented) > 30

    def defined(name: str) -> bool:
        base = name.removesuffix("_total")  # a counter family is named without it
        return name in exact or base in exact or any(name.startswith(p) for p in prefixes)

    def listed(name: str) -> bool:
        # Code may read a histogram's samples by name (``…_sum``): the family is what is listed.
        family = re.sub(r"_(sum|count|bucket)$", "", name)
        return bool({name, f"{name}_total", family} & documented)

    assert sorted(n for n in documented if not defined(n)) == [], "documented but not exported"
    assert sorted(n for n in exact if not listed(n)) == [], "exported but missing from the table"
    assert all(any(d.startswith(p) for d in documented) for p in prefixes)
