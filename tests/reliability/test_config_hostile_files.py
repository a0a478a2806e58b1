"""Hostile config files through the real command line: one line naming the problem, exit 2, bounded work.

Each run is capped in memory and CPU time by the kernel (RLIMIT_AS, RLIMIT_CPU): a file that made the
loader expand or recurse without bound would be killed there and fail the test, not pass it slowly.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import environment_without_aws

TARGET = "targets:\n  - name: prod\n    region: us-east-1\n"
MEMORY_CAP = 1 << 30  # bytes of address space; the 283-byte alias bomb once took 1.28 GB
CPU_CAP = 30  # seconds of CPU; it once ran past 120 s


def _bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


CASES = [
    (
        "alias-bomb",
        _bomb(),
        "invalid YAML at line 6: aliases expand to more than 100,000 values (an alias bomb?)",
    ),
    (
        "recursive-alias",
        "targets: &t\n  - name: prod\n    region: us-east-1\n    children: *t\n",
        "invalid YAML at line 1: recursive alias: an anchor's value contains an alias to itself",
    ),
    (
        "deep-nesting",
        "targets: " + "[" * 5000 + "]" * 5000 + "\n",
        "invalid YAML at line 1: nested deeper than 64 levels",
    ),
    (
        "deep-mappings",
        "targets:\n" + "".join("  " * i + f"  k{i}:\n" for i in range(5000)),
        "invalid YAML at line 64: nested deeper than 64 levels",
    ),
    (
        "duplicate-key",
        TARGET + "    region: eu-west-1\n",
        "invalid YAML at line 4: duplicate key 'region' (first given at line 3)",
    ),
    (
        "percent-threshold",
        TARGET + "alerts:\n  rules:\n    - {name: BounceHigh, signal: bounce_rate, window: 1h, warning: 5}\n",
        "alerts.rules[0].warning: 5 is outside [0, 1]: thresholds are fractions, 0.05 means 5%",
    ),
    (
        "empty-sqs",
        TARGET + "    sqs:\n",
        "targets[0].sqs: is empty: give queue_url, or remove the sqs key to not read events",
    ),
]


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_CAP, CPU_CAP))


@pytest.mark.parametrize("command", [["check-config"], ["run", "--config"]], ids=["check-config", "run"])
@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_config_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str], text: str, expected: str
) -> None:
    path = tmp_path / "sesmon.yaml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "sesmon.cli", *command, str(path)],
        capture_output=True,
        text=True,
        env=environment_without_aws(),
        preexec_fn=_capped,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stdout == ""
    assert result.stderr == f"{path}: {expected}\n"
